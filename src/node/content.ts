/** The gateway's view of a node: catalog lookups across the current heads, and blobs from the store. */
import { open, stat, type FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { LRUCache } from 'lru-cache'
import type { CatalogEntry } from '../catalog/interface.ts'
import type { ByteRange, GatewayContent } from '../gateway/interface.ts'
import type { GatewayMetrics } from '../gateway/metrics.ts'
import type { CID } from '../store/cid.ts'
import { NotFoundError } from '../util/errors.ts'
import type { Repo } from './repo.ts'

/**
 * Serves what the repo holds; lookups and small metadata are cached until the next head.
 * Given `metrics`, it counts hits (a blob opened from the store) and misses (a blob asked for that
 * is not held). Give them only when it is the gateway's whole content: a mesh node's MeshContent
 * wraps it and counts hits and misses itself.
 */
export class RepoContent implements GatewayContent {
  readonly #repo: Repo
  readonly #metrics: Pick<GatewayMetrics, 'hits' | 'misses'> | undefined
  readonly #lookups = new LRUCache<string, { entry: CatalogEntry | null }>({ max: 50_000 })
  /** Lookups in flight: a burst of requests for one path costs one walk of the catalog. */
  readonly #pending = new Map<string, Promise<CatalogEntry | undefined>>()
  /** Bumped on every adopted head, so a lookup that started before it is not cached after it. */
  #generation = 0
  readonly #bytes = new LRUCache<string, Uint8Array>({ maxSize: 64 << 20, sizeCalculation: b => Math.max(1, b.length) })

  constructor (repo: Repo, metrics?: Pick<GatewayMetrics, 'hits' | 'misses'>) {
    this.#repo = repo
    this.#metrics = metrics
    repo.on('head', () => {
      this.#generation++
      this.#lookups.clear()
      this.#pending.clear()
    })
  }

  async lookup (path: string): Promise<CatalogEntry | undefined> {
    const hit = this.#lookups.get(path)
    if (hit !== undefined) return hit.entry ?? undefined
    const pending = this.#pending.get(path)
    if (pending !== undefined) return await pending
    const generation = this.#generation
    const lookup = this.#repo.lookup(path).then(found => {
      if (generation === this.#generation) this.#lookups.set(path, { entry: found?.entry ?? null })
      return found?.entry
    }).finally(() => { if (this.#pending.get(path) === lookup) this.#pending.delete(path) })
    this.#pending.set(path, lookup)
    return await lookup
  }

  async stat (cid: CID): Promise<{ size: number, mtime: number } | undefined> {
    try {
      const info = await stat(this.#repo.blobs.path(cid))
      return { size: info.size, mtime: info.mtimeMs }
    } catch {
      this.#metrics?.misses.inc()
      return undefined
    }
  }

  async open (cid: CID, size: number, range?: ByteRange): Promise<Readable> {
    const file = await this.openFile(cid)
    if (file === undefined) throw new NotFoundError(`blob ${cid.toString()} is not held`)
    const { start, end } = range ?? { start: 0, end: size - 1 }
    // Reads sized to what is left (an fs stream allocates a full highWaterMark buffer per read).
    return file.createReadStream({ start, end: Math.max(start, end), highWaterMark: Math.max(1, Math.min(1 << 20, end - start + 1)) })
  }

  async openFile (cid: CID): Promise<FileHandle | undefined> {
    try {
      const file = await open(this.#repo.blobs.path(cid), 'r')
      this.#metrics?.hits.inc()
      return file
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  async read (entry: CatalogEntry): Promise<Uint8Array> {
    const key = entry.cid.toString()
    const hit = this.#bytes.get(key)
    if (hit !== undefined) return hit
    const bytes = await this.#repo.blobs.read(entry.cid)
    this.#bytes.set(key, bytes)
    return bytes
  }
}
