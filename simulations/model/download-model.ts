/**
 * One download in the model: the fetcher's loop (src/mesh/fetcher.ts `#run`) step for step —
 * full re-discovery at 500 ms tripling to 5 s (while starved or without a whole source), partial
 * sources refreshed every second while starved and forgotten after 5 s of silence, DHT providers
 * looked up when no connected peer that is not busy holds the whole blob (and, when connected to
 * every node, only if none holds any of it), ≤ 8 pulls in flight and ≤ 3 per source
 * (one per full holder until a chunk is verified), the first chunks spread over the ring, greedy
 * after 2 s without a verified chunk, failure after 20 s without a source (verified chunks kept
 * for the next attempt) — and the product's own planner (`planPulls`) choosing the chunks, with
 * the holders' reported uploads; up to 64 connected peers asked at random, and a chunk a source
 * declines because it just sent it to another peer (sparing) asked of that peer instead; a busy
 * source rested until its first upload should end (the product's `busyRest`), and a notice from a
 * peer that is not a source yet answered by asking it (the fetcher's `learn`).
 */
import { hasOrphans, planPulls, withDeclined, type PlanSource } from '../../src/mesh/chunk-plan.ts'
import { BUSY_UPLOADS, busyRest } from '../../src/mesh/fetcher.ts'
import { sample } from '../../src/util/sample.ts'
import type { Swarm, ModelNode } from './swarm.ts'

/** A source as the fetcher tracks it. */
export interface ModelSource extends PlanSource {
  peer: number
  failures: number
  seen: number
  busyUntil?: number
  /** Chunks the source declined (sparing: it sent them to another peer), until when (s). */
  declinedUntil?: Map<number, number>
  /** It tells this node of the chunks it verifies (push): not asked again while starved. */
  watching?: boolean
  /** Chunks another source declined naming this one. */
  named?: Set<number>
}

/** One chunk asked of one source. */
export interface Pull {
  dl: DownloadModel
  chunk: number
  source: ModelSource
  /** When it was asked for (s). */
  at: number
}

const key = (n: number): string => `n${n}`

/** Notices taken in one turn of the fetcher's loop (s). */
const NOTICE_TURN = 0.002

/** A blob being fetched by one node. */
export class DownloadModel {
  readonly swarm: Swarm
  readonly node: number
  readonly blob: number
  readonly count: number
  readonly verified: Uint8Array
  verifiedCount = 0
  readonly inflight = new Set<number>()
  readonly sources = new Map<string, ModelSource>()
  readonly waiters: Array<(ok: boolean) => void> = []
  state: 'running' | 'verifying' | 'done' | 'failed' = 'running'
  /** Called when a discovery found no source at all (the replicator may park it). */
  sourceless?: () => void
  #lastProgress: number
  #lastVerified: number
  #lastFull = 0
  #fullEvery = 0
  #lastRefresh = 0
  #discovering = false
  #pokeQueued = false
  #timer = 0
  /** Whether the planner's inputs changed since it last ran (skipping a call whose answer is known). */
  #dirty = true
  #wasGreedy = false
  /** Verified one of its first chunks while alone: look again at once (the fetcher's `lookAgain`). */
  #lookAgain = false
  /** Pulls the last plan started (none: starved, if chunks are missing). */
  #lastPlanned = 1
  /** Moving average of a pull's time (s; the fetcher's pullMs). */
  #pullTime = 0

  /** `resumed`: chunks an earlier attempt verified (the product's partial file). */
  constructor (swarm: Swarm, node: number, blob: number, count: number, resumed?: Uint8Array) {
    this.swarm = swarm
    this.node = node
    this.blob = blob
    this.count = count
    this.verified = resumed?.length === count ? resumed.slice() : new Uint8Array(count)
    for (const v of this.verified) this.verifiedCount += v
    this.#lastProgress = this.#lastVerified = swarm.now
  }

  /** Run the loop body `after` seconds from now (0: in this instant), once for every poke meanwhile. */
  poke (after = 0): void {
    if (this.#pokeQueued || this.state !== 'running') return
    this.#pokeQueued = true
    this.swarm.at(this.swarm.now + after, this.node, () => { this.#pokeQueued = false; this.#pump() })
  }

  /** The node stopped: nothing more happens. */
  abandon (): void {
    this.state = 'failed'
  }

  #pump (): void {
    if (this.state !== 'running') return
    const s = this.swarm
    const proto = s.p.protocol
    const now = s.now
    for (const [k, src] of this.sources) if (src.chunks !== null && src.inflight === 0 && now - src.seen > proto.stale) { this.sources.delete(k); this.#dirty = true }
    const partial = [...this.sources.values()].filter(src => src.chunks !== null)
    const whole = [...this.sources.values()].some(src => src.chunks === null && (src.uploads ?? 0) < BUSY_UPLOADS)
    const alone = partial.length === 0 && this.count > 1
    const slots = proto.maxInflight - this.inflight.size
    const starved = this.#lastPlanned === 0 && slots > 0 && this.verifiedCount + this.inflight.size < this.count
    if (!this.#discovering) {
      const orphaned = starved && hasOrphans(this.count, this.verified, this.inflight, this.sources.values())
      const every = orphaned ? Math.min(this.#fullEvery, proto.firstRediscovery) : alone ? Math.min(this.#fullEvery, proto.aloneRediscovery) : this.#fullEvery
      const early = this.count > 1 && this.#fullEvery <= proto.firstRediscovery
      if ((now - this.#lastFull >= every && (starved || early || !whole || alone)) || this.#lookAgain) {
        this.#lookAgain = false
        this.#lastFull = this.#lastRefresh = now
        this.#fullEvery = this.#fullEvery === 0 ? proto.firstRediscovery : Math.min(this.#fullEvery * 3, proto.maxRediscovery)
        this.#discover()
      } else if (starved && now - this.#lastRefresh >= proto.refresh && partial.some(src => src.watching !== true)) {
        this.#lastRefresh = now
        this.#discover(sample(partial.filter(src => src.watching !== true), proto.askPeers, s.random).map(src => src.peer))
      }
    }
    const stall = Math.min(proto.stall, Math.max(proto.stallMin, 4 * this.#pullTime))
    const greedy = this.inflight.size === 0 && now - this.#lastVerified > stall
    // The product plans on every turn of its loop; with the same inputs the plan is the same, so
    // the model plans only when a source, a chunk or the greedy switch changed.
    const plan = slots > 0 && (this.#dirty || greedy !== this.#wasGreedy)
    this.#dirty = false
    this.#wasGreedy = greedy
    const pulls = !plan ? [] : planPulls({
      count: this.count,
      verified: this.verified,
      inflight: this.inflight,
      wanted: [],
      sources: [...this.sources.values()].filter(src => (src.busyUntil ?? 0) <= now).map(src => withDeclined(src, now)),
      self: key(this.node),
      slots,
      perSource: proto.perSource,
      perFullSource: Math.min(proto.perSource, 1 + this.verifiedCount),
      order: 'ring',
      greedy,
      readerStalled: false,
      random: s.random
    })
    if (plan) this.#lastPlanned = pulls.length
    for (const { chunk, source } of pulls) {
      const src = this.sources.get(source)
      if (src === undefined) continue
      this.inflight.add(chunk)
      src.inflight++
      s.startPull({ dl: this, chunk, source: src, at: now })
    }
    if (this.inflight.size === 0 && !this.#discovering && now - this.#lastProgress > proto.noSource) {
      this.state = 'failed'
      s.failed(this)
      return
    }
    const untilStall = this.inflight.size === 0 && !greedy ? this.#lastVerified + stall - now + 0.001 : Infinity
    const wait = Math.min(proto.refresh, untilStall, Math.max(0.02, this.#lastFull + this.#fullEvery - now))
    const timer = ++this.#timer
    s.at(now + wait, this.node, () => { if (timer === this.#timer) this.#pump() })
  }

  /** Ask connected peers (or just `peers`) what they hold; then DHT providers as the fetcher's 'after' rule says. */
  #discover (peers?: number[]): void {
    const s = this.swarm
    const node = s.nodes[this.node] as ModelNode
    this.#discovering = true
    // A sample of the connected peers plus (a sample of) the partial sources known, as the fetcher does.
    const known = sample([...this.sources.values()].filter(src => src.chunks !== null), s.p.protocol.askPeers, s.random).map(src => src.peer)
    const targets = peers ?? [...new Set([...sample([...node.conns], s.p.protocol.askPeers, s.random), ...known])]
    let whole = false
    let foundAny = false
    // Connected to every other node, all asked: a lookup could add nothing.
    const everyone = s.inClique(this.node)
    const answer = (peer: number): void => {
      const have = this.#answer(peer)
      if (have === undefined) return
      foundAny = true
      if (have === null && s.uploads(peer) < BUSY_UPLOADS) whole = true
    }
    const finish = (): void => {
      this.#discovering = false
      if (peers === undefined && this.sources.size === 0 && this.inflight.size === 0) this.sourceless?.()
      this.poke()
    }
    s.at(s.now + s.p.env.askDelay, this.node, () => {
      for (const peer of targets) answer(peer)
      if (peers !== undefined || whole || (everyone && foundAny)) { finish(); return }
      // Nobody connected holds it whole (or, having asked them all, any of it): look up providers
      // and ask (and so dial) a few of them.
      const delay = Math.max(0, s.p.env.lookupDelay - s.p.env.askDelay + Math.min(s.p.env.askDelay, s.p.protocol.dhtAfter))
      s.at(s.now + delay, this.node, () => {
        const found = [...s.providers[this.blob] ?? []].filter(p => p !== this.node)
        const picked: number[] = []
        while (picked.length < s.p.protocol.lookupProviders && found.length > 0) picked.push(found.splice(Math.floor(s.random() * found.length), 1)[0] as number)
        for (const p of picked) s.connect(this.node, p)
        s.at(s.now + s.p.env.askDelay, this.node, () => { for (const p of picked) answer(p); finish() })
      })
    })
  }

  /** What `peer` holds (an answer, or a notice: what the answer said stays as it was). */
  #merge (peer: number, chunks: Uint8Array | null, after = 0, answer?: { watching: boolean, unsourced: boolean }): void {
    const k = key(peer)
    const known = this.sources.get(k)
    const uploads = this.swarm.uploads(peer)
    if (known === undefined) this.sources.set(k, { key: k, peer, chunks, inflight: 0, failures: 0, seen: this.swarm.now, uploads, ...answer })
    else {
      known.chunks = chunks
      known.seen = this.swarm.now
      known.uploads = uploads
      known.watching = answer?.watching ?? known.watching
      known.unsourced = answer?.unsourced ?? known.unsourced
    }
    this.#dirty = true
    this.poke(after)
  }

  /**
   * A peer this node asked pushed what it holds now. Notices that arrive within one turn of the
   * fetcher's loop are taken in that turn (the product plans once per wake-up, not once per notice).
   */
  haveFrom (peer: number, have: Uint8Array | null): void {
    if (this.state !== 'running') return
    // A notice from a peer that is not a source yet (it had nothing when asked): ask it, as the
    // fetcher's `learn` does, so that its answer says whether it knows a whole holder (`unsourced`).
    if (this.sources.has(key(peer))) this.#merge(peer, have, NOTICE_TURN)
    else this.#ask(peer)
  }

  /** A pull delivered its chunk (verified: the model's peers never send bad bytes). */
  pullDone (pull: Pull): void {
    this.inflight.delete(pull.chunk)
    pull.source.inflight--
    this.#dirty = true
    if (this.state !== 'running') return
    const now = this.swarm.now
    this.#lastProgress = now
    this.#pullTime = this.#pullTime === 0 ? now - pull.at : 0.8 * this.#pullTime + 0.2 * (now - pull.at)
    pull.source.failures = 0
    if (this.verified[pull.chunk] === 0) {
      this.verified[pull.chunk] = 1
      this.verifiedCount++
      this.#lastVerified = now
      this.swarm.notify(this.node, this.blob)
      if (this.verifiedCount <= this.swarm.p.protocol.spreadChunks && ![...this.sources.values()].some(src => src.chunks !== null)) this.#lookAgain = true
      if (this.verifiedCount === this.count) {
        this.state = 'verifying'
        this.swarm.published(this, pull.chunk)
        return
      }
    }
    this.poke()
  }

  /**
   * The source answered 503: rest it until it expects a slot to free (`freeIn`, s), look for idler
   * holders (the fetcher's BusyError).
   */
  pullBusy (pull: Pull, names: number[] = [], freeIn?: number): void {
    this.inflight.delete(pull.chunk)
    pull.source.inflight--
    this.#dirty = true
    if (this.state !== 'running') return
    const now = this.swarm.now
    const rest = busyRest(freeIn === undefined ? undefined : freeIn * 1000, this.swarm.random()) / 1000
    pull.source.busyUntil = now + rest
    pull.source.uploads = Math.max(pull.source.uploads ?? 0, BUSY_UPLOADS)
    this.#lastProgress = now
    // Look for idler holders now only while no partial holder is known (the fetcher's BusyError).
    if (now - this.#lastFull >= this.swarm.p.protocol.firstRediscovery && ![...this.sources.values()].some(src => src.chunks !== null)) this.#lookAgain = true
    this.swarm.at(now + rest, this.node, () => { this.#dirty = true; this.poke() })
    for (const holder of names) if (!this.sources.has(key(holder))) this.#ask(holder)
    this.poke()
  }

  /** Ask one peer (dialling it) what it holds, with `watch`; `then` once it answered that it has some. */
  #ask (holder: number, then?: () => void): void {
    const s = this.swarm
    s.connect(this.node, holder)
    s.at(s.now + s.p.env.askDelay, this.node, () => { if (this.#answer(holder) !== undefined) then?.() })
  }

  /** `peer`'s answer to a question with `watch`, merged (undefined: not connected, or it has none). */
  #answer (peer: number): Uint8Array | null | undefined {
    const s = this.swarm
    if (!(s.nodes[this.node] as ModelNode).conns.has(peer)) return undefined
    const watching = s.watch(peer, this.blob, this.node)
    const have = s.availability(peer, this.blob)
    if (have !== undefined) this.#merge(peer, have, 0, { watching, unsourced: s.unsourced(peer, this.blob) })
    return have
  }

  /** Whether this download knows no whole holder (what it answers as `unsourced`). */
  get unsourced (): boolean {
    for (const src of this.sources.values()) if (src.chunks === null) return false
    return true
  }

  /**
   * The source declined the chunk: it is sending it, or just sent it, to `holder` (the fetcher's
   * SparedError). Not asked of that source for the window; `holder` is asked what it has.
   */
  pullSpared (pull: Pull, holder: number, window = this.swarm.p.protocol.spareWindow): void {
    this.inflight.delete(pull.chunk)
    pull.source.inflight--
    this.#dirty = true
    if (this.state !== 'running') return
    const now = this.swarm.now
    pull.source.declinedUntil ??= new Map()
    pull.source.declinedUntil.set(pull.chunk, now + window)
    // The product plans on every turn of its loop, so the chunk is taken again once the decline
    // lapses; the model plans only when something changed, and the lapse is a change.
    this.swarm.at(now + window, this.node, () => { this.#dirty = true; this.poke() })
    this.#lastProgress = now
    const known = this.sources.get(key(holder))
    const name = (src: ModelSource | undefined): void => { if (src !== undefined) (src.named ??= new Set()).add(pull.chunk) }
    name(known)
    if (holder !== this.node && known?.chunks !== null && known?.chunks?.[pull.chunk] !== 1) this.#ask(holder, () => name(this.sources.get(key(holder))))
    this.poke()
  }

  /** A pull failed (source gone, cut off, or no longer holding the chunk). */
  pullFailed (pull: Pull): void {
    this.inflight.delete(pull.chunk)
    pull.source.inflight--
    this.#dirty = true
    if (this.state !== 'running') return
    if (++pull.source.failures >= 3) this.sources.delete(pull.source.key)
    else if (pull.source.chunks !== null) pull.source.chunks[pull.chunk] = 0
    this.poke()
  }
}
