/** Publisher key pairs (Ed25519, via @noble/ed25519) and their on-disk form. */
import * as ed from '@noble/ed25519'
import { open, readFile, stat } from 'node:fs/promises'
import { KeyFileError, UsageError } from '../util/errors.ts'

const PREFIX = 'ed25519:'

/** A publisher's key pair. */
export interface KeyPair {
  secretKey: Uint8Array
  publicKey: Uint8Array
}

/** A fresh random key pair. */
export async function generateKey (): Promise<KeyPair> {
  const secretKey = ed.utils.randomSecretKey()
  return { secretKey, publicKey: await ed.getPublicKeyAsync(secretKey) }
}

/** The text form of a public key: `ed25519:` and 64 hex characters. */
export function formatPublicKey (publicKey: Uint8Array): string {
  return PREFIX + Buffer.from(publicKey).toString('hex')
}

/** Parse `ed25519:<64 hex>` into the 32 key bytes. */
export function parsePublicKey (text: string): Uint8Array {
  const hex = text.trim().startsWith(PREFIX) ? text.trim().slice(PREFIX.length) : ''
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new UsageError(`not a public key: ${JSON.stringify(text.slice(0, 80))} (expected "ed25519:" followed by 64 lowercase hex characters)`)
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** Sign bytes with a secret key. */
export async function sign (message: Uint8Array, secretKey: Uint8Array): Promise<Uint8Array> {
  return await ed.signAsync(message, secretKey)
}

/** Whether `signature` is a valid signature of `message` by `publicKey` (false, never a throw, for a bad one). */
export async function verify (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  try {
    return await ed.verifyAsync(signature, message, publicKey)
  } catch {
    return false
  }
}

interface KeyFile { type: 'ed25519', publicKey: string, secretKey: string }

/** Write a key pair to a new file only its owner can read; refuses to overwrite. */
export async function writeKeyFile (path: string, key: KeyPair): Promise<void> {
  const body: KeyFile = { type: 'ed25519', publicKey: formatPublicKey(key.publicKey), secretKey: Buffer.from(key.secretKey).toString('hex') }
  let handle
  try {
    handle = await open(path, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(`${path} already exists: choose another --out, or delete it first if you really mean to replace that key`)
    throw new KeyFileError(`cannot create ${path}: ${(err as Error).message}`)
  }
  try {
    await handle.writeFile(JSON.stringify(body, null, 2) + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Read a key file, refusing one that others can read (like ssh does) or whose halves disagree. */
export async function readKeyFile (path: string): Promise<KeyPair> {
  let text: string
  try {
    const info = await stat(path)
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new KeyFileError(`${path} is readable by other users: run "chmod 600 ${path}"`)
    }
    text = await readFile(path, 'utf8')
  } catch (err) {
    if (err instanceof KeyFileError) throw err
    throw new KeyFileError(`cannot read key file ${path}: ${(err as Error).message}`)
  }
  let body: Partial<KeyFile>
  try {
    body = JSON.parse(text) as Partial<KeyFile>
  } catch {
    throw new KeyFileError(`${path} is not a mirrormesh key file (not JSON)`)
  }
  if (body.type !== 'ed25519' || typeof body.secretKey !== 'string' || !/^[0-9a-f]{64}$/.test(body.secretKey) || typeof body.publicKey !== 'string') {
    throw new KeyFileError(`${path} is not a mirrormesh key file (create one with "mirrormesh key new --out FILE")`)
  }
  const secretKey = Uint8Array.from(Buffer.from(body.secretKey, 'hex'))
  const publicKey = await ed.getPublicKeyAsync(secretKey)
  if (formatPublicKey(publicKey) !== body.publicKey) throw new KeyFileError(`${path} is corrupt: its public key does not match its secret key`)
  return { secretKey, publicKey }
}
