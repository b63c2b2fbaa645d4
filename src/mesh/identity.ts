/** The node's persistent libp2p identity (`<home>/peer.key`) and the private-swarm key file. */
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { generateKey as generateSwarmKey } from '@libp2p/pnet'
import { KeyFileError } from '../util/errors.ts'

/** Load the peer key of a home, creating it (mode 600) on first start. */
export async function loadPeerKey (home: string): Promise<PrivateKey> {
  const file = join(home, 'peer.key')
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyFileError(`${file} is not a libp2p private key: move it away to let mirrormesh create a new peer identity`, { cause: err })
  }
  const key = await generateKeyPair('Ed25519')
  const handle = await open(file, 'wx', 0o600)
  try {
    await handle.writeFile(privateKeyToProtobuf(key))
    await handle.sync()
  } finally {
    await handle.close()
  }
  return key
}

/** Read a swarm key file (the go-ipfs/libp2p `/key/swarm/psk/1.0.0/` format). */
export async function readSwarmKey (file: string): Promise<Uint8Array> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    throw new KeyFileError(`cannot read swarm key ${file}: ${(err as Error).message}`)
  }
  const lines = bytes.toString('utf8').split(/\r?\n/)
  if (lines[0] !== '/key/swarm/psk/1.0.0/' || lines[1] !== '/base16/' || !/^[0-9a-f]{64}$/i.test(lines[2] ?? '')) {
    throw new KeyFileError(`${file} is not a swarm key (create one with "mirrormesh key swarm --out FILE")`)
  }
  return bytes
}

/** A new swarm key file's bytes. */
export function newSwarmKey (): Uint8Array {
  const key = new Uint8Array(95)
  generateSwarmKey(key)
  return key
}
