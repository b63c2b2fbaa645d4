/**
 * The blob store: one file per blob under `blobs/{hex[0..2]}/{hex[2..4]}/{sha256 hex}`.
 * A blob becomes visible only by an atomic rename of a complete, fsynced, hash-checked file,
 * so a reader never sees a partial blob, whatever instant the writer dies at.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, statSync, type ReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import type { CID } from './cid.ts'
import { cidFromSha256, parseCid, sameCid, sha256Hex } from './cid.ts'
import { IntegrityError, NotFoundError } from '../util/errors.ts'

/** What to expect of bytes being written: checked before they become visible. */
export interface Expectation {
  cid?: CID
  size?: number
}

/** A blob file: its CID and size. */
export interface BlobInfo {
  cid: CID
  size: number
}

/** A Transform that hashes and counts what passes through it, and can refuse to pass more than a limit. */
export class HashingStream extends Transform {
  readonly #hash = createHash('sha256')
  readonly #limit: number
  bytes = 0

  constructor (limit: number = Number.MAX_SAFE_INTEGER) {
    super({ highWaterMark: 1 << 20 })
    this.#limit = limit
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length
    if (this.bytes > this.#limit) {
      callback(new IntegrityError(`more bytes than the ${this.#limit} expected`))
      return
    }
    this.#hash.update(chunk)
    callback(null, chunk)
  }

  /** The CID of everything that passed; call once, after the stream finished. */
  cid (): CID {
    return cidFromSha256(this.#hash.digest())
  }
}

/** How long a partly fetched blob is kept without progress (a week: a site may be cut off that long). */
const PARTIAL_MAX_AGE_MS = 7 * 24 * 3600_000

/** Files on disk, named by the sha256 their content hashes to. */
export class BlobStore {
  readonly root: string
  /** Scratch space on the same file system (renames into the store are atomic); wiped on open. */
  readonly tmpDir: string
  /**
   * Blobs partly fetched from peers, kept across failures and restarts so a transfer resumes
   * where it stopped; their chunks are re-verified before use. Files untouched for
   * PARTIAL_MAX_AGE_MS are removed on open.
   */
  readonly partialDir: string

  constructor (root: string) {
    this.root = root
    this.tmpDir = join(root, 'tmp')
    this.partialDir = join(root, 'partial')
  }

  /** Create the directories; remove temp files a crashed writer left behind, and stale partial blobs. */
  async open (): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true })
    await mkdir(this.tmpDir, { recursive: true })
    await mkdir(this.partialDir, { recursive: true })
    for await (const { file } of this.listPartial()) {
      const info = await stat(file).catch(() => undefined)
      if (info !== undefined && Date.now() - info.mtimeMs > PARTIAL_MAX_AGE_MS) await rm(file, { force: true })
    }
  }

  /** Where a partly fetched blob is kept. */
  partialPath (cid: CID): string {
    return join(this.partialDir, sha256Hex(cid))
  }

  /** Where the blob with this CID lives (whether or not it is there). */
  path (cid: CID): string {
    const hex = sha256Hex(cid)
    return join(this.root, hex.slice(0, 2), hex.slice(2, 4), hex)
  }

  /** Whether the blob is held, complete. */
  async has (cid: CID): Promise<boolean> {
    return (await this.size(cid)) !== undefined
  }

  /**
   * The size of a held blob, or undefined. A synchronous stat that does not throw for a missing
   * file: peers ask about blobs this node lacks all the time, and an async stat that fails costs a
   * thread-pool trip and an Error with its stack each (3% of a swarm peer's profile); a stat of a
   * path whose directories are in the dentry cache takes microseconds.
   */
  async size (cid: CID): Promise<number | undefined> {
    return statSync(this.path(cid), { throwIfNoEntry: false })?.size
  }

  /**
   * Write a stream to a temp file in `dir` (default: the store's own temp dir), hashing as it goes;
   * refuse it (and delete the file) if its CID or size differ from what was expected.
   * The returned file is complete and fsynced but not yet visible — or, with `options.syncs`, its
   * fsync is queued there and the caller must `flush()` the queue before relying on it.
   *
   * Each chunk is hashed while its write is in flight (two cores busy) and fully written before
   * the next one is pulled, so a source may hand out views into buffers it reuses.
   */
  async stage (source: Readable | AsyncIterable<Uint8Array>, expect: Expectation = {}, dir: string = this.tmpDir, options: { syncs?: SyncQueue } = {}): Promise<BlobInfo & { file: string }> {
    const file = join(dir, `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`)
    const limit = expect.size ?? Number.MAX_SAFE_INTEGER
    const hash = createHash('sha256')
    let bytes = 0
    let handle: FileHandle | undefined
    try {
      handle = await open(file, 'w')
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        bytes += chunk.length
        if (bytes > limit) throw new IntegrityError(`more bytes than the ${limit} expected`)
        const writing = writeAll(handle, chunk)
        hash.update(chunk)
        await writing
      }
      const cid = cidFromSha256(hash.digest())
      if (expect.size !== undefined && bytes !== expect.size) {
        throw new IntegrityError(`expected ${expect.size} bytes, got ${bytes}`)
      }
      if (expect.cid !== undefined && !sameCid(expect.cid, cid)) {
        throw new IntegrityError(`content hashes to ${cid.toString()}, expected ${expect.cid.toString()}`)
      }
      const written = handle
      handle = undefined
      if (options.syncs !== undefined) await options.syncs.add(written)
      else {
        try {
          await written.sync()
        } finally {
          await written.close()
        }
      }
      return { cid, size: bytes, file }
    } catch (err) {
      await handle?.close().catch(() => {})
      await rm(file, { force: true })
      throw err
    }
  }

  /** Make a staged file visible under its CID (atomic rename; a blob already there is kept). */
  async publish (file: string, cid: CID): Promise<void> {
    const target = this.path(cid)
    await mkdir(join(target, '..'), { recursive: true })
    await rename(file, target)
    await fsyncDir(join(target, '..'))
  }

  /** Hash-check a stream and store it. */
  async put (source: Readable | AsyncIterable<Uint8Array>, expect: Expectation = {}): Promise<BlobInfo> {
    const staged = await this.stage(source, expect)
    await this.publish(staged.file, staged.cid)
    return { cid: staged.cid, size: staged.size }
  }

  /**
   * A stream of the blob's bytes, optionally a range (inclusive `end`, as fs streams take it).
   * Given the blob's `size` (or a range), reads are sized to what is left, up to 1 MiB: an fs
   * stream allocates a fresh `highWaterMark`-sized buffer per read, so a 4 KiB crate would
   * otherwise cost two 1 MiB allocations (the data, then the empty read that finds the end).
   */
  createReadStream (cid: CID, range?: { start: number, end: number }, size?: number): ReadStream {
    const { start, end } = range ?? { start: 0, end: size === undefined || size === 0 ? undefined : size - 1 }
    const length = end === undefined ? Number.POSITIVE_INFINITY : end - start + 1
    return createReadStream(this.path(cid), { start, end, highWaterMark: Math.max(1, Math.min(1 << 20, length)) })
  }

  /** The whole blob in memory: for small metadata only. */
  async read (cid: CID): Promise<Uint8Array> {
    try {
      return await readFile(this.path(cid))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`blob ${cid.toString()} is not in the store`)
      throw err
    }
  }

  /** Remove a blob; removing an absent blob is not an error. */
  async delete (cid: CID): Promise<void> {
    await rm(this.path(cid), { force: true })
  }

  /** Every held blob, by walking the shard directories. */
  async * list (): AsyncGenerator<{ hex: string, file: string }> {
    for (const a of await readdirSafe(this.root)) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue
      for (const b of await readdirSafe(join(this.root, a))) {
        for (const name of await readdirSafe(join(this.root, a, b))) {
          yield { hex: name, file: join(this.root, a, b, name) }
        }
      }
    }
  }

  /** Every partly fetched blob (see partialDir). */
  async * listPartial (): AsyncGenerator<{ hex: string, file: string }> {
    for (const name of await readdirSafe(this.partialDir)) yield { hex: name, file: join(this.partialDir, name) }
  }

  /**
   * A directory for files that must survive a crash without being visible yet (an import being
   * committed). Unlike the temp dir it is not wiped on open: the repo's recovery decides.
   */
  async stagingDir (name: string): Promise<string> {
    const dir = join(this.root, 'staging', name)
    await mkdir(dir, { recursive: true })
    return dir
  }

  /** A file in a staging directory. */
  stagingPath (dir: string, name: string): string {
    return join(this.root, 'staging', dir, name)
  }

  /**
   * Make the files of staging directory `dir` visible: `moves` are [file name, blob CID text].
   * Idempotent (a file already moved is skipped), so a recovery can redo it. Renames run
   * `concurrency` at a time and the shard directories are fsynced together at the end, instead of
   * one rename and one journal commit after another per blob (docs/performance.md).
   */
  async publishStaged (dir: string, moves: Array<[string, string]>, concurrency = 4): Promise<void> {
    const dirs = new Set<string>()
    const queue = [...moves]
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let move = queue.pop(); move !== undefined; move = queue.pop()) {
        const [name, cidText] = move
        const target = this.path(parseCid(cidText))
        const shard = dirname(target)
        if (!dirs.has(shard)) await mkdir(shard, { recursive: true })
        // Fsync the shard even when the file was moved already: that earlier move may not be durable.
        dirs.add(shard)
        try {
          await rename(this.stagingPath(dir, name), target)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
        }
      }
    }))
    await fsyncDirs(dirs, concurrency)
  }

  /** Names of the staging directories left on disk. */
  async stagingDirs (): Promise<string[]> {
    return await readdirSafe(join(this.root, 'staging'))
  }

  /** Remove a staging directory and everything in it. */
  async removeStaging (name: string): Promise<void> {
    await rm(join(this.root, 'staging', name), { recursive: true, force: true })
  }
}

async function readdirSafe (dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** Write all of `chunk` at the handle's position (a regular file may still take it in pieces). */
async function writeAll (handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let done = 0
  while (done < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done)
    done += bytesWritten
  }
}

/**
 * fsyncs of staged files, run in the background and awaited together. Waiting for each file's
 * fsync before reading the next one leaves the CPU idle while the disk works and vice versa; here
 * the disk flushes file N while file N+1 is hashed and written. At most `concurrency` fsyncs run at
 * once (libuv has 4 threads; reads and writes need theirs) and at most `maxOpen` files wait, each
 * holding its descriptor so that a write-back error is reported to it. Nothing staged is relied on
 * until `flush()` resolves.
 */
export class SyncQueue {
  readonly #concurrency: number
  readonly #maxOpen: number
  readonly #waiting: FileHandle[] = []
  readonly #running = new Set<Promise<void>>()
  #failure: unknown

  constructor (concurrency = 2, maxOpen = 64) {
    this.#concurrency = concurrency
    this.#maxOpen = maxOpen
  }

  /** Take a written file: it will be fsynced and closed. Waits while too many are pending. */
  async add (handle: FileHandle): Promise<void> {
    this.#waiting.push(handle)
    this.#pump()
    while (this.#waiting.length + this.#running.size > this.#maxOpen) await Promise.race(this.#running)
    this.#throwFailure()
  }

  /** Wait until every file added so far is on disk (and closed); throws the first fsync failure. */
  async flush (): Promise<void> {
    await this.settle()
    this.#throwFailure()
  }

  /** Wait until every file is synced or failed, and closed, without throwing (for cleanup). */
  async settle (): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running)
  }

  #pump (): void {
    while (this.#running.size < this.#concurrency && this.#waiting.length > 0) {
      const handle = this.#waiting.shift() as FileHandle
      const syncing = (async () => {
        try {
          await handle.sync()
        } catch (err) {
          this.#failure ??= err
        } finally {
          await handle.close().catch(() => {})
        }
      })()
      this.#running.add(syncing)
      void syncing.then(() => {
        this.#running.delete(syncing)
        this.#pump()
      })
    }
  }

  #throwFailure (): void {
    if (this.#failure !== undefined) throw this.#failure
  }
}

/**
 * fsync many directories, `concurrency` at a time. On ext4 (and most journalling filesystems)
 * concurrent fsyncs share journal commits, so this costs a few commits instead of one per
 * directory: committing an import of ~1,100 blobs (one shard directory each) took 1.2 s median
 * on a loaded 2-core VM this way against 5.1 s one by one (docs/performance.md).
 */
export async function fsyncDirs (dirs: Iterable<string>, concurrency = 4): Promise<void> {
  const queue = [...dirs]
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    for (let dir = queue.pop(); dir !== undefined; dir = queue.pop()) await fsyncDir(dir)
  }))
}

/** fsync a directory so that a rename into it survives a power cut. */
export async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
