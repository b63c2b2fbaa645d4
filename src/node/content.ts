/** The gateway's view of a node: catalog lookups across the current heads, and blobs from the store. */
import { stat } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { LRUCache } from 'lru-cache'
import type { CatalogEntry } from '../catalog/interface.ts'
import type { ByteRange, GatewayContent } from '../gateway/interface.ts'
import type { CID } from '../store/cid.ts'
import { NotFoundError } from '../util/errors.ts'
import type { Repo } from './repo.ts'

/** Serves what the repo holds; lookups and small metadata are cached until the next head. */
export class RepoContent implements GatewayContent {
  readonly #repo: Repo
  readonly #lookups = new LRUCache<string, { entry: CatalogEntry | null }>({ max: 50_000 })
  readonly #bytes = new LRUCache<string, Uint8Array>({ maxSize: 64 << 20, sizeCalculation: b => Math.max(1, b.length) })

  constructor (repo: Repo) {
    this.#repo = repo
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
      return undefined
    }
  }

  async open (cid: CID, _size: number, range?: ByteRange): Promise<Readable> {
    if (!await this.#repo.blobs.has(cid)) throw new NotFoundError(`blob ${cid.toString()} is not held`)
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
