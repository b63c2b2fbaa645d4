/**
 * One blob being fetched from peers: a temp file filled chunk by chunk, each chunk checked against
 * the signed chunk digests (or, for a one-chunk blob, against the CID) before it counts. Verified
 * chunks can be read — by the gateway streaming to a client, and by other peers — while the rest
 * arrives. When every chunk is in, the whole file is hashed once more and published atomically.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { open, rm, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { BlobStore } from '../store/blob-store.ts'
import type { CID } from '../store/cid.ts'
import { cidFromSha256, sameCid } from '../store/cid.ts'
import { CHUNK_SIZE, chunkCount, chunkDigest } from '../store/hash.ts'
import { IntegrityError } from '../util/errors.ts'
import type { ByteRange } from '../gateway/interface.ts'

/** Buffers per writev call (IOV_MAX is 1024 on Linux). */
const WRITEV_MAX = 512
/** Verified chunks kept in memory for readers, who are usually right behind the download. */
const RECENT_CHUNKS = 4
/** Reads of the temp file and of the published blob. */
const READ_SIZE = 1 << 20

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
  /** Chunked against signed digests: what was verified survives a failure, in the partial file. */
  readonly #resumable: boolean
  readonly #store: BlobStore
  readonly file: string
  readonly verified: Uint8Array
  #verifiedCount = 0
  #handle: Promise<FileHandle> | undefined
  #state: 'running' | 'done' | 'failed' = 'running'
  #error: Error | undefined
  /** Chunk indexes a reader is blocked on, and since when (ms since epoch): fetched first. */
  readonly wanted = new Map<number, number>()
  /** Settles when the blob is published (or the download failed). */
  readonly finished: Promise<void>
  /**
   * The last few verified chunks, as received: readers (the gateway's client, peers) take them
   * from here instead of reading them back, which saves a copy and the garbage of a new buffer per
   * read (each 64 MiB of new buffers costs Node a full GC).
   */
  readonly #recent = new Map<number, Uint8Array[]>()
  /** The whole-file hash, taken from the temp file as the verified prefix grows (see #finish). */
  readonly #whole = createHash('sha256')
  #wholeAt = 0
  #wholePump: Promise<void> = Promise.resolve()
  #scratch: Buffer | undefined

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
    this.#resumable = usable
    this.file = usable ? store.partialPath(cid) : join(tmpDir, `dl-${cid.toString()}`)
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

  /** The temp file, opened once (concurrent chunk writers share the handle); an earlier partial file is kept. */
  async #open (): Promise<FileHandle> {
    this.#handle ??= open(this.file, 'r+').catch(async () => await open(this.file, 'w+', 0o644)).then(async handle => {
      await handle.truncate(this.size)
      return handle
    })
    return await this.#handle
  }

  /**
   * Take up what an earlier download of this blob left in its partial file (a link that dropped,
   * a restart): every chunk that still hashes to its signed digest counts as verified, so only the
   * rest is fetched. Returns how many chunks were taken up.
   */
  async resume (): Promise<number> {
    const digests = this.#digests
    if (!this.#resumable || digests === undefined || this.#verifiedCount > 0) return 0
    const info = await stat(this.file).catch(() => undefined)
    if (info?.size !== this.size) return 0
    const handle = await this.#open()
    const buffer = Buffer.allocUnsafe(READ_SIZE)
    let taken = 0
    for (let index = 0; index < this.count && this.#state === 'running'; index++) {
      const { start, end } = this.chunkRange(index)
      const hash = createHash('sha256')
      for (let at = start; at <= end;) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(READ_SIZE, end - at + 1), at)
        if (bytesRead === 0) break
        hash.update(buffer.subarray(0, bytesRead))
        at += bytesRead
      }
      if (this.verified[index] === 0 && Buffer.from(chunkDigest(digests, index)).equals(hash.digest())) {
        taken++
        await this.#accept(index)
      }
    }
    return taken
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
    // Bytes are hashed as they come and written in few large writes (one per signed chunk): a
    // write per socket read (64 KiB) costs a thread-pool round trip each and halved throughput.
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    let written = range.start
    const flush = async (): Promise<void> => {
      const batch = pending
      pending = []
      pendingBytes = 0
      for (let at = 0; at < batch.length; at += WRITEV_MAX) {
        const part = batch.slice(at, at + WRITEV_MAX)
        await handle.writev(part, written)
        for (const b of part) written += b.length
      }
    }
    for await (const data of body) {
      if (position + data.length > range.end + 1) throw new IntegrityError(`peer sent more than the ${expected} bytes of chunk ${index}`)
      hash.update(data)
      pending.push(data)
      pendingBytes += data.length
      position += data.length
      if (pendingBytes >= CHUNK_SIZE && position <= range.end) await flush() // a one-chunk blob bigger than a chunk
    }
    if (position !== range.end + 1) throw new IntegrityError(`peer sent ${position - range.start} of the ${expected} bytes of chunk ${index}`)
    const digest = hash.digest()
    const ok = this.#digests === undefined
      ? sameCid(cidFromSha256(digest), this.cid)
      : Buffer.from(chunkDigest(this.#digests, index)).equals(digest)
    if (!ok) throw new IntegrityError(`chunk ${index} of ${this.cid.toString()} does not match its signed hash`)
    if (this.verified[index] === 1 || this.#state !== 'running') return
    const received = written === range.start ? pending : undefined // the whole chunk is still in memory
    await flush()
    if (this.verified[index] === 1 || this.#state !== 'running') return
    if (received !== undefined) {
      this.#recent.set(index, received)
      for (const old of this.#recent.keys()) if (this.#recent.size > RECENT_CHUNKS) this.#recent.delete(old)
    }
    await this.#accept(index)
  }

  /** Chunk `index` is on disk and verified. */
  async #accept (index: number): Promise<void> {
    this.verified[index] = 1
    this.#verifiedCount++
    this.wanted.delete(index)
    this.emit('chunk', index)
    this.#hashPrefix()
    if (this.#verifiedCount === this.count) await this.#finish()
  }

  /**
   * Feed the whole-file hash from the temp file up to the end of the verified prefix. It runs while
   * later chunks arrive, so the check before publishing costs no extra wait at the end; it reads the
   * file back (from the page cache), so what is checked is what will be published.
   */
  #hashPrefix (): void {
    this.#wholePump = this.#wholePump.then(async () => {
      let prefix = 0
      while (prefix < this.count && this.verified[prefix] === 1) prefix++
      const end = prefix === this.count ? this.size : prefix * this.chunkSize
      if (this.#wholeAt >= end || this.#state === 'failed') return
      const handle = await this.#open()
      this.#scratch ??= Buffer.allocUnsafe(READ_SIZE)
      while (this.#wholeAt < end) {
        const { bytesRead } = await handle.read(this.#scratch, 0, Math.min(READ_SIZE, end - this.#wholeAt), this.#wholeAt)
        if (bytesRead === 0) throw new IntegrityError(`temp file of ${this.cid.toString()} is shorter than its verified chunks`)
        this.#whole.update(this.#scratch.subarray(0, bytesRead))
        this.#wholeAt += bytesRead
      }
    })
    this.#wholePump.catch(() => {}) // #finish reports it
  }

  /** Every chunk is in: check the whole file against the CID, then publish it. */
  async #finish (): Promise<void> {
    try {
      this.#hashPrefix()
      await this.#wholePump
      const actual = cidFromSha256(this.#whole.digest())
      if (this.#wholeAt !== this.size || !sameCid(actual, this.cid)) throw new IntegrityError(`content hashes to ${actual.toString()}, expected ${this.cid.toString()}`)
      await (await this.#handle)?.sync()
      await this.#closeHandle()
      this.#scratch = undefined
      await this.#store.publish(this.file, this.cid)
      this.#recent.clear()
      this.#state = 'done'
      this.emit('done')
    } catch (err) {
      this.fail(err as Error)
    }
  }

  /**
   * Give up: waiting readers get the error. The verified chunks of a chunked blob stay in its
   * partial file for the next attempt (`resume`), unless the file itself is suspect.
   */
  fail (err: Error): void {
    if (this.#state !== 'running') return
    this.#state = 'failed'
    this.#error = err
    this.#recent.clear()
    const keep = this.#resumable && this.#verifiedCount > 0 && !(err instanceof IntegrityError)
    void this.#closeHandle().then(async () => { if (!keep) await rm(this.file, { force: true }) })
    this.emit('failed', err)
  }

  /** Wait until chunk `index` is verified (or the download fails). */
  async #whenChunk (index: number, signal?: AbortSignal): Promise<void> {
    if (this.verified[index] === 1 || this.#state === 'done') return
    if (this.#state === 'failed') throw this.#error ?? new Error('download failed')
    if (!this.wanted.has(index)) this.wanted.set(index, Date.now())
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

  /**
   * Open the bytes for reading wherever they are now: the temp file, or the published blob. A
   * handle stays valid when the temp file is renamed into the store, so one open serves a stream.
   */
  async #openForRead (): Promise<FileHandle> {
    for (const path of this.#state === 'done' ? [this.#store.path(this.cid)] : [this.file, this.#store.path(this.cid)]) {
      try {
        return await open(path, 'r')
      } catch {
        continue // renamed into the store meanwhile: read from there
      }
    }
    throw new Error(`blob ${this.cid.toString()} vanished while being read`)
  }

  /** A stream of `range` that yields each chunk as soon as it is verified, in order. */
  stream (range?: ByteRange, signal?: AbortSignal): Readable {
    const wanted = range ?? { start: 0, end: this.size - 1 }
    // Its first chunk is wanted now, not when the consumer first reads: the fetcher's first pull.
    const first = Math.floor(wanted.start / this.chunkSize)
    if (this.#state === 'running' && this.verified[first] === 0 && !this.wanted.has(first)) this.wanted.set(first, Date.now())
    return Readable.from(this.#chunksInOrder(wanted, signal), { objectMode: false })
  }

  /**
   * Where the earliest reader will next need a chunk that is not verified yet (undefined: no
   * reader is waiting or will wait): the fetcher takes chunks in order from there.
   */
  readerPosition (): number | undefined {
    let best: number | undefined
    for (const cursor of this.#cursors) {
      let at = cursor.next
      while (at <= cursor.last && this.verified[at] === 1) at++
      if (at <= cursor.last && (best === undefined || at < best)) best = at
    }
    return best
  }

  /** Readers' positions (chunk indexes), for `readerPosition`. */
  readonly #cursors = new Set<{ next: number, last: number }>()

  async * #chunksInOrder (wanted: ByteRange, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let handle: FileHandle | undefined
    const cursor = { next: Math.floor(wanted.start / this.chunkSize), last: Math.floor(wanted.end / this.chunkSize) }
    this.#cursors.add(cursor)
    try {
      let position = wanted.start
      while (position <= wanted.end) {
        const index = cursor.next = Math.floor(position / this.chunkSize)
        await this.#whenChunk(index, signal)
        const end = Math.min(this.chunkRange(index).end, wanted.end)
        const held = this.#recent.get(index)
        if (held !== undefined) {
          // Verified bytes as received: yield the parts of them within [position, end].
          let at = this.chunkRange(index).start
          for (const data of held) {
            const from = Math.max(position, at)
            const to = Math.min(end + 1, at + data.length)
            if (from < to) yield data.subarray(from - at, to - at)
            at += data.length
          }
        } else {
          handle ??= await this.#openForRead()
          for (let at = position; at <= end; at += READ_SIZE) {
            const buffer = Buffer.allocUnsafe(Math.min(READ_SIZE, end - at + 1))
            const { bytesRead } = await handle.read(buffer, 0, buffer.length, at)
            if (bytesRead !== buffer.length) throw new Error(`blob ${this.cid.toString()} is shorter than its verified chunks`)
            yield buffer
          }
        }
        position = end + 1
      }
    } finally {
      this.#cursors.delete(cursor)
      await handle?.close()
    }
  }
}
