/**
 * Signed heads (spec: protocols/head/README.md). A head names a publisher's catalog root at a
 * sequence number. Its canonical bytes are the dag-cbor encoding of
 *   { publisher: bytes(32), seq: uint, parent: CID | null, root: CID | null, time: uint (ms) }
 * and the signature covers DOMAIN || those bytes. On the wire: dag-cbor { head: bytes, sig: bytes(64) }.
 */
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from '../store/cid.ts'
import { CID as CIDClass, DAG_CBOR, cidOfBytes } from '../store/cid.ts'
import { IntegrityError, SignatureError } from '../util/errors.ts'
import { formatPublicKey, sign, verify, type KeyPair } from './keys.ts'

/** Signature domain separation: a head signature can never be mistaken for another message's. */
export const HEAD_DOMAIN = new TextEncoder().encode('mirrormesh/head/v1\n')
/** Largest signed head accepted. */
export const MAX_HEAD_BYTES = 1024

/** The content of a head. */
export interface Head {
  /** `ed25519:<hex>` */
  publisher: string
  seq: number
  /** The head this one follows, or null for a publisher's first. */
  parent: CID | null
  /** The catalog root, or null for an empty catalog. */
  root: CID | null
  /** Milliseconds since the epoch, by the publisher's clock. */
  time: number
}

/** A head with a verified signature, as held and sent. */
export interface SignedHead extends Head {
  /** CID of the canonical head bytes: names this head (a child's `parent`). */
  cid: CID
  /** The wire form: dag-cbor { head, sig }. */
  bytes: Uint8Array
}

function canonical (head: Head): Uint8Array {
  return dagCbor.encode({
    publisher: Buffer.from(head.publisher.slice('ed25519:'.length), 'hex'),
    seq: head.seq,
    parent: head.parent,
    root: head.root,
    time: head.time
  })
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** Sign a head with the publisher's key (the key decides `publisher`). */
export async function signHead (head: Omit<Head, 'publisher'>, key: KeyPair): Promise<SignedHead> {
  if (!Number.isSafeInteger(head.seq) || head.seq < 1) throw new TypeError('seq must be a positive integer')
  const full: Head = { ...head, publisher: formatPublicKey(key.publicKey) }
  const headBytes = canonical(full)
  const sig = await sign(concat(HEAD_DOMAIN, headBytes), key.secretKey)
  return { ...full, cid: cidOfBytes(headBytes, DAG_CBOR), bytes: dagCbor.encode({ head: headBytes, sig }) }
}

/** Decode a signed head and verify its signature against the publisher it names. */
export async function openSignedHead (bytes: Uint8Array): Promise<SignedHead> {
  if (bytes.length > MAX_HEAD_BYTES) throw new IntegrityError(`signed head is larger than ${MAX_HEAD_BYTES} bytes`)
  const envelope = decodeStrict(bytes, 'signed head')
  if (!isRecord(envelope) || !(envelope.head instanceof Uint8Array) || !(envelope.sig instanceof Uint8Array) ||
      envelope.sig.length !== 64 || Object.keys(envelope).length !== 2) {
    throw new IntegrityError('signed head is malformed: expected { head: bytes, sig: bytes(64) }')
  }
  const value = decodeStrict(envelope.head, 'head')
  if (!isRecord(value) || Object.keys(value).length !== 5) throw new IntegrityError('head is malformed: expected 5 fields')
  const { publisher, seq, parent, root, time } = value
  if (!(publisher instanceof Uint8Array) || publisher.length !== 32) throw new IntegrityError('head publisher must be 32 bytes')
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new IntegrityError('head seq must be a positive integer')
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0) throw new IntegrityError('head time must be a non-negative integer')
  const head: Head = { publisher: formatPublicKey(publisher), seq, time, parent: nodeLink(parent, 'parent'), root: nodeLink(root, 'root') }
  if (!await verify(envelope.sig, concat(HEAD_DOMAIN, envelope.head), publisher)) {
    throw new SignatureError(`head ${seq} of ${head.publisher} has a bad signature: it was altered or not signed by that key`)
  }
  return { ...head, cid: cidOfBytes(envelope.head, DAG_CBOR), bytes }
}

function nodeLink (value: unknown, field: string): CID | null {
  if (value === null) return null
  const cid = CIDClass.asCID(value)
  if (cid === null || cid.version !== 1 || cid.code !== DAG_CBOR || cid.multihash.code !== 0x12) {
    throw new IntegrityError(`head ${field} must be a dag-cbor sha2-256 CID or null`)
  }
  return cid
}

/** Decode dag-cbor and insist the bytes are the canonical encoding (one head, one byte string). */
function decodeStrict (bytes: Uint8Array, what: string): unknown {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new IntegrityError(`${what} is not valid dag-cbor`, { cause: err })
  }
  if (!Buffer.from(dagCbor.encode(value)).equals(bytes)) throw new IntegrityError(`${what} is not canonically encoded`)
  return value
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}
