/** Stream sinks that hash without keeping anything: for verification of bytes already held or checked offline. */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { CID } from './cid.ts'
import { cidFromSha256, sameCid } from './cid.ts'
import { IntegrityError } from '../util/errors.ts'

/**
 * Consume a stream, checking that it hashes to `cid` and has `size` bytes. Chunks are hashed as
 * they come (no intermediate streams), so a source may reuse its buffers between chunks.
 */
export async function verifyStream (source: Readable | AsyncIterable<Uint8Array>, cid: CID, size: number): Promise<void> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    bytes += chunk.length
    if (bytes > size) throw new IntegrityError(`more bytes than the ${size} expected`)
    hash.update(chunk)
  }
  if (bytes !== size) throw new IntegrityError(`expected ${size} bytes, got ${bytes}`)
  const actual = cidFromSha256(hash.digest())
  if (!sameCid(actual, cid)) throw new IntegrityError(`content hashes to ${actual.toString()}, expected ${cid.toString()}`)
}
