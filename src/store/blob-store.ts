/**
 * The blob store: one file per blob under `blobs/{hex[0..2]}/{hex[2..4]}/{sha256 hex}`.
 * A blob becomes visible only by an atomic rename of a complete, fsynced, hash-checked file,
 * so a reader never sees a partial blob, whatever instant the writer dies at.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { CID } from './cid.ts'
import { cidFromSha256, sameCid, sha256Hex } from './cid.ts'
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

/** Files on disk, named by the sha256 their content hashes to. */
export class BlobStore {
  readonly root: string
  /** Scratch space on the same file system (renames into the store are atomic); wiped on open. */
  readonly tmpDir: string

  constructor (root: string) {
    this.root = root
    this.tmpDir = join(root, 'tmp')
  }

  /** Create the directories; remove temp files a crashed writer left behind. */
  async open (): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true })
    await mkdir(this.tmpDir, { recursive: true })
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

  /** The size of a held blob, or undefined. */
  async size (cid: CID): Promise<number | undefined> {
    try {
      return (await stat(this.path(cid))).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  /**
   * Write a stream to a temp file in `dir` (default: the store's own temp dir), hashing as it goes;
   * refuse it (and delete the file) if its CID or size differ from what was expected.
   * The returned file is complete and fsynced but not yet visible.
   */
  async stage (source: Readable | AsyncIterable<Uint8Array>, expect: Expectation = {}, dir: string = this.tmpDir): Promise<BlobInfo & { file: string }> {
    const file = join(dir, `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`)
    const hasher = new HashingStream(expect.size)
    try {
      await pipeline(source, hasher, createWriteStream(file, { flush: true, highWaterMark: 1 << 20 }))
      const cid = hasher.cid()
      if (expect.size !== undefined && hasher.bytes !== expect.size) {
        throw new IntegrityError(`expected ${expect.size} bytes, got ${hasher.bytes}`)
      }
      if (expect.cid !== undefined && !sameCid(expect.cid, cid)) {
        throw new IntegrityError(`content hashes to ${cid.toString()}, expected ${expect.cid.toString()}`)
      }
      return { cid, size: hasher.bytes, file }
    } catch (err) {
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

  /** A stream of the blob's bytes, optionally a range (inclusive `end`, as fs streams take it). */
  createReadStream (cid: CID, range?: { start: number, end: number }): ReadStream {
    return createReadStream(this.path(cid), { ...range, highWaterMark: 1 << 20 })
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

/** fsync a directory so that a rename into it survives a power cut. */
export async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
