/** Stream sinks that hash without keeping anything: for verification of bytes already held or checked offline. */
import { Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { CID } from './cid.ts'
import { sameCid } from './cid.ts'
import { HashingStream } from './blob-store.ts'
import { IntegrityError } from '../util/errors.ts'

/** Consume a stream, checking that it hashes to `cid` and has `size` bytes. */
export async function verifyStream (source: Readable | AsyncIterable<Uint8Array>, cid: CID, size: number): Promise<void> {
  const hasher = new HashingStream(size)
  await pipeline(source, hasher, new Writable({ write: (_chunk, _enc, callback) => callback() }))
  if (hasher.bytes !== size) throw new IntegrityError(`expected ${size} bytes, got ${hasher.bytes}`)
  const actual = hasher.cid()
  if (!sameCid(actual, cid)) throw new IntegrityError(`content hashes to ${actual.toString()}, expected ${cid.toString()}`)
}
