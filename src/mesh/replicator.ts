/**
 * Replication policies. `full`: mirror every blob of the current catalogs (a LAN replica) and pin
 * them. `on-demand` (default): blobs arrive on gateway misses and are cached within a size quota;
 * the least recently used unpinned ones are evicted (and withdrawn from the DHT) past it.
 * Either way every held blob is announced.
 */
import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { walk } from '../catalog/tree.ts'
import type { Repo } from '../node/repo.ts'
import type { CID } from '../store/cid.ts'
import { cidFromSha256Hex } from '../store/cid.ts'
import { logger } from '../util/logger.ts'
import type { BlobFetcher } from './fetcher.ts'
import type { ContentRouter } from './interface.ts'

const log = logger('replicator')
/** Downloads the `full` policy runs at once… */
export const WORKERS = 4
/**
 * …plus at most this many parked ones, which no peer could serve yet. In the flow model at
 * N = 1,000, half the replicas' downloads had no source for their first 0.6 s (one-chunk crates
 * only a seed at its connection limit held): with each holding one of four workers, links idled.
 */
export const PARKED = 12

/** `full` or `on-demand`. */
export type ReplicationPolicy = 'full' | 'on-demand'

/** Progress of the current policy. */
export interface ReplicationStatus {
  policy: ReplicationPolicy
  /** Catalog blobs, and how many of them are held. */
  wanted: number
  held: number
  bytesWanted: number
  bytesHeld: number
  downloading: number
  quotaBytes: number | null
  evicted: number
}

/** Applies the policy. */
export class Replicator {
  readonly #repo: Repo
  readonly #fetcher: Pick<BlobFetcher, 'fetch' | 'downloads'>
  readonly #router: ContentRouter
  readonly #policy: ReplicationPolicy
  readonly #quota: number | undefined
  readonly #self: string
  readonly #announced = new Set<string>()
  readonly #atimes = new Map<string, number>()
  #status: ReplicationStatus
  #running: Promise<void> = Promise.resolve()
  #again = false
  #stopped = false
  #flushTimer: NodeJS.Timeout | undefined
  readonly #onHead = (): void => { this.#schedule() }

  /** `self`: this node's peer ID, which sets the order it fetches missing blobs in. */
  constructor (repo: Repo, fetcher: Pick<BlobFetcher, 'fetch' | 'downloads'>, router: ContentRouter, options: { policy: ReplicationPolicy, quotaBytes?: number, self?: string }) {
    this.#repo = repo
    this.#fetcher = fetcher
    this.#router = router
    this.#policy = options.policy
    this.#quota = options.quotaBytes
    this.#self = options.self ?? ''
    this.#status = { policy: options.policy, wanted: 0, held: 0, bytesWanted: 0, bytesHeld: 0, downloading: 0, quotaBytes: options.quotaBytes ?? null, evicted: 0 }
  }

  start (): void {
    this.#repo.on('head', this.#onHead)
    this.#flushTimer = setInterval(() => { void this.#flushAtimes() }, 5_000)
    this.#schedule()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#repo.off('head', this.#onHead)
    clearInterval(this.#flushTimer)
    await this.#running.catch(() => {})
    await this.#flushAtimes()
  }

  /** Resolves when the passes scheduled so far have run (tests, shutdown). */
  async idle (): Promise<void> {
    await this.#running
  }

  status (): ReplicationStatus {
    return { ...this.#status, downloading: this.#fetcher.downloads.size }
  }

  /** A blob was served: remember when, for LRU eviction. */
  touch (cid: CID): void {
    this.#atimes.set(cid.toString(), Date.now())
  }

  /** A blob arrived from a peer. */
  fetched (cid: CID): void {
    this.#announced.add(cid.toString())
    this.touch(cid)
    if (this.#policy === 'full') void this.#repo.db.pins.put(cid.toString(), { since: Date.now() })
    else this.#schedule()
  }

  /** Run one pass (announce, replicate or evict); passes never overlap. */
  #schedule (): void {
    if (this.#stopped) return
    this.#again = true
    this.#running = this.#running.then(async () => {
      while (this.#again && !this.#stopped) {
        this.#again = false
        await this.#pass().catch(err => log.warn({ err: (err as Error).message }, 'replication pass failed'))
      }
    })
  }

  async #pass (): Promise<void> {
    // Announce what is held and not yet announced (imports, and blobs held at start).
    const fresh: CID[] = []
    for await (const { hex } of this.#repo.blobs.list()) {
      if (!/^[0-9a-f]{64}$/.test(hex)) continue
      const cid = cidFromSha256Hex(hex)
      if (!this.#announced.has(cid.toString())) { this.#announced.add(cid.toString()); fresh.push(cid) }
    }
    if (fresh.length > 0) this.#router.provide(fresh)
    const wanted = new Map<string, { cid: CID, size: number, chunks?: Uint8Array }>()
    for (const head of await this.#repo.heads()) {
      if (head.root === null) continue
      for await (const [, entry] of walk(this.#repo.nodes, head.root)) if (entry.kind === 'blob') wanted.set(entry.cid.toString(), entry)
    }
    let held = 0
    let bytesHeld = 0
    const missing = []
    for (const entry of wanted.values()) {
      if (await this.#repo.blobs.has(entry.cid)) { held++; bytesHeld += entry.size } else missing.push(entry)
    }
    this.#status = { ...this.#status, wanted: wanted.size, held, bytesWanted: [...wanted.values()].reduce((s, e) => s + e.size, 0), bytesHeld }
    if (this.#policy === 'full') await this.#replicate(missing)
    else if (this.#quota !== undefined) await this.#evict(this.#quota)
  }

  /**
   * Fetch every missing blob, WORKERS at a time, in an order of this node's own: replicas that
   * learn of a head together start on different blobs, each pulls its first ones from the seed and
   * the rest mostly from each other (the fetcher prefers idle holders), instead of all of them
   * pulling the same blob from the seed at once. A download that finds no peer with any of its blob
   * (`sourceless`) is parked: it goes on looking while its worker takes the next blob.
   */
  async #replicate (missing: Array<{ cid: CID, size: number, chunks?: Uint8Array }>): Promise<void> {
    const rank = (cid: CID): string => createHash('sha256').update(this.#self).update(cid.bytes).digest('hex')
    const queue = missing.map(entry => ({ entry, rank: rank(entry.cid) })).sort((a, b) => a.rank < b.rank ? -1 : 1).map(e => e.entry)
    const parked = new Set<Promise<void>>()
    const worker = async (): Promise<void> => {
      for (let entry = queue.shift(); entry !== undefined && !this.#stopped; entry = queue.shift()) {
        const { cid, size } = entry
        const download = this.#fetcher.fetch(cid, entry)
        const settled = download.finished.then(() => {
          this.#status.held++
          this.#status.bytesHeld += size
        }, (err: Error) => {
          log.warn({ cid: cid.toString(), err: err.message }, 'could not replicate a blob yet')
        })
        // Parked, it goes on looking by itself, and the pass waits for it at the end.
        let park = (): void => {}
        const parking = new Promise<void>(resolve => {
          park = () => {
            if (parked.size >= PARKED || parked.has(settled)) return
            parked.add(settled)
            void settled.finally(() => parked.delete(settled))
            resolve()
          }
        })
        download.on('sourceless', park)
        await Promise.race([settled, parking])
        download.off('sourceless', park)
      }
    }
    await Promise.all(Array.from({ length: WORKERS }, worker))
    while (parked.size > 0) await Promise.all(parked)
    if (queue.length === 0 && this.#status.held < this.#status.wanted && !this.#stopped) {
      setTimeout(() => this.#schedule(), 5_000) // some failed: try again later
    }
  }

  /** Evict least recently used unpinned blobs until the cache is under `quota` bytes. */
  async #evict (quota: number): Promise<void> {
    await this.#flushAtimes()
    const cache: Array<{ cid: CID, size: number, atime: number }> = []
    let total = 0
    for await (const { hex, file } of this.#repo.blobs.list()) {
      if (!/^[0-9a-f]{64}$/.test(hex)) continue
      const cid = cidFromSha256Hex(hex)
      if (await this.#repo.db.pins.get(cid.toString()) !== undefined) continue
      const info = await stat(file)
      const recorded = await this.#repo.db.access.get(cid.toString())
      cache.push({ cid, size: info.size, atime: Number(recorded?.atime ?? info.mtimeMs) })
      total += info.size
    }
    if (total <= quota) return
    cache.sort((a, b) => a.atime - b.atime)
    const metaInUse = await this.#metaInUse()
    const dropped: CID[] = []
    for (const item of cache) {
      if (total <= quota) break
      if (metaInUse.has(item.cid.toString()) || this.#fetcher.downloads.has(item.cid.toString())) continue
      await this.#repo.blobs.delete(item.cid)
      await this.#repo.db.access.del(item.cid.toString())
      this.#announced.delete(item.cid.toString())
      total -= item.size
      dropped.push(item.cid)
    }
    if (dropped.length > 0) {
      this.#router.withdraw(dropped)
      this.#status.evicted += dropped.length
      await this.#repo.audit({ time: Date.now(), event: 'evict', blobs: dropped.length })
      log.info({ blobs: dropped.length }, 'evicted least recently used blobs to stay within the cache quota')
    }
  }

  /** Metadata of current heads is never evicted. */
  async #metaInUse (): Promise<Set<string>> {
    const out = new Set<string>()
    for (const head of await this.#repo.heads()) {
      if (head.root === null) continue
      for await (const [, entry] of walk(this.#repo.nodes, head.root)) if (entry.kind === 'meta') out.add(entry.cid.toString())
    }
    return out
  }

  async #flushAtimes (): Promise<void> {
    if (this.#atimes.size === 0) return
    const batch = this.#repo.db.access.batch()
    for (const [cid, atime] of this.#atimes) batch.put(cid, { atime })
    this.#atimes.clear()
    await batch.write().catch(() => {})
  }
}
