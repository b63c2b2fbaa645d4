/**
 * The swarm model: a flow-level, discrete-event simulation of the mirrormesh mesh. Bytes move as
 * fluid flows whose rates are max-min fair over the nodes' upload and download links, recomputed
 * every `dt`; everything else (head pushes, availability answers, timers, crashes) is an event.
 *
 * What it models, as the product does it:
 * - heads: the seed adopts at t = 0 and pushes to connected peers at once; a node that
 *   hears of a newer head syncs it (`headSync`) and pushes in turn; anti-entropy every 30 s;
 * - the `full` replicator: on a new head, 4 workers fetch the missing blobs in an order of the
 *   node's own, each parking a download that found no source (up to 12) to take the next; a pass
 *   that left some missing runs again 5 s later;
 * - the fetcher's loop (`download-model.ts`), with the product's own chunk planner;
 * - connections: bootstrap to the seed and two earlier peers; a node that announces a blob dials
 *   the K = 8 nodes closest to it (the provider sweep), and a DHT lookup dials the providers found;
 * - churn (crash, leave, join, restart) and partitions between sites.
 */
import { EventQueue } from './heap.ts'
import { maxMinRates } from './fair-share.ts'
import { DownloadModel, type Pull } from './download-model.ts'
import type { ModelParams } from './params.ts'
import { rng } from '../lib/scenario.ts'
import { KEPT_RECEIVERS } from '../../src/mesh/receivers.ts'
import { slowToResend } from '../../src/mesh/spare-list.ts'

/** A node of the model. */
export interface ModelNode {
  index: number
  alive: boolean
  /** Bumped at every (re)start and stop: events of an earlier life are ignored. */
  life: number
  conns: Set<number>
  headAt: number
  syncing: boolean
  complete: Uint8Array
  completeCount: number
  downloads: Map<number, DownloadModel>
  /** Chunks verified by failed or interrupted downloads, by blob (the product's partial files). */
  partial: Map<number, Uint8Array>
  pass: { running: boolean, again: boolean }
  doneAt: number
  uploaded: number
  downloaded: number
  /** Per blob being fetched here: the peers that asked about it and are told of each newly verified chunk (push). */
  watchers: Map<number, Set<number>>
  /** Blobs held but not announced yet (the announcer's queue), and since when the oldest waits. */
  unannounced: number[]
  unannouncedSince: number
}

/** Sparing state of a chunk at its source: who gets it, since when, until when. */
interface Spare { to: number, started: number, ended?: number }
const spareKey = (pull: Pull): string => `${pull.source.peer} ${pull.dl.blob} ${pull.chunk}`

/** A chunk in transit. */
interface Flow {
  spare?: Spare
  up: number
  down: number
  rate: number
  pull: Pull
  remaining: number
  active: boolean
  finished: boolean
}

/** What a run measured. */
export interface ModelResult {
  nodes: number
  payloadBytes: number
  /** Seconds until each expected node held every blob (NaN: never). */
  completion: number[]
  headAt: number[]
  uploaded: number[]
  downloaded: number[]
  simulatedSeconds: number
  wallSeconds: number
  steps: number
  /** The wall-clock budget ran out before every node finished. */
  truncated: boolean
}

/** The model. */
export class Swarm {
  readonly p: ModelParams
  readonly nodes: ModelNode[]
  readonly queue = new EventQueue()
  readonly random: () => number
  readonly blobChunks: number[]
  /** Nodes whose provider record for a blob is findable. */
  readonly providers: Array<Set<number>>
  /** The K nodes closest to each blob in the DHT keyspace (where its records go). */
  readonly closest: number[][]
  readonly #capacity: Float64Array
  /** Bytes the seed uploaded, per blob (where its egress goes). */
  readonly seedUploadByBlob: Float64Array
  readonly #cut = new Set<string>()
  #flows: Flow[] = []
  /** Per node, the flows it is uploading now: its taken upload slots. */
  readonly #sending: Array<Set<Flow>>
  readonly #spares = new Map<string, Spare>()
  /** Per source and blob: the peers it sent chunks to lately, newest first. */
  readonly #receivers = new Map<string, number[]>()
  now = 0

  constructor (p: ModelParams) {
    this.p = p
    this.random = rng(p.seed)
    const n = p.nodes
    this.blobChunks = p.blobs.map(size => size > p.protocol.chunkSize ? Math.ceil(size / p.protocol.chunkSize) : 1)
    this.providers = p.blobs.map(() => new Set<number>())
    this.closest = p.blobs.map(() => this.#sample(Array.from({ length: n }, (_, i) => i), p.protocol.replicas))
    this.#capacity = new Float64Array(2 * n)
    this.#sending = Array.from({ length: n }, () => new Set<Flow>())
    this.seedUploadByBlob = new Float64Array(p.blobs.length)
    this.#capacity.set(p.env.up, 0)
    this.#capacity.set(p.env.down, n)
    // A site without the seed starts cut off (its nodes bootstrap only to each other).
    for (const site of new Set(p.site)) if (site !== undefined && site !== p.site[0]) this.#cut.add(site)
    this.nodes = Array.from({ length: n }, (_, index) => ({
      index, alive: false, life: 0, conns: new Set<number>(), headAt: Number.NaN, syncing: false,
      complete: new Uint8Array(p.blobs.length), completeCount: 0, downloads: new Map(), watchers: new Map(), partial: new Map(), pass: { running: false, again: false },
      doneAt: Number.NaN, uploaded: 0, downloaded: 0, unannounced: [], unannouncedSince: 0
    }))
  }

  /** Schedule `fn` at `t` for node `n`'s current life only. */
  at (t: number, n: number, fn: () => void): void {
    const node = this.nodes[n] as ModelNode
    const life = node.life
    this.queue.push(t, () => { if (node.alive && node.life === life) fn() })
  }

  /** Node `n` is connected to every other node, few enough to ask them all (fetcher.ts inClique; the announcer's view here is the whole swarm). */
  inClique (n: number): boolean {
    const conns = (this.nodes[n] as ModelNode).conns.size
    return conns <= this.p.protocol.askPeers && conns >= this.nodes.length - 1
  }

  /** `k` random distinct items of `list`. */
  #sample<T> (list: T[], k: number): T[] {
    const copy = [...list]
    const out: T[] = []
    while (out.length < k && copy.length > 0) out.push(copy.splice(Math.floor(this.random() * copy.length), 1)[0] as T)
    return out
  }

  /** Bytes of chunk `c` of blob `b`. */
  chunkBytes (b: number, c: number): number {
    const size = this.p.blobs[b] as number
    const count = this.blobChunks[b] as number
    if (count === 1) return size
    return c < count - 1 ? this.p.protocol.chunkSize : size - (count - 1) * this.p.protocol.chunkSize
  }

  reachable (a: number, b: number): boolean {
    const [sa, sb] = [this.p.site[a], this.p.site[b]]
    if (sa === sb) return true
    // Sites are separate networks: only the seed's site and linked (healed) sites talk.
    return !(sa !== undefined && this.#cut.has(sa)) && !(sb !== undefined && this.#cut.has(sb))
  }

  /** Open a connection (a dial); identify then triggers a head exchange. */
  connect (a: number, b: number): void {
    const [na, nb] = [this.nodes[a] as ModelNode, this.nodes[b] as ModelNode]
    if (a === b || !na.alive || !nb.alive || na.conns.has(b) || !this.reachable(a, b)) return
    if (na.conns.size >= this.p.protocol.maxConnections || nb.conns.size >= this.p.protocol.maxConnections) return
    na.conns.add(b)
    nb.conns.add(a)
    this.at(this.now + this.p.env.askDelay, a, () => this.exchange(a, b))
  }

  disconnect (a: number, b: number): void {
    ;(this.nodes[a] as ModelNode).conns.delete(b)
    ;(this.nodes[b] as ModelNode).conns.delete(a)
  }

  // ── heads ──────────────────────────────────────────────────────────────────────────────────

  /** Two connected nodes swap heads: the one without the head syncs it from the other. */
  exchange (a: number, b: number): void {
    const [na, nb] = [this.nodes[a] as ModelNode, this.nodes[b] as ModelNode]
    if (!na.alive || !nb.alive || !na.conns.has(b)) return
    if (!Number.isNaN(na.headAt) && Number.isNaN(nb.headAt)) this.#sync(b)
    if (!Number.isNaN(nb.headAt) && Number.isNaN(na.headAt)) this.#sync(a)
  }

  #sync (n: number): void {
    const node = this.nodes[n] as ModelNode
    if (node.syncing || !Number.isNaN(node.headAt)) return
    node.syncing = true
    // Syncs take from half to one and a half times the typical delay (processes are not in step).
    this.at(this.now + this.p.env.headSync * (0.5 + this.random()), n, () => this.adopt(n))
  }

  /** Adopt the head: replicate, and push it to every connected peer. */
  adopt (n: number): void {
    const node = this.nodes[n] as ModelNode
    node.syncing = false
    if (!Number.isNaN(node.headAt)) return
    node.headAt = this.now
    this.#schedulePass(n)
    for (const peer of node.conns) this.at(this.now + this.p.env.askDelay, n, () => this.exchange(n, peer))
  }

  #antiEntropy (n: number): void {
    const node = this.nodes[n] as ModelNode
    const peers = [...node.conns]
    const peer = peers[Math.floor(this.random() * peers.length)]
    if (peer !== undefined) this.exchange(n, peer)
    this.at(this.now + this.p.protocol.antiEntropy, n, () => this.#antiEntropy(n))
  }

  // ── the replicator ─────────────────────────────────────────────────────────────────────────

  #schedulePass (n: number): void {
    const node = this.nodes[n] as ModelNode
    if (this.p.policy[n] !== 'full' || n === 0) return
    if (node.pass.running) { node.pass.again = true; return }
    node.pass.running = true
    const missing = this.p.blobs.map((_, b) => b).filter(b => node.complete[b] === 0)
    const queue = this.p.protocol.order === 'random' ? this.#sample(missing, missing.length) : missing
    let busy = 0
    let parked = 0
    let failed = false
    const next = (): void => {
      const b = queue.shift()
      if (b === undefined) {
        if (busy > 0 || parked > 0) return
        node.pass.running = false
        if (node.pass.again) { node.pass.again = false; this.#schedulePass(n) } else if (failed) this.at(this.now + this.p.protocol.retryDelay, n, () => this.#schedulePass(n))
        return
      }
      busy++
      // A download that found no source gives its worker up (the product's parking, replicator.ts).
      let parkedHere = false
      const park = (): void => {
        if (parkedHere || parked >= this.p.protocol.park) return
        parkedHere = true
        busy--
        parked++
        next()
      }
      this.fetch(n, b, ok => {
        if (!ok) failed = true
        if (!parkedHere) { busy--; next(); return }
        parked--
        if (busy === 0 && parked === 0 && queue.length === 0) next() // the pass's last download
      }, park)
    }
    for (let w = 0; w < this.p.protocol.workers; w++) next()
  }

  /** Fetch blob `b` at node `n` (or join the download running). */
  fetch (n: number, b: number, done: (ok: boolean) => void, sourceless?: () => void): void {
    const node = this.nodes[n] as ModelNode
    if (node.complete[b] === 1) { done(true); return }
    const running = node.downloads.get(b)
    if (running !== undefined) { running.waiters.push(done); return }
    const dl = new DownloadModel(this, n, b, this.blobChunks[b] as number, node.partial.get(b))
    node.partial.delete(b)
    dl.waiters.push(done)
    dl.sourceless = sourceless
    node.downloads.set(b, dl)
    dl.poke()
  }

  /** `asker` asked `peer` about blob `b` while `peer` fetches it: it is told of `peer`'s next chunks (`push`); whether it is. */
  watch (peer: number, b: number, asker: number): boolean {
    const node = this.nodes[peer] as ModelNode
    if (!this.p.protocol.push || !node.downloads.has(b)) return false
    let set = node.watchers.get(b)
    if (set === undefined) node.watchers.set(b, set = new Set())
    if (set.size < this.p.protocol.watchers) set.add(asker)
    return set.has(asker)
  }

  /** Node `n` verified more of blob `b` (or all of it): tell its watchers, one message's delay later. */
  notify (n: number, b: number): void {
    const set = (this.nodes[n] as ModelNode).watchers.get(b)
    if (set === undefined) return
    for (const w of set) {
      this.at(this.now + this.p.env.askDelay, w, () => {
        const dl = (this.nodes[w] as ModelNode).downloads.get(b)
        if (dl === undefined || !(this.nodes[w] as ModelNode).conns.has(n)) { set.delete(w); return }
        const have = this.availability(n, b)
        if (have !== undefined) dl.haveFrom(n, have)
      })
    }
  }

  /**
   * A download verified its `last` chunk: hash what the whole-file hash has not taken yet, publish,
   * announce. The product hashes the verified prefix as it grows (download.ts), and every chunk
   * before the last one was verified, so the prefix ends where `last` begins; a one-chunk blob was
   * checked as its chunk.
   */
  published (dl: DownloadModel, last: number): void {
    const n = dl.node
    const node = this.nodes[n] as ModelNode
    const unhashed = dl.count === 1 ? 0 : (this.p.blobs[dl.blob] as number) - last * this.p.protocol.chunkSize
    this.at(this.now + unhashed / this.p.env.verifyRate, n, () => {
      node.downloads.delete(dl.blob)
      this.#hold(n, dl.blob)
      this.notify(n, dl.blob)
      node.watchers.delete(dl.blob)
      for (const w of dl.waiters.splice(0)) w(true)
      this.#sweepIfDue(n)
    })
  }

  /** A download failed: its verified chunks of a chunked blob stay for the next attempt. */
  failed (dl: DownloadModel): void {
    const node = this.nodes[dl.node] as ModelNode
    if (node.downloads.get(dl.blob) === dl) node.downloads.delete(dl.blob)
    node.watchers.delete(dl.blob)
    if (dl.count > 1 && dl.verifiedCount > 0) node.partial.set(dl.blob, dl.verified.slice())
    for (const f of this.#flows) if (f.pull.dl === dl) this.#end(f)
    for (const w of dl.waiters.splice(0)) w(false)
    this.#sweepIfDue(dl.node)
  }

  #hold (n: number, b: number): void {
    const node = this.nodes[n] as ModelNode
    if (node.complete[b] === 1) return
    node.complete[b] = 1
    node.completeCount++
    if (node.completeCount === this.p.blobs.length) node.doneAt = this.now
    if (node.unannounced.length === 0) {
      node.unannouncedSince = this.now
      this.at(this.now + this.p.protocol.busySweepDelay, n, () => { this.#sweepIfDue(n) })
    }
    node.unannounced.push(b)
    this.#sweepIfDue(n)
  }

  /**
   * The announcer: records gather while the node fetches in a clique (`inClique`, as
   * src/mesh/mesh.ts), up to busySweepDelay; then one sweep places each on the K closest nodes
   * (dialling them).
   */
  #sweepIfDue (n: number): void {
    const node = this.nodes[n] as ModelNode
    if (node.unannounced.length === 0) return
    if (this.inClique(n) && node.downloads.size > 0 && this.now - node.unannouncedSince < this.p.protocol.busySweepDelay) return
    const records = node.unannounced.splice(0)
    this.at(this.now + this.p.env.announceDelay, n, () => {
      for (const b of records) {
        this.providers[b]?.add(n)
        for (const c of this.closest[b] ?? []) this.connect(n, c)
      }
    })
  }

  // ── chunks in transit ──────────────────────────────────────────────────────────────────────

  /** Start a pull: the request reaches the source after `requestLatency`. */
  startPull (pull: Pull): void {
    const flow: Flow = { up: pull.source.peer, down: this.p.nodes + pull.dl.node, rate: 0, pull, remaining: this.chunkBytes(pull.dl.blob, pull.chunk), active: false, finished: false }
    this.#flows.push(flow)
    this.queue.push(this.now + this.p.env.requestLatency, () => {
      if (flow.finished) return
      // The source must still be there and hold the chunk (a 404 or a refused connection otherwise).
      if (!this.#serves(pull.source.peer, pull.dl.node, pull.dl.blob, pull.chunk)) { flow.finished = true; pull.dl.pullFailed(pull); return }
      // Every upload slot taken: 503 (src/mesh/data-plane.ts UPLOAD_SLOTS), naming the newest
      // receivers of the blob still connected to the source (receivers.ts).
      const receiversKey = `${pull.source.peer} ${pull.dl.blob}`
      const receivers = this.#receivers.get(receiversKey) ?? []
      if (this.uploads(pull.source.peer) >= this.p.protocol.uploadSlots) {
        flow.finished = true
        const named = receivers.filter(r => r !== pull.dl.node && (this.nodes[r] as ModelNode).conns.has(pull.source.peer)).slice(0, this.p.protocol.busyNames)
        pull.dl.pullBusy(pull, named, this.#freeIn(pull.source.peer))
        return
      }
      const declined = this.#declines(pull, flow.remaining)
      if (declined !== undefined) {
        flow.finished = true
        pull.dl.pullSpared(pull, declined.to, declined.for)
        return
      }
      if (receivers.includes(pull.dl.node)) receivers.splice(receivers.indexOf(pull.dl.node), 1)
      receivers.unshift(pull.dl.node)
      if (receivers.length > KEPT_RECEIVERS) receivers.pop()
      this.#receivers.set(receiversKey, receivers)
      flow.spare = { to: pull.dl.node, started: this.now }
      this.#spares.set(spareKey(pull), flow.spare)
      flow.active = true
      this.#sending[pull.source.peer]?.add(flow)
    })
  }

  /**
   * Sparing (src/mesh/spare-list.ts `declines`): the peer the pulled chunk went to lately, or is
   * going to while a resend of its `remaining` bytes would be slow, and for how much longer (s) it
   * is declined; undefined: send it.
   */
  #declines (pull: Pull, remaining: number): { to: number, for: number } | undefined {
    const spared = this.#spares.get(spareKey(pull))
    if (spared === undefined || spared.to === pull.dl.node) return undefined
    const { spareWindow, spareFactor, spareMin, spareInFlight } = this.p.protocol
    if (spared.ended === undefined) {
      const slow = spareInFlight && slowToResend(remaining, this.p.env.up[pull.source.peer] ?? Infinity, this.uploads(pull.source.peer))
      return slow ? { to: spared.to, for: spareWindow } : undefined
    }
    const window = spareFactor === 0 ? spareWindow : Math.min(spareWindow, Math.max(spareMin, spareFactor * (spared.ended - spared.started)))
    const left = spared.ended + window - this.now
    return left > 0 ? { to: spared.to, for: left } : undefined
  }

  /** A flow ends (delivered, aborted, or its download gone): its upload slot frees. */
  #end (f: Flow): void {
    if (f.finished) return
    f.finished = true
    // An aborted transfer does not spare its source (the product forgets it too).
    if (f.spare !== undefined && f.spare.ended === undefined && this.#spares.get(spareKey(f.pull)) === f.spare) this.#spares.delete(spareKey(f.pull))
    if (f.active) this.#sending[f.up]?.delete(f)
  }

  /** Uploads node `n` is sending now: its taken upload slots, and what it reports in availability answers. */
  uploads (n: number): number {
    return this.#sending[n]?.size ?? 0
  }

  /** When `n`'s first upload should end (s; upload-slots.ts `freeInMs`, at the flows' current rates). */
  #freeIn (n: number): number | undefined {
    let soonest: number | undefined
    for (const f of this.#sending[n] ?? []) if (f.rate > 0 && (soonest === undefined || f.remaining / f.rate < soonest)) soonest = f.remaining / f.rate
    return soonest
  }

  #serves (src: number, dst: number, b: number, c: number): boolean {
    const node = this.nodes[src] as ModelNode
    if (!node.alive || !node.conns.has(dst)) return false
    if (node.complete[b] === 1) return true
    return node.downloads.get(b)?.verified[c] === 1
  }

  /** Whether `peer` can answer for blob `b`: null = whole, a copy of its verified chunks, or undefined. */
  availability (peer: number, b: number): Uint8Array | null | undefined {
    const node = this.nodes[peer] as ModelNode
    if (!node.alive) return undefined
    if (node.complete[b] === 1) return null
    const dl = node.downloads.get(b)
    return dl === undefined || dl.verifiedCount === 0 ? undefined : dl.verified.slice()
  }

  /** Whether `peer` fetches blob `b` knowing no whole holder (blob-protocol `unsourced`). */
  unsourced (peer: number, b: number): boolean {
    return (this.nodes[peer] as ModelNode).downloads.get(b)?.unsourced === true
  }

  /** Abort every flow touching node `n` (it went away) or crossing a cut. */
  #abortFlows (test: (f: Flow) => boolean): void {
    for (const f of this.#flows) {
      if (f.finished || !test(f)) continue
      this.#end(f)
      const dstNode = this.nodes[f.pull.dl.node] as ModelNode
      if (dstNode.alive && dstNode.downloads.get(f.pull.dl.blob) === f.pull.dl) this.queue.push(this.now, () => f.pull.dl.pullFailed(f.pull))
    }
  }

  // ── churn and partitions ───────────────────────────────────────────────────────────────────

  /** Start (or restart) node `n`: it dials the seed (if reachable) and two running peers of its site. */
  up (n: number): void {
    const node = this.nodes[n] as ModelNode
    if (node.alive) return
    node.alive = true
    node.life++
    node.syncing = false
    const mySite = this.p.site[n]
    const seedSite = this.p.site[0]
    if (n !== 0 && mySite === seedSite) this.connect(n, 0)
    const peers = this.nodes.filter(o => o.alive && o.index !== n && o.index !== 0 && this.p.site[o.index] === mySite).map(o => o.index)
    for (const peer of this.#sample(peers, this.p.protocol.bootstrapPeers)) this.connect(n, peer)
    this.at(this.now + this.random() * this.p.protocol.antiEntropy, n, () => this.#antiEntropy(n))
    if (!Number.isNaN(node.headAt)) this.#schedulePass(n)
  }

  /** Stop node `n` (crash or leave): its downloads and connections go; what it holds stays on disk. */
  down (n: number): void {
    const node = this.nodes[n] as ModelNode
    if (!node.alive) return
    node.alive = false
    node.life++
    for (const peer of [...node.conns]) this.disconnect(n, peer)
    for (const dl of node.downloads.values()) {
      dl.abandon()
      if (dl.count > 1 && dl.verifiedCount > 0) node.partial.set(dl.blob, dl.verified.slice())
    }
    node.downloads.clear()
    node.pass = { running: false, again: false }
    this.#abortFlows(f => f.up === n || f.pull.dl.node === n)
  }

  cut (site: string): void {
    this.#cut.add(site)
    for (const node of this.nodes) for (const peer of [...node.conns]) if (!this.reachable(node.index, peer)) this.disconnect(node.index, peer)
    this.#abortFlows(f => !this.reachable(f.up, f.pull.dl.node))
  }

  heal (site: string): void {
    this.#cut.delete(site)
    const bridge = this.nodes.find(o => o.alive && this.p.site[o.index] === site)
    if (bridge !== undefined) this.connect(bridge.index, 0)
  }

  // ── running ────────────────────────────────────────────────────────────────────────────────

  /** Simulate until every expected node holds the payload (or `maxTime`). */
  run (): ModelResult {
    const started = performance.now()
    const { nodes, env } = this.p
    // The fleet forms before the payload lands (t = 0): the seed, then the peers in order.
    this.up(0)
    for (let n = 1; n < nodes; n++) if (!this.p.absent.has(n)) this.up(n)
    for (const node of this.nodes) node.life++ // connections made; pending identify exchanges are moot before t = 0
    const seed = this.nodes[0] as ModelNode
    seed.complete.fill(1)
    seed.completeCount = this.p.blobs.length
    seed.doneAt = 0
    // The import announces what it brought (the replicator's pass): the seed's provider records.
    seed.unannounced = this.p.blobs.map((_, b) => b)
    this.#sweepIfDue(0)
    this.adopt(0)
    for (const n of this.nodes) if (n.alive) this.at(this.random() * this.p.protocol.antiEntropy, n.index, () => this.#antiEntropy(n.index))
    let pendingEvents = this.p.events.length
    for (const e of this.p.events) {
      this.queue.push(e.at, () => {
        pendingEvents--
        for (const n of e.nodes ?? []) {
          if (e.action === 'crash' || e.action === 'leave') this.down(n)
          else this.queue.push(this.now + env.startDelay, () => this.up(n))
        }
        if (e.action === 'cut' && e.site !== undefined) this.cut(e.site)
        if (e.action === 'heal' && e.site !== undefined) this.heal(e.site)
      })
    }
    const expected = (): ModelNode[] => this.nodes.filter(o => o.index !== 0 && this.p.policy[o.index] === 'full' && o.alive)
    let steps = 0
    let truncated = false
    while (this.now < this.p.maxTime) {
      // Events due by now, each at its own time.
      const until = this.now
      while (this.queue.peek() <= until) {
        const e = this.queue.pop()
        if (e === undefined) break
        this.now = e.t
        e.fn()
      }
      this.now = Math.max(this.now, until)
      if (pendingEvents === 0 && expected().every(o => !Number.isNaN(o.doneAt))) break
      this.#flows = this.#flows.filter(f => !f.finished)
      const active = this.#flows.filter(f => f.active)
      if (active.length === 0) {
        const next = this.queue.peek()
        if (next === Infinity) break
        this.now = Math.max(this.now, next)
        continue
      }
      maxMinRates(active, this.#capacity)
      // The testbed's CPU (all nodes on one machine): every byte moved costs CPU, so past what the
      // cores can move the flows slow down together (time-sharing), whatever the links allow.
      const cpu = this.p.env.cpuBytesPerSecond
      if (cpu !== undefined) {
        let total = 0
        for (const f of active) total += f.rate
        if (total > cpu) for (const f of active) f.rate *= cpu / total
      }
      // The step: a fortieth of a typical chunk's time at the current rates (p.dt at the least).
      const sample: number[] = []
      for (let i = 0; i < active.length; i += Math.max(1, Math.floor(active.length / 256))) sample.push((active[i] as Flow).rate)
      sample.sort((a, b) => a - b)
      const typical = sample[sample.length >> 1] ?? 1
      const dt = Math.min(this.p.maxDt, Math.max(this.p.dt, this.p.protocol.chunkSize / Math.max(1, typical) / 40))
      for (const f of active) {
        const moved = Math.min(f.remaining, f.rate * dt)
        f.remaining -= moved
        ;(this.nodes[f.up] as ModelNode).uploaded += moved
        if (f.up === 0) this.seedUploadByBlob[f.pull.dl.blob] = (this.seedUploadByBlob[f.pull.dl.blob] ?? 0) + moved
        ;(this.nodes[f.pull.dl.node] as ModelNode).downloaded += moved
        if (f.remaining <= 1e-6) {
          if (f.spare !== undefined) f.spare.ended = this.now
          this.#end(f)
          const at = this.now + (f.rate > 0 ? moved / f.rate : 0)
          this.queue.push(at, () => f.pull.dl.pullDone(f.pull))
        }
      }
      this.now += dt
      steps++
      if ((steps & 15) === 0 && performance.now() - started > this.p.maxWallSeconds * 1000) { truncated = true; break }
    }
    const exp = new Set(expected().map(o => o.index))
    return {
      nodes,
      payloadBytes: this.p.blobs.reduce((a, b) => a + b, 0),
      completion: this.nodes.filter(o => exp.has(o.index)).map(o => o.doneAt),
      headAt: this.nodes.filter(o => exp.has(o.index)).map(o => o.headAt),
      uploaded: this.nodes.map(o => o.uploaded),
      downloaded: this.nodes.map(o => o.downloaded),
      simulatedSeconds: this.now,
      wallSeconds: (performance.now() - started) / 1000,
      steps,
      truncated
    }
  }
}
