/** The gateway's view of a node: catalog lookups across the current heads, and blobs from the store. */
import { stat } from 'node:fs/promises'
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
  readonly #bytes = new LRUCache<string, Uint8Array>({ maxSize: 64 << 20, sizeCalculation: b => Math.max(1, b.length) })

  constructor (repo: Repo, metrics?: Pick<GatewayMetrics, 'hits' | 'misses'>) {
    this.#repo = repo
    this.#metrics = metrics
    repo.on('head', () => this.#lookups.clear())
  }

  async lookup (path: string): Promise<CatalogEntry | undefined> {
    const hit = this.#lookups.get(path)
    if (hit !== undefined) return hit.entry ?? undefined
    const found = await this.#repo.lookup(path)
    this.#lookups.set(path, { entry: found?.entry ?? null })
    return found?.entry
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

  async open (cid: CID, _size: number, range?: ByteRange): Promise<Readable> {
    if (!await this.#repo.blobs.has(cid)) throw new NotFoundError(`blob ${cid.toString()} is not held`)
    this.#metrics?.hits.inc()
    return this.#repo.blobs.createReadStream(cid, range)
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
