/**
 * The mesh's ContentRouter: a sweeping, batched provider on the LAN Kademlia DHT.
 *
 * `dht.provide()` costs one DHT query per CID (~1.2 s here): hours for a 10,000-blob store. Like
 * Spegel's and Kubo's sweeping providers, we instead queue CIDs and, per sweep, place each on the K
 * peers closest to its kad-dht key among the peers we know (after one `getClosestPeers` per keyspace
 * region), then send each peer one `/mirrormesh/provide/1.0.0` message holding all its records. The
 * receivers store them in the DHT's own provider store, so lookups stay plain GET_PROVIDERS queries.
 * Design and wire format: protocols/provide/README.md.
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from '../store/cid.ts'
import { logger } from '../util/logger.ts'
import type { Host } from './host.ts'
import type { ContentRouter } from './interface.ts'
import { PROVIDE_PROTOCOL } from './protocols.ts'
import { ProvideHandler } from './provide/handler.ts'
import { cidPoint } from './provide/keyspace.ts'
import { findProviders } from './provide/lookup.ts'
import { isAnnounceable } from './provide/messages.ts'
import { ANNOUNCER_DEFAULTS, type AnnouncerOptions, type AnnouncerStats } from './provide/options.ts'
import { providerStore } from './provide/records.ts'
import { Sweeper, type Entry, type Filter, type Item } from './provide/sweep.ts'
import { PeerView, type ViewPeer } from './provide/view.ts'

export type { AnnouncerOptions, AnnouncerStats }

const log = logger('announcer')

/** The announcer: a ContentRouter with counters. */
export interface Announcer extends ContentRouter {
  /** Counters since start. */
  stats (): AnnouncerStats
}

/** Build the announcer of a host (call `start()` to register the protocol). */
export function createAnnouncer (host: Host, options: AnnouncerOptions = {}): Announcer {
  return new SweepingAnnouncer(host, { ...ANNOUNCER_DEFAULTS, ...options })
}

class SweepingAnnouncer implements Announcer {
  private readonly host: Host
  private readonly o: Required<AnnouncerOptions>
  private readonly view: PeerView
  private readonly handler: ProvideHandler
  private readonly sweeper: Sweeper
  private readonly held = new Map<string, Item>()
  private readonly pending = new Map<string, Entry>()
  private readonly joiners = new Map<string, ViewPeer>()
  private epoch = 0
  private started = false
  private rescan = false
  private running: Promise<void> | undefined
  private controller = new AbortController()
  private sweepTimer: NodeJS.Timeout | undefined
  private catchUpTimer: NodeJS.Timeout | undefined
  private rescanTimer: NodeJS.Timeout | undefined
  private reannounceTimer: NodeJS.Timeout | undefined
  /** When the oldest entry of `pending` was queued (ms since epoch). */
  private pendingSince = 0
  /** `flush()` calls in progress: they drain the queue even while the node fetches. */
  private flushing = 0

  constructor (host: Host, o: Required<AnnouncerOptions>) {
    if (!(o.replicas >= 1)) throw new RangeError('replicas must be at least 1')
    this.host = host
    this.o = o
    const store = providerStore(host)
    this.view = new PeerView(host, log, { ...o, onJoin: peer => { this.onJoin(peer) }, epoch: () => this.epoch })
    this.handler = new ProvideHandler(store, log, { maxConcurrent: o.maxInbound, timeout: o.timeout })
    this.sweeper = new Sweeper({ host, store, view: this.view, log, ...o })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.controller = new AbortController()
    // Per connection a sender has one request in flight; 4 leaves room without letting one peer hog us.
    await this.host.handle(PROVIDE_PROTOCOL, this.handler.handle, { maxInboundStreams: 4 })
    this.started = true
    await this.view.start()
    this.reannounceTimer = setInterval(() => { this.reannounce() }, this.o.reannounceInterval).unref()
    this.kick()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.controller.abort()
    for (const timer of [this.sweepTimer, this.catchUpTimer, this.rescanTimer]) clearTimeout(timer)
    clearInterval(this.reannounceTimer)
    this.sweepTimer = this.catchUpTimer = this.rescanTimer = undefined
    this.view.stop()
    await this.running
    // The host may already be stopped by the node's shutdown; nothing is left to unregister then.
    await this.host.unhandle(PROVIDE_PROTOCOL).catch(() => {})
  }

  provide (cids: CID[]): void {
    this.queue(cids, 'add')
  }

  withdraw (cids: CID[]): void {
    // Also for CIDs not held now: records from before a restart are removed the same way.
    this.queue(cids, 'remove')
  }

  findProviders (cid: CID, options: { signal?: AbortSignal } = {}): AsyncIterable<PeerId> {
    return findProviders(this.host, cid, options.signal)
  }

  knownPeers (): number {
    return this.view.size
  }

  async flush (): Promise<void> {
    clearTimeout(this.sweepTimer)
    this.sweepTimer = undefined
    this.flushing++
    try {
      while (this.started && (this.pending.size > 0 || this.running !== undefined)) await this.run()
    } finally {
      this.flushing--
    }
  }

  stats (): AnnouncerStats {
    return { held: this.held.size, pending: this.pending.size, view: this.view.size, explorations: this.view.explorations, ...this.sweeper.counters, inbound: { ...this.handler.stats } }
  }

  private queue (cids: CID[], op: 'add' | 'remove'): void {
    // Caller misuse is refused before anything is queued (a TypeError, per STYLE.md).
    for (const cid of cids) {
      if (!isAnnounceable(cid)) throw new TypeError(`cannot announce ${String(cid)}: mirrormesh announces CIDv1 sha2-256 raw or dag-cbor CIDs`)
    }
    for (const cid of cids) {
      const key = cid.toString()
      const item = this.held.get(key) ?? { cid, point: cidPoint(cid), raw: cid.multihash.bytes, epoch: 0 }
      if (op === 'add') this.held.set(key, item)
      else this.held.delete(key)
      // Re-inserting moves the key to the back: sweeps take the queue in order, latest operation wins.
      if (this.pending.size === 0) this.pendingSince = Date.now()
      this.pending.delete(key)
      this.pending.set(key, { item, op })
    }
    this.kick()
  }

  private kick (): void {
    if (!this.started || this.pending.size === 0) return
    if (this.pending.size >= this.o.sweepThreshold) void this.run()
    else this.sweepTimer ??= setTimeout(() => { this.sweepTimer = undefined; this.due() }, this.o.sweepDelay)
  }

  /** The debounce is over: sweep, unless the node is fetching and the queue may wait longer. */
  private due (): void {
    if (this.mayDrain()) void this.run()
    else this.kick()
  }

  /** Whether queued records may go out now: not while the node fetches, unless they waited `busySweepDelay`. */
  private mayDrain (): boolean {
    return this.flushing > 0 || !this.o.busy() || Date.now() - this.pendingSince >= this.o.busySweepDelay
  }

  private onJoin (peer: ViewPeer): void {
    if (this.held.size === 0) return
    this.joiners.set(peer.key, peer)
    clearTimeout(this.catchUpTimer)
    this.catchUpTimer = setTimeout(() => { this.catchUpTimer = undefined; void this.run() }, this.o.catchUpDelay)
  }

  /** An exploration that found new peers means the mesh is still forming: explore again soon. */
  private explored (grew: boolean): void {
    if (!grew || this.rescanTimer !== undefined) return
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = undefined
      this.rescan = true
      void this.run()
    }, this.o.settleTtl)
  }

  private reannounce (): void {
    for (const [key, item] of this.held) if (!this.pending.has(key)) this.pending.set(key, { item, op: 'add' })
    this.kick()
  }

  /** One loop at a time drains the queue, then the catch-up; callers share its promise. */
  private run (): Promise<void> {
    this.running ??= this.loop().finally(() => {
      this.running = undefined
      this.kick()
    })
    return this.running
  }

  private async loop (): Promise<void> {
    const signal = this.controller.signal
    while (this.started) {
      try {
        // A catch-up or a rescan also runs this loop: queued records wait for their time all the same.
        if (this.pending.size > 0 && this.mayDrain()) {
          const batch: Entry[] = []
          for (const [key, entry] of this.pending) {
            if (batch.length >= this.o.maxSweep) break
            batch.push(entry)
            this.pending.delete(key)
          }
          this.explored(await this.view.explore(batch.map(entry => entry.item), signal))
          // Peers that join from here on were not considered for this batch: the catch-up covers them.
          this.epoch++
          for (const entry of batch) entry.item.epoch = this.epoch
          await this.sweeper.sweep(batch, signal)
        } else if ((this.joiners.size > 0 || this.rescan) && this.catchUpTimer === undefined) {
          await this.catchUp(signal)
        } else {
          return
        }
      } catch (err) {
        // A bug here must not stop announcing for good: the hourly re-announce retries everything.
        log.error({ err }, 'sweep failed')
      }
    }
  }

  /** Send peers that joined the records they are now among the K closest for (placed before they joined). */
  private async catchUp (signal: AbortSignal): Promise<void> {
    this.rescan = false
    const items = [...this.held.values()]
    // A node that swept before the mesh formed (every node at startup) knows few peers: exploring
    // here, before the snapshot, makes the view converge and the found peers part of this catch-up.
    if (items.length > 0) this.explored(await this.view.explore(items, signal))
    const joiners = new Map(this.joiners)
    this.joiners.clear()
    const filter: Filter = (entry, target) => {
      const joiner = joiners.get(target.key)
      return joiner !== undefined && entry.item.epoch !== 0 && entry.item.epoch <= joiner.joinedEpoch
    }
    for (let at = 0; at < items.length && this.started && joiners.size > 0; at += this.o.maxSweep) {
      await this.sweeper.sweep(items.slice(at, at + this.o.maxSweep).map(item => ({ item, op: 'add' })), signal, filter)
    }
  }
}
