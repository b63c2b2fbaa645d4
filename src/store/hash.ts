/** Streaming sha256 of files and byte streams, yielding blob CIDs. */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { CID } from './cid.ts'
import { cidFromSha256 } from './cid.ts'

/**
 * Blobs are verified and shared in chunks of this size (the last one may be shorter). A peer can
 * pass a chunk on only once it holds all of it, so a chunk's time on the link is the swarm's step:
 * with 4 MiB chunks a 20-node fleet on 2 MiB/s links took 1.88x as long as one node alone, with
 * 1 MiB chunks 1.49x (docs/performance.md).
 */
export const CHUNK_SIZE = 1 << 20

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

/** Bytes read at a time by hashFile. */
const READ_SIZE = 1 << 20
/** Read buffers of finished hashFile calls, for the next ones. */
const spareBuffers: Buffer[] = []

/**
 * CID, size and chunk digests of a file, read through a reused buffer. A fresh 1 MiB buffer per
 * read (a stream's), or even per file, made the garbage collector the biggest cost of `bundle
 * create`: V8 runs a full GC for every few MiB of new external memory, whatever the file sizes.
 */
export async function hashFile (path: string, signal?: AbortSignal): Promise<{ cid: CID, size: number, chunks?: Uint8Array }> {
  const hasher = new ChunkedHasher()
  const handle = await open(path, 'r')
  const buffer = spareBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE)
  try {
    while (true) {
      signal?.throwIfAborted()
      const { bytesRead } = await handle.read(buffer, 0, READ_SIZE, null)
      if (bytesRead === 0) break
      hasher.update(buffer.subarray(0, bytesRead)) // hashed at once: the buffer can be reused
    }
  } finally {
    if (spareBuffers.length < 4) spareBuffers.push(buffer)
    await handle.close()
  }
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
