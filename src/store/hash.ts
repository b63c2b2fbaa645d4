/** Streaming sha256 of files and byte streams, yielding blob CIDs. */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import type { CID } from './cid.ts'
import { cidFromSha256 } from './cid.ts'

/** Blobs are verified and shared in chunks of this size (the last one may be shorter). */
export const CHUNK_SIZE = 4 << 20

/** Hashes a stream as a whole and chunk by chunk. */
export class ChunkedHasher {
  readonly #whole = createHash('sha256')
  #chunk = createHash('sha256')
  #inChunk = 0
  readonly #digests: Buffer[] = []
  size = 0

  update (data: Uint8Array): void {
    this.#whole.update(data)
    this.size += data.length
    let offset = 0
    while (offset < data.length) {
      const take = Math.min(CHUNK_SIZE - this.#inChunk, data.length - offset)
      this.#chunk.update(data.subarray(offset, offset + take))
      this.#inChunk += take
      offset += take
      if (this.#inChunk === CHUNK_SIZE) {
        this.#digests.push(this.#chunk.digest())
        this.#chunk = createHash('sha256')
        this.#inChunk = 0
      }
    }
  }

  /** The CID, and the chunk digests when there is more than one chunk. */
  digest (): { cid: CID, size: number, chunks?: Uint8Array } {
    if (this.#inChunk > 0) this.#digests.push(this.#chunk.digest())
    const cid = cidFromSha256(this.#whole.digest())
    return this.#digests.length > 1 ? { cid, size: this.size, chunks: Buffer.concat(this.#digests) } : { cid, size: this.size }
  }
}

/** CID, size and chunk digests of a file, hashed as a stream. */
export async function hashFile (path: string, signal?: AbortSignal): Promise<{ cid: CID, size: number, chunks?: Uint8Array }> {
  const hasher = new ChunkedHasher()
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) hasher.update(chunk as Buffer)
  return hasher.digest()
}

/** Chunk digests of in-memory bytes (undefined when they fit in one chunk). */
export function chunksOfBytes (bytes: Uint8Array): Uint8Array | undefined {
  const hasher = new ChunkedHasher()
  hasher.update(bytes)
  return hasher.digest().chunks
}

/** The sha256 of chunk `index` in a chunk digest list. */
export function chunkDigest (chunks: Uint8Array, index: number): Uint8Array {
  return chunks.subarray(index * 32, index * 32 + 32)
}

/** How many chunks a blob of `size` bytes has. */
export function chunkCount (size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_SIZE))
}
