/**
 * The announcer's view of the fleet: every peer known to run a DHT server under our protocol, with
 * its keyspace point and its send health. Records go to the K closest peers of this view, so the
 * view must approach the whole fleet: it grows from identify (every connection) and from
 * `getClosestPeers` explorations of the keyspace regions a sweep touches (the "sweeping provider"
 * of Kubo and Spegel: one DHT query per region, not one per CID).
 */
import type { IdentifyResult, PeerId } from '@libp2p/interface'
import type { Logger } from '../../util/logger.ts'
import type { Host } from '../host.ts'
import { DHT_PROTOCOL } from '../protocols.ts'
import { peerPoint, regionOf, type Located } from './keyspace.ts'

/** A peer of the view. */
export interface ViewPeer extends Located {
  readonly id: PeerId
  readonly key: string
  /** The sweep epoch when the peer entered the view (catch-up sends what was swept before it). */
  readonly joinedEpoch: number
  failures: number
  retryAt: number
}

/** What an exploration needs of an item: its keyspace point and the raw key kad-dht hashes into it. */
export interface Explorable extends Located {
  readonly raw: Uint8Array
}

/** Tuning of the view. */
export interface ViewOptions {
  replicas: number
  /** How long an explored region counts as known (ms). */
  exploreTtl: number
  /** How soon to explore a region again when its last exploration found new peers (ms). */
  settleTtl: number
  /** Budget of one exploration (ms); a slow mesh gets a partial view rather than a stalled sweep. */
  exploreTimeout: number
  /** Called when a peer enters the view. */
  onJoin: (peer: ViewPeer) => void
  epoch: () => number
}

const MAX_REGION_BITS = 10
const BACKOFF = 15_000
const MAX_BACKOFF = 10 * 60_000
const DROP_AFTER_FAILURES = 5

/** Known DHT servers of the fleet. */
export class PeerView {
  private readonly peers = new Map<string, ViewPeer>()
  /** `getClosestPeers` walks run so far. */
  explorations = 0
  private readonly staleAt = new Map<string, number>()
  private readonly host: Host
  private readonly log: Logger
  private readonly options: ViewOptions

  constructor (host: Host, log: Logger, options: ViewOptions) {
    this.host = host
    this.log = log
    this.options = options
  }

  /** How many peers the view holds. */
  get size (): number {
    return this.peers.size
  }

  /** Peers that may be sent to now (not backing off after failures). */
  usable (now = Date.now()): ViewPeer[] {
    return [...this.peers.values()].filter(peer => peer.retryAt <= now)
  }

  /** Add a peer (idempotent); returns whether it is new. */
  add (id: PeerId): boolean {
    const key = id.toString()
    if (key === this.host.peerId.toString() || this.peers.has(key)) return false
    const peer: ViewPeer = { id, key, point: peerPoint(id), joinedEpoch: this.options.epoch(), failures: 0, retryAt: 0 }
    this.peers.set(key, peer)
    this.options.onJoin(peer)
    return true
  }

  /** Forget a peer (it stopped serving the DHT). */
  remove (id: PeerId): void {
    this.peers.delete(id.toString())
  }

  /** Follow identify, and load what the peer store already knows from earlier connections. */
  async start (): Promise<void> {
    this.host.addEventListener('peer:identify', this.onIdentify)
    for (const peer of await this.host.peerStore.all()) {
      if (peer.protocols.includes(DHT_PROTOCOL)) this.add(peer.id)
    }
  }

  /** Stop following identify. */
  stop (): void {
    this.host.removeEventListener('peer:identify', this.onIdentify)
  }

  // Every connection runs identify: a peer listing our DHT protocol is a DHT server of this fleet;
  // one that stopped listing it (client mode) no longer answers GET_PROVIDERS, so it holds nothing.
  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    if (event.detail.protocols.includes(DHT_PROTOCOL)) this.add(event.detail.peerId)
    else this.remove(event.detail.peerId)
  }

  /** A send to `key` failed: back off exponentially, and drop a peer that keeps failing. */
  failed (key: string): void {
    const peer = this.peers.get(key)
    if (peer === undefined) return
    peer.failures++
    if (peer.failures >= DROP_AFTER_FAILURES) {
      this.peers.delete(key)
      return
    }
    // Also for a peer that does not speak the protocol yet: its announcer may still be starting.
    peer.retryAt = Date.now() + Math.min(MAX_BACKOFF, BACKOFF * 2 ** (peer.failures - 1))
  }

  /** A send to `key` succeeded. */
  succeeded (key: string): void {
    const peer = this.peers.get(key)
    if (peer !== undefined) {
      peer.failures = 0
      peer.retryAt = 0
    }
  }

  /** How finely to cut the keyspace: about K peers per region, so one query covers a region. */
  regionBits (): number {
    const perRegion = (this.peers.size + 1) / this.options.replicas
    return Math.max(0, Math.min(MAX_REGION_BITS, Math.floor(Math.log2(Math.max(1, perRegion)))))
  }

  /**
   * Explore the regions the items fall in whose last exploration has gone stale: one
   * `getClosestPeers` per region, at an item's own key. Repeats while the view grows enough to cut
   * the keyspace finer. Returns whether the view grew: while the mesh is still forming (every node
   * at startup) an answer is partial, so a region that yielded new peers is stale again after
   * `settleTtl`, and the caller explores again until the view stops growing.
   */
  async explore (items: Explorable[], signal?: AbortSignal): Promise<boolean> {
    const budget = AbortSignal.timeout(this.options.exploreTimeout)
    const abort = signal === undefined ? budget : AbortSignal.any([signal, budget])
    const before = this.peers.size
    for (let round = 0; round < 3 && !abort.aborted; round++) {
      const bits = this.regionBits()
      const now = Date.now()
      const targets = new Map<string, Explorable>()
      for (const item of items) {
        const region = `${bits}:${regionOf(item.point, bits)}`
        if ((this.staleAt.get(region) ?? 0) > now || targets.has(region)) continue
        targets.set(region, item)
      }
      if (targets.size === 0) break
      await Promise.all([...targets].map(async ([region, item]) => {
        const size = this.peers.size
        if (!(await this.query(item.raw, abort))) return
        const ttl = this.peers.size > size ? this.options.settleTtl : this.options.exploreTtl
        this.staleAt.set(region, Date.now() + ttl)
      }))
      if (this.regionBits() === bits) break
    }
    return this.peers.size > before
  }

  /** Whether the query completed and found peers (an empty answer, e.g. before the first connection, proves nothing). */
  private async query (raw: Uint8Array, signal: AbortSignal): Promise<boolean> {
    this.explorations++
    let found = 0
    try {
      for await (const event of this.host.services.dht.getClosestPeers(raw, { signal })) {
        // Every answer counts at once: FINAL_PEER events only come when the whole query ends, and on
        // a loaded node the exploration budget may cut it first. `closer` peers are DHT servers in
        // someone's routing table; one that is gone fails its send, and its records move on.
        if (event.name === 'PEER_RESPONSE') {
          for (const peer of [{ id: event.from }, ...event.closer]) if (this.add(peer.id)) found++
        } else if (event.name === 'FINAL_PEER') {
          this.add(event.peer.id)
          found++
        }
      }
      return found > 0
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'keyspace exploration cut short')
      return false
    }
  }
}
