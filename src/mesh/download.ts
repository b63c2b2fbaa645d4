/**
 * One blob being fetched from peers: a temp file filled chunk by chunk, each chunk checked against
 * the signed chunk digests (or, for a one-chunk blob, against the CID) before it counts. Verified
 * chunks can be read — by the gateway streaming to a client, and by other peers — while the rest
 * arrives. When every chunk is in, the whole file is hashed once more and published atomically.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { createReadStream } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { BlobStore } from '../store/blob-store.ts'
import type { CID } from '../store/cid.ts'
import { cidFromSha256, sameCid } from '../store/cid.ts'
import { CHUNK_SIZE, chunkCount, chunkDigest } from '../store/hash.ts'
import { verifyStream } from '../store/sinks.ts'
import { IntegrityError } from '../util/errors.ts'
import type { ByteRange } from '../gateway/interface.ts'

interface DownloadEvents {
  chunk: [number]
  done: []
  failed: [Error]
}

/** A blob in flight. */
export class Download extends EventEmitter<DownloadEvents> {
  readonly cid: CID
  readonly size: number
  readonly chunkSize: number
  readonly count: number
  readonly #digests: Uint8Array | undefined
  readonly #store: BlobStore
  readonly file: string
  readonly verified: Uint8Array
  #verifiedCount = 0
  #handle: Promise<FileHandle> | undefined
  #state: 'running' | 'done' | 'failed' = 'running'
  #error: Error | undefined
  /** Chunk indexes someone is waiting to read, first. */
  readonly wanted = new Set<number>()
  /** Settles when the blob is published (or the download failed). */
  readonly finished: Promise<void>

  constructor (store: BlobStore, cid: CID, size: number, digests: Uint8Array | undefined, tmpDir: string) {
    super()
    this.setMaxListeners(0)
    this.cid = cid
    this.size = size
    // Without signed chunk digests the only check is the CID: the whole blob is one chunk.
    const usable = digests !== undefined && digests.length === chunkCount(size) * 32
    this.#digests = usable ? digests : undefined
    this.chunkSize = usable ? CHUNK_SIZE : Math.max(1, size)
    this.count = usable ? chunkCount(size) : 1
    this.#store = store
    this.file = join(tmpDir, `dl-${cid.toString()}`)
    this.verified = new Uint8Array(this.count)
    this.finished = new Promise((resolve, reject) => {
      this.once('done', resolve)
      this.once('failed', reject)
    })
    this.finished.catch(() => {})
  }

  get state (): 'running' | 'done' | 'failed' { return this.#state }
  get verifiedCount (): number { return this.#verifiedCount }

  /** Byte range of chunk `index` (inclusive end). */
  chunkRange (index: number): ByteRange {
    const start = index * this.chunkSize
    return { start, end: Math.min(this.size, start + this.chunkSize) - 1 }
  }

  /** Chunks not yet verified. */
  missing (): number[] {
    const out = []
    for (let i = 0; i < this.count; i++) if (this.verified[i] === 0) out.push(i)
    return out
  }

  /** Whether every byte of `range` is in verified chunks. */
  hasRange (range: ByteRange): boolean {
    if (this.#state === 'done') return true
    for (let i = Math.floor(range.start / this.chunkSize); i <= Math.floor(range.end / this.chunkSize); i++) if (this.verified[i] !== 1) return false
    return true
  }

  /** The temp file, opened once (concurrent chunk writers share the handle). */
  async #open (): Promise<FileHandle> {
    this.#handle ??= open(this.file, 'w+', 0o644).then(async handle => {
      await handle.truncate(this.size)
      return handle
    })
    return await this.#handle
  }

  async #closeHandle (): Promise<void> {
    const handle = this.#handle
    this.#handle = undefined
    await (await handle?.catch(() => undefined))?.close().catch(() => {})
  }

  /**
   * Write chunk `index` from a byte stream, hashing as it goes; it counts only if it verifies.
   * Throws IntegrityError for bytes that do not match (the caller penalises the sender).
   */
  async writeChunk (index: number, body: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#state !== 'running' || this.verified[index] === 1) throw new Error(`chunk ${index} is not wanted any more`)
    const range = this.chunkRange(index)
    const expected = range.end - range.start + 1
    const handle = await this.#open()
    const hash = createHash('sha256')
    let position = range.start
    for await (const data of body) {
      if (position + data.length > range.end + 1) throw new IntegrityError(`peer sent more than the ${expected} bytes of chunk ${index}`)
      hash.update(data)
      await handle.write(data, 0, data.length, position)
      position += data.length
    }
    if (position !== range.end + 1) throw new IntegrityError(`peer sent ${position - range.start} of the ${expected} bytes of chunk ${index}`)
    const digest = hash.digest()
    const ok = this.#digests === undefined
      ? sameCid(cidFromSha256(digest), this.cid)
      : Buffer.from(chunkDigest(this.#digests, index)).equals(digest)
    if (!ok) throw new IntegrityError(`chunk ${index} of ${this.cid.toString()} does not match its signed hash`)
    if (this.verified[index] === 1 || this.#state !== 'running') return
    this.verified[index] = 1
    this.#verifiedCount++
    this.wanted.delete(index)
    this.emit('chunk', index)
    if (this.#verifiedCount === this.count) await this.#finish()
  }

  /** Every chunk is in: check the whole file against the CID, then publish it. */
  async #finish (): Promise<void> {
    try {
      await (await this.#handle)?.sync()
      await this.#closeHandle()
      await verifyStream(createReadStream(this.file, { highWaterMark: 1 << 20 }), this.cid, this.size)
      await this.#store.publish(this.file, this.cid)
      this.#state = 'done'
      this.emit('done')
    } catch (err) {
      this.fail(err as Error)
    }
  }

  /** Give up: waiting readers get the error, the temp file goes. */
  fail (err: Error): void {
    if (this.#state !== 'running') return
    this.#state = 'failed'
    this.#error = err
    void this.#closeHandle()
    void rm(this.file, { force: true })
    this.emit('failed', err)
  }

  /** Wait until chunk `index` is verified (or the download fails). */
  async #whenChunk (index: number, signal?: AbortSignal): Promise<void> {
    if (this.verified[index] === 1 || this.#state === 'done') return
    if (this.#state === 'failed') throw this.#error ?? new Error('download failed')
    this.wanted.add(index)
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.verified[index] === 1 || this.#state === 'done') { cleanup(); resolve() } else if (this.#state === 'failed') { cleanup(); reject(this.#error ?? new Error('download failed')) }
      }
      const abort = (): void => { cleanup(); reject(signal?.reason as Error) }
      const cleanup = (): void => {
        this.off('chunk', check)
        this.off('done', check)
        this.off('failed', check)
        signal?.removeEventListener('abort', abort)
      }
      this.on('chunk', check)
      this.on('done', check)
      this.on('failed', check)
      signal?.addEventListener('abort', abort)
    })
  }

  /** Read verified bytes of `range` from wherever they are now (temp file, or the published blob). */
  async #read (start: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length)
    for (const path of this.#state === 'done' ? [this.#store.path(this.cid)] : [this.file, this.#store.path(this.cid)]) {
      let handle: FileHandle
      try {
        handle = await open(path, 'r')
      } catch {
        continue // renamed into the store meanwhile: read from there
      }
      try {
        const { bytesRead } = await handle.read(buffer, 0, length, start)
        return buffer.subarray(0, bytesRead)
      } finally {
        await handle.close()
      }
    }
    throw new Error(`blob ${this.cid.toString()} vanished while being read`)
  }

  /** A stream of `range` that yields each chunk as soon as it is verified, in order. */
  stream (range?: ByteRange, signal?: AbortSignal): Readable {
    return Readable.from(this.#chunksInOrder(range ?? { start: 0, end: this.size - 1 }, signal), { objectMode: false })
  }

  async * #chunksInOrder (wanted: ByteRange, signal?: AbortSignal): AsyncGenerator<Buffer> {
    let position = wanted.start
    while (position <= wanted.end) {
      const index = Math.floor(position / this.chunkSize)
      await this.#whenChunk(index, signal)
      const end = Math.min(this.chunkRange(index).end, wanted.end)
      for (let at = position; at <= end; at += 1 << 20) yield await this.#read(at, Math.min(1 << 20, end - at + 1))
      position = end + 1
    }
  }
}
