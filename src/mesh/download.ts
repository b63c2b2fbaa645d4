/**
 * One blob being fetched from peers: a temp file filled chunk by chunk, each chunk checked against
 * the signed chunk digests (or, for a one-chunk blob, against the CID) before it counts. Verified
 * chunks can be read by other peers while the rest arrives; the gateway's client also takes bytes
 * as they arrive, and is cut off if they fail (`stream`'s `early`). When every chunk is in, a
 * chunked file is hashed once more as a whole (the CID), and the file is published atomically.
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
/** Bytes of a chunk gathered per write while the rest of it arrives (see #receive). */
const WRITE_SIZE = 512 << 10
/** Verified chunks kept in memory for readers, who are usually right behind the download. */
const RECENT_CHUNKS = 4
/** Reads of the temp file and of the published blob. */
const READ_SIZE = 1 << 20
/**
 * Written bytes that start a background datasync: the kernel writes them back while the rest
 * arrives, so the fsync before publishing finds little left to do (it was a third of a 256 MiB
 * full replication when every byte waited for it at the end).
 */
const WRITE_BACK_BYTES = 32 << 20

interface DownloadEvents {
  chunk: [number]
  /** More bytes of a chunk arrived (not verified yet), or its pull ended. */
  arriving: [number]
  done: []
  failed: [Error]
  /** A search (connected peers and DHT providers) ended finding no peer with any of the blob, and nothing is in flight. */
  sourceless: []
}

/** Events that may settle a reader waiting for a verified chunk; one taking bytes as they arrive also wakes on 'arriving'. */
const SETTLING = ['chunk', 'done', 'failed'] as const
const ANY_CHANGE = [...SETTLING, 'arriving'] as const

/** A chunk being received from one source: its bytes so far, before they are verified. */
interface Arriving {
  data: Uint8Array[]
  /** 'ok': these bytes verified; 'failed': this pull ended without verifying them. */
  state: 'running' | 'ok' | 'failed'
}

/** Write `buffers` at `position`, WRITEV_MAX at a time. */
async function writeAll (handle: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  for (let at = 0; at < buffers.length; at += WRITEV_MAX) {
    const part = buffers.slice(at, at + WRITEV_MAX)
    await handle.writev(part, position)
    for (const b of part) position += b.length
  }
}

/** The part of `data`, which starts at byte `at` of the blob, within [position, end]; undefined if none. */
function within (data: Uint8Array, at: number, position: number, end: number): Uint8Array | undefined {
  const from = Math.max(position, at)
  const to = Math.min(end + 1, at + data.length)
  return from < to ? data.subarray(from - at, to - at) : undefined
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
  /** The fetcher knows no whole holder to take chunks from (told to peers: see chunk-plan.ts `unsourced`). */
  unsourced = true
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
  /** Chunks being received now, for readers that take bytes before they are verified (`stream`'s `early`). */
  readonly #arriving = new Map<number, Arriving>()
  /** Chunks a pull is writing now (one at a time each, see writeChunk). */
  readonly #receiving = new Set<number>()
  /** Bytes written since the last background datasync started, and that datasync while it runs (see #written). */
  #unsynced = 0
  #writeBack: Promise<void> | undefined

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
    // One pull writes a chunk's range at a time: its bytes go to disk before they are verified, and
    // a second writer's could land after the first's had verified. The fetcher never pulls a chunk
    // twice at once.
    if (this.#receiving.has(index)) throw new Error(`chunk ${index} is being received from another source`)
    this.#receiving.add(index)
    // Readers may take these bytes as they come (a chunk is at most CHUNK_SIZE, held until its
    // write anyway); a one-chunk blob bigger than that is not held, so it is not offered.
    const arriving: Arriving | undefined = this.chunkSize <= CHUNK_SIZE ? { data: [], state: 'running' } : undefined
    if (arriving !== undefined) this.#arriving.set(index, arriving)
    try {
      await this.#receive(index, body, arriving)
    } finally {
      this.#receiving.delete(index)
      if (arriving !== undefined) {
        if (arriving.state === 'running') arriving.state = 'failed'
        this.#arriving.delete(index)
        this.emit('arriving', index)
      }
    }
  }

  async #receive (index: number, body: AsyncIterable<Uint8Array>, arriving: Arriving | undefined): Promise<void> {
    const range = this.chunkRange(index)
    const expected = range.end - range.start + 1
    const handle = await this.#open()
    const hash = createHash('sha256')
    let position = range.start
    // Bytes are hashed as they come and written while the rest arrives, WRITE_SIZE at a time with
    // one write in flight: writing each chunk once it was whole left the disk idle while it came
    // and the socket idle while it was written (full replication ran 1.45x faster overlapped). A
    // write per socket read (64 KiB) costs a thread-pool round trip each. Only `verified` makes
    // the range count, so unverified bytes on disk are never served, resumed or published.
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    let written = range.start
    let writing: Promise<unknown> = Promise.resolve()
    const flush = async (): Promise<void> => {
      await writing // one write in flight: a disk slower than the link holds the socket back
      const batch = pending
      const bytes = pendingBytes
      const at = written
      written += bytes
      pending = []
      pendingBytes = 0
      writing = writeAll(handle, batch, at).then(() => { this.#written(handle, bytes) })
    }
    try {
      for await (const data of body) {
        if (position + data.length > range.end + 1) throw new IntegrityError(`peer sent more than the ${expected} bytes of chunk ${index}`)
        hash.update(data)
        pending.push(data)
        pendingBytes += data.length
        position += data.length
        if (arriving !== undefined) {
          arriving.data.push(data)
          this.emit('arriving', index)
        }
        if (pendingBytes >= WRITE_SIZE && position <= range.end) await flush()
      }
      if (position !== range.end + 1) throw new IntegrityError(`peer sent ${position - range.start} of the ${expected} bytes of chunk ${index}`)
      const digest = hash.digest()
      const ok = this.#digests === undefined
        ? sameCid(cidFromSha256(digest), this.cid)
        : Buffer.from(chunkDigest(this.#digests, index)).equals(digest)
      if (!ok) throw new IntegrityError(`chunk ${index} of ${this.cid.toString()} does not match its signed hash`)
      if (arriving !== undefined) {
        arriving.state = 'ok'
        this.emit('arriving', index)
      }
      if (this.verified[index] === 1 || this.#state !== 'running') return
      await flush()
      await writing
    } finally {
      await writing.catch(() => {}) // no write of this pull may land after it ends
    }
    if (this.verified[index] === 1 || this.#state !== 'running') return
    // The chunk as received (a one-chunk blob bigger than CHUNK_SIZE is not held: no `arriving`).
    if (arriving !== undefined) {
      this.#recent.set(index, arriving.data)
      for (const old of this.#recent.keys()) if (this.#recent.size > RECENT_CHUNKS) this.#recent.delete(old)
    }
    await this.#accept(index)
  }

  /**
   * `bytes` more are in the page cache: past WRITE_BACK_BYTES, start a datasync in the background
   * (one at a time). It only hurries the write-back; durability still comes from #finish's fsync.
   */
  #written (handle: FileHandle, bytes: number): void {
    this.#unsynced += bytes
    if (this.#unsynced < WRITE_BACK_BYTES || this.#writeBack !== undefined || this.#state !== 'running') return
    this.#unsynced = 0
    this.#writeBack = handle.datasync().catch(() => {}).finally(() => { this.#writeBack = undefined })
  }

  /** Chunk `index` is on disk and verified. */
  async #accept (index: number): Promise<void> {
    this.verified[index] = 1
    this.#verifiedCount++
    this.wanted.delete(index)
    this.emit('chunk', index)
    if (this.#digests !== undefined) this.#hashPrefix()
    if (this.#verifiedCount === this.count) await this.#finish()
  }

  /**
   * Feed the whole-file hash up to the end of the verified prefix. It runs while later chunks
   * arrive, so the check before publishing costs no extra wait at the end. A chunk still held as
   * received (in order, the usual case) is hashed from memory — the very buffers that were written;
   * others are read back from the temp file (the page cache).
   */
  #hashPrefix (): void {
    this.#wholePump = this.#wholePump.then(async () => {
      let prefix = 0
      while (prefix < this.count && this.verified[prefix] === 1) prefix++
      const end = prefix === this.count ? this.size : prefix * this.chunkSize
      while (this.#wholeAt < end && this.#state !== 'failed') {
        const index = Math.floor(this.#wholeAt / this.chunkSize)
        const held = this.#wholeAt === index * this.chunkSize ? this.#recent.get(index) : undefined
        if (held !== undefined) {
          for (const data of held) this.#whole.update(data)
          this.#wholeAt = this.chunkRange(index).end + 1
          continue
        }
        const handle = await this.#open()
        this.#scratch ??= Buffer.allocUnsafe(READ_SIZE)
        const { bytesRead } = await handle.read(this.#scratch, 0, Math.min(READ_SIZE, end - this.#wholeAt), this.#wholeAt)
        if (bytesRead === 0) throw new IntegrityError(`temp file of ${this.cid.toString()} is shorter than its verified chunks`)
        this.#whole.update(this.#scratch.subarray(0, bytesRead))
        this.#wholeAt += bytesRead
      }
    })
    this.#wholePump.catch(() => {}) // #finish reports it
  }

  /**
   * Every chunk is in: check the whole file against the CID, then publish it. A one-chunk blob was
   * checked against the CID itself as it arrived: hashing it once more would prove nothing new, and
   * most crates are one chunk.
   */
  async #finish (): Promise<void> {
    try {
      if (this.#digests !== undefined) {
        this.#hashPrefix()
        await this.#wholePump
        const actual = cidFromSha256(this.#whole.digest())
        if (this.#wholeAt !== this.size || !sameCid(actual, this.cid)) throw new IntegrityError(`content hashes to ${actual.toString()}, expected ${this.cid.toString()}`)
      }
      await this.#writeBack
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
    while (this.verified[index] !== 1 && this.#state !== 'done') {
      if (this.#state === 'failed') throw this.#error ?? new Error('download failed')
      if (!this.wanted.has(index)) this.wanted.set(index, Date.now())
      await this.#change(signal, SETTLING)
    }
  }

  /**
   * Open the bytes for reading wherever they are now: the temp file, or the published blob. A
   * handle stays valid when the temp file is renamed into the store, so one open serves a stream.
   * Only verified ranges (`hasRange`) hold the blob's bytes. The caller closes it.
   */
  async openFile (): Promise<FileHandle> {
    for (const path of this.#state === 'done' ? [this.#store.path(this.cid)] : [this.file, this.#store.path(this.cid)]) {
      try {
        return await open(path, 'r')
      } catch {
        continue // renamed into the store meanwhile: read from there
      }
    }
    throw new Error(`blob ${this.cid.toString()} vanished while being read`)
  }

  /** The next of `events` (by default any: a chunk verified or arriving, the end of the download). */
  async #change (signal?: AbortSignal, events: ReadonlyArray<keyof DownloadEvents> = ANY_CHANGE): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const fire = (): void => { cleanup(); resolve() }
      const abort = (): void => { cleanup(); reject(signal?.reason as Error) }
      const cleanup = (): void => {
        for (const event of events) this.off(event, fire)
        signal?.removeEventListener('abort', abort)
      }
      for (const event of events) this.once(event, fire)
      signal?.addEventListener('abort', abort)
    })
  }

  /**
   * A stream of `range`, in order. By default it yields each chunk once it is verified. `early`
   * (a gateway's client, who checks the CID itself and is cut off on a bad byte) also takes a
   * chunk's bytes while they arrive: the stream errors (and the gateway aborts the connection)
   * if bytes it already yielded turn out not to be the verified ones. Peers never get `early`.
   */
  stream (range?: ByteRange, signal?: AbortSignal, options: { early?: boolean } = {}): Readable {
    const wanted = range ?? { start: 0, end: this.size - 1 }
    // Its first chunk is wanted now, not when the consumer first reads: the fetcher's first pull.
    const first = Math.floor(wanted.start / this.chunkSize)
    if (this.#state === 'running' && this.verified[first] === 0 && !this.wanted.has(first)) this.wanted.set(first, Date.now())
    return Readable.from(this.#chunksInOrder(wanted, options.early === true, signal), { objectMode: false })
  }

  /**
   * Yield the bytes of [position, end] of chunk `index` from the pull receiving it, as they arrive
   * (each part yielded is also pushed to `taken`). 'ok': all of them, and they verified; 'failed':
   * that pull ended unverified after `taken`; 'none': the chunk was verified (or the download
   * ended) before any pull of it could be followed.
   */
  async * #takeArriving (index: number, position: number, end: number, taken: Uint8Array[], signal?: AbortSignal): AsyncGenerator<Uint8Array, 'ok' | 'failed' | 'none'> {
    let arriving = this.#arriving.get(index)
    while (arriving === undefined) {
      if (this.verified[index] === 1 || this.#state !== 'running') return 'none'
      if (!this.wanted.has(index)) this.wanted.set(index, Date.now())
      await this.#change(signal)
      arriving = this.#arriving.get(index)
    }
    let next = 0
    let at = this.chunkRange(index).start
    while (true) {
      for (; next < arriving.data.length; next++) {
        const data = arriving.data[next] as Uint8Array
        const part = within(data, at, position, end)
        at += data.length
        if (part === undefined) continue
        taken.push(part)
        yield part
      }
      if (arriving.state !== 'running') return arriving.state
      if (this.#state === 'failed') throw this.#error ?? new Error('download failed')
      await this.#change(signal)
    }
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

  async * #chunksInOrder (wanted: ByteRange, early: boolean, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let handle: FileHandle | undefined
    const cursor = { next: Math.floor(wanted.start / this.chunkSize), last: Math.floor(wanted.end / this.chunkSize) }
    this.#cursors.add(cursor)
    try {
      let position = wanted.start
      while (position <= wanted.end) {
        const index = cursor.next = Math.floor(position / this.chunkSize)
        const end = Math.min(this.chunkRange(index).end, wanted.end)
        if (early && this.verified[index] === 0) {
          const taken: Uint8Array[] = []
          const outcome = yield * this.#takeArriving(index, position, end, taken, signal)
          if (outcome === 'ok') {
            position = end + 1
            continue
          }
          if (taken.length > 0) {
            // That pull failed after some of its bytes went out: they must be the verified ones,
            // which another pull brings; then the rest follows from those.
            await this.#whenChunk(index, signal)
            handle ??= await this.openFile()
            const sent = Buffer.concat(taken)
            const verified = Buffer.allocUnsafe(sent.length)
            const { bytesRead } = await handle.read(verified, 0, sent.length, position)
            if (bytesRead !== sent.length || !verified.equals(sent)) throw new IntegrityError(`bytes of ${this.cid.toString()} already sent came from a peer whose chunk ${index} failed verification`)
            position += sent.length
            if (position > end) continue
          }
        }
        await this.#whenChunk(index, signal)
        const held = this.#recent.get(index)
        if (held !== undefined) {
          // Verified bytes as received: yield the parts of them within [position, end].
          let at = this.chunkRange(index).start
          for (const data of held) {
            const part = within(data, at, position, end)
            if (part !== undefined) yield part
            at += data.length
          }
        } else {
          handle ??= await this.openFile()
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
