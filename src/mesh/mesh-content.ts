/**
 * The gateway's content on a mesh node: what the store holds, and on a miss, the blob fetched from
 * peers and streamed to the client as its bytes arrive (the connection is cut if any of them fail
 * verification: see Download.stream's `early`).
 */
import type { FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { LRUCache } from 'lru-cache'
import type { CatalogEntry } from '../catalog/interface.ts'
import type { ByteRange, GatewayContent } from '../gateway/interface.ts'
import type { GatewayMetrics } from '../gateway/metrics.ts'
import type { CID } from '../store/cid.ts'
import { NotFoundError } from '../util/errors.ts'
import type { BlobFetcher } from './fetcher.ts'

/** Local content first, then the mesh. */
export class MeshContent implements GatewayContent {
  readonly #local: GatewayContent
  readonly #fetcher: BlobFetcher
  readonly #metrics: GatewayMetrics
  readonly #onUse: (cid: CID) => void
  /** Chunk digests of blobs recently looked up, for verifying a fetch chunk by chunk. */
  readonly #chunks = new LRUCache<string, Uint8Array>({ max: 10_000 })

  constructor (local: GatewayContent, fetcher: BlobFetcher, metrics: GatewayMetrics, onUse: (cid: CID) => void) {
    this.#local = local
    this.#fetcher = fetcher
    this.#metrics = metrics
    this.#onUse = onUse
  }

  async lookup (path: string): Promise<CatalogEntry | undefined> {
    const entry = await this.#local.lookup(path)
    if (entry?.chunks !== undefined) this.#chunks.set(entry.cid.toString(), entry.chunks)
    return entry
  }

  async stat (cid: CID): Promise<{ size: number, mtime: number } | undefined> {
    const held = await this.#local.stat(cid)
    if (held !== undefined) return held
    const running = this.#fetcher.downloads.get(cid.toString())
    const size = running?.size ?? await this.#fetcher.probe(cid, AbortSignal.timeout(5_000))
    return size === undefined ? undefined : { size, mtime: Date.now() }
  }

  async open (cid: CID, size: number, range?: ByteRange): Promise<Readable> {
    this.#onUse(cid)
    try {
      const stream = await this.#local.open(cid, size, range)
      this.#metrics.hits.inc()
      return stream
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err
    }
    this.#metrics.misses.inc()
    // A request by CID alone (`/blobs/{cid}`, the GHCR layout) did no catalog lookup: find the digests.
    const running = this.#fetcher.downloads.get(cid.toString())
    const chunks = running !== undefined && running.state !== 'failed'
      ? undefined
      : this.#chunks.get(cid.toString()) ?? await this.#fetcher.chunkDigests(cid, size).catch(() => undefined)
    const download = this.#fetcher.fetch(cid, { size, chunks })
    // The client has its bytes as they arrive; the gateway aborts its connection if any of them
    // fail verification (send.ts), and cargo and brew check the sha256 themselves.
    return download.stream(range, undefined, { early: true })
  }

  async openFile (cid: CID): Promise<FileHandle | undefined> {
    const file = await this.#local.openFile?.(cid)
    if (file !== undefined) {
      this.#onUse(cid)
      this.#metrics.hits.inc()
    }
    return file
  }

  async read (entry: CatalogEntry): Promise<Uint8Array> {
    return await this.#local.read(entry)
  }
}
