/**
 * Sending a byte range of an open file to an HTTP response through a few reused buffers. Node has
 * no sendfile; what it can do is stop allocating: an fs read stream takes a fresh buffer for every
 * read, and at gigabytes per minute that garbage (a full GC per 64 MiB) costs more CPU than the
 * reads and writes themselves (docs/performance.md, "Gateway" and "Mesh").
 */
import type { FileHandle } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'

/** Size of one read; buffers are reused once the socket has taken their bytes. */
const BUFFER_SIZE = 256 << 10
/** Buffers kept for reuse across responses (8 MiB per process at most; beyond, they are garbage). */
const POOL_MAX = 32

const pool: Buffer[] = []

/**
 * Write bytes `start`..`end` (inclusive) of `file` to `res` and end it. The next read overlaps the
 * socket write of the previous buffer; a buffer goes back to the pool only when its write
 * completed. Rejects if the client goes away or the file is shorter than the range (the caller
 * destroys the response: a truncated body must not look complete). Does not close `file`. `pace`
 * (link emulation) is awaited before each write.
 */
export async function sendFileRange (file: FileHandle, start: number, end: number, res: ServerResponse, onBytes: (bytes: number) => void = () => {}, pace?: (bytes: number) => Promise<void>): Promise<void> {
  let position = start
  while (position <= end) {
    if (res.destroyed) throw new Error('client went away')
    const buffer = pool.pop() ?? Buffer.allocUnsafe(BUFFER_SIZE)
    const { bytesRead } = await file.read(buffer, 0, Math.min(BUFFER_SIZE, end - position + 1), position)
    if (bytesRead === 0) {
      pool.push(buffer)
      throw new Error('file is shorter than the range to send')
    }
    position += bytesRead
    if (pace !== undefined) await pace(bytesRead)
    onBytes(bytesRead)
    const more = res.write(buffer.subarray(0, bytesRead), () => { if (pool.length < POOL_MAX) pool.push(buffer) })
    if (!more && !res.destroyed) {
      await new Promise<void>(resolve => {
        const done = (): void => { res.off('drain', done); res.off('close', done); resolve() }
        res.on('drain', done)
        res.on('close', done)
      })
    }
  }
  if (res.destroyed) throw new Error('client went away')
  await new Promise<void>(resolve => res.end(resolve))
}
