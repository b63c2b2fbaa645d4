/**
 * Fetching blobs from peers: find who has what (ask connected peers, then the DHT), pull chunks
 * from several of them in parallel over the data plane, verify each chunk, and route around
 * failures — a peer that sends bad bytes is dropped and avoided; one that vanishes mid-transfer
 * just loses its chunks to another source. Concurrent requests for one blob share one download.
 * Which chunk comes from whom is `chunk-plan.ts`.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { walk } from '../catalog/tree.ts'
import type { Repo } from '../node/repo.ts'
import type { CID } from '../store/cid.ts'
import { CHUNK_SIZE } from '../store/hash.ts'
import { IntegrityError, NotFoundError } from '../util/errors.ts'
import { sample } from '../util/sample.ts'
import type { TokenBucket } from '../util/token-bucket.ts'
import { logger } from '../util/logger.ts'
import { AvailabilitySessions, type Availability } from './blob-protocol.ts'
import { hasOrphans, planPulls, withDeclined } from './chunk-plan.ts'
import { DataPlaneClient } from './data-plane.ts'
import { Download } from './download.ts'
import { SPARE_MS } from './spare-list.ts'
import type { Host } from './host.ts'
import type { ContentRouter } from './interface.ts'

const log = logger('fetcher')
/** Chunks in flight per download, and per source. */
const MAX_INFLIGHT = 8
const PER_SOURCE = 3
/** Give up when no peer offers a needed chunk for this long. */
const NO_SOURCE_TIMEOUT = 20_000
/** How long a peer that sent bad bytes is avoided. */
const PENALTY_MS = 10 * 60_000
/**
 * Asking every connected peer again: soon after the start (other downloaders of the same blob
 * show up once they verify a chunk), then less and less often.
 */
const FIRST_REDISCOVERY_MS = 500
const MAX_REDISCOVERY_MS = 5_000
/** …but at least this often while a chunked blob has no partial source (see `alone` in #run). */
const ALONE_REDISCOVERY_MS = 2_000
/** Asking the partial sources already known what they hold now (only while chunks wait for a source, and only those not `watching`). */
const REFRESH_MS = 1_000
/**
 * Nothing in flight and no chunk verified for four pulls' time (within these bounds): take any
 * chunk from anyone (see chunk-plan.ts). A chunk's owner may be a node that cannot reach a whole
 * holder (a seed at its connection limit refuses it): in the flow model at N = 1,000 every replica
 * waited the full 2 s on one chunk nobody had taken.
 */
export const STALL_MS = 2_000
export const MIN_STALL_MS = 250
/** A reader blocked this long on a chunk takes it from a full holder, whoever owns it. */
const READER_PATIENCE_MS = 2_000
/** A downloader that sees no other spreads its first chunks over the ring (see chunk-plan.ts). */
const SPREAD_CHUNKS = 3
/**
 * Connected peers asked per discovery, at random, besides (a sample of) the partial sources known.
 * An answer costs ~0.3 ms of CPU over a session (blob-protocol.ts); in the flow model, asking 8
 * or 16 instead of 64 left some replicas of a 100-node fleet without sources for seconds.
 */
export const ASK_PEERS = 64

/**
 * A LAN clique: this node is connected to every mesh peer its announcer knows of (`known`), few
 * enough that each discovery asks them all. A DHT walk can then find no holder the connections do
 * not tell, and no peer needs this node's provider records to find it.
 */
export function inClique (connected: number, known: number): boolean {
  return connected <= ASK_PEERS && known <= connected
}
/** Connected peers that have not answered by then: look up DHT providers meanwhile. */
const DHT_AFTER_MS = 100
/** A gateway miss asks DHT providers alone for this long before it asks every connected peer. */
const PROVIDERS_HEAD_START_MS = 50
/** Sources found by a probe are reused by the fetch that follows it within this time. */
const PROBE_REUSE_MS = 3_000
/**
 * A whole holder serving this many uploads is busy: finding it does not end the search, so DHT
 * providers are looked up too. Without this a seed connected to the whole fleet answers every
 * question first and every replica pulls every small blob from it.
 */
export const BUSY_UPLOADS = 4

/** How `#discover` asks around. */
interface DiscoverOptions {
  /** Ask only these peers (no DHT). */
  peers?: PeerId[]
  /** Ask these too (the sources already known), besides the sample of connected peers. */
  include?: PeerId[]
  providers?: 'first' | 'after' | 'never'
  signal?: AbortSignal
  /** A peer asked that does not have the blob (or did not answer). */
  absent?: (key: string) => void
  /** Ask to be told of the chunks each peer verifies while it fetches the blob too (`#run`'s notices). */
  watch?: boolean
}

interface Source extends Availability {
  peer: PeerId
  key: string
  inflight: number
  failures: number
  /** Answered 503 (every upload slot taken): not asked again before this time. */
  busyUntil?: number
  /** Chunks it declined because it just sent them to another peer (SpareList), until when. */
  declinedUntil?: Map<number, number>
  /** Chunks another source declined naming this one (see chunk-plan.ts `named`). */
  named?: Set<number>
}

/** A source's data plane had no free upload slot. */
class BusyError extends Error {
  /** Peers it is sending the blob to, as its header named them (they share what they verify). */
  readonly receivers: PeerId[]
  /** When it expects a slot to free (ms; undefined: it did not say). */
  readonly freeInMs: number | undefined
  constructor (message: string, receivers: PeerId[], freeInMs: number | undefined) {
    super(message)
    this.receivers = receivers
    this.freeInMs = freeInMs
  }
}
/** A source declined a chunk it has just sent to another peer: that peer has it. */
class SparedError extends Error {
  /** The peer ID it was sent to, as the header said (not parsable: not known). */
  readonly sentTo: string
  /** For how long the source declines it (ms; SPARE_MS when it did not say). */
  readonly forMs: number
  constructor (message: string, sentTo: string, forMs: number) {
    super(message)
    this.sentTo = sentTo
    this.forMs = forMs
  }
}
/**
 * How long a busy source rests: until it expects a slot to free (`X-Mirrormesh-Busy-Ms`, see
 * upload-slots.ts), within [MIN_BUSY_REST_MS, BUSY_REST_MS] (BUSY_REST_MS when it did not say),
 * plus up to as much again at random so that the askers it turned away do not all come back at
 * once. Below 50 ms, on fast links, the askers' retries made 2× the busy answers for no gain in
 * the flow model.
 */
export const BUSY_REST_MS = 300
export const MIN_BUSY_REST_MS = 50

/** The rest after a busy answer (ms), for a holder's estimate `freeInMs` and `random` in [0, 1). */
export function busyRest (freeInMs: number | undefined, random: number): number {
  const base = freeInMs === undefined ? BUSY_REST_MS : Math.min(BUSY_REST_MS, Math.max(MIN_BUSY_REST_MS, freeInMs))
  return base * (1 + random)
}

/** Peers a busy answer may name (more are ignored: NAMED_RECEIVERS in receivers.ts). */
const MAX_RECEIVERS = 4

/** A peer ID from a data plane's header, or undefined. */
function parsePeer (text: string): PeerId | undefined {
  try {
    return peerIdFromString(text)
  } catch {
    return undefined
  }
}

/** Hints the catalog gives about a blob. */
export interface BlobHint {
  size: number
  chunks?: Uint8Array
}

/** Fetches and shares blobs in flight. */
export class BlobFetcher {
  readonly downloads = new Map<string, Download>()
  readonly #host: Host
  readonly #repo: Repo
  readonly #router: ContentRouter
  readonly #penalties = new Map<string, number>()
  readonly #client: DataPlaneClient
  readonly #availability: AvailabilitySessions
  readonly #onFetched: (cid: CID, size: number) => void
  /** Sources a probe found, for the fetch that usually follows it (a gateway miss: stat, then open). */
  readonly #probed = new Map<string, { at: number, sources: Source[] }>()
  /** Chunk digests of the current catalogs' big blobs, by CID (built when first needed, dropped when a head is adopted). */
  #digestIndex: Promise<Map<string, Uint8Array>> | undefined
  readonly #onHead = (): void => { this.#digestIndex = undefined }
  /** Per blob being fetched: what to do with a notice from a peer asked with `watch`. */
  readonly #noticed = new Map<string, (peer: PeerId, chunk: number | null) => void>()
  /** Bytes of verified chunks fetched from peers. */
  bytesFetched = 0
  badPeers = 0
  /** Availability questions asked, DHT provider lookups made, turns of the download loops. */
  availabilityAsked = 0
  lookups = 0
  loopTurns = 0

  /** `down`: an emulated download link (`serve --emulate-link`, simulations only). */
  constructor (host: Host, repo: Repo, router: ContentRouter, onFetched: (cid: CID, size: number) => void = () => {}, options: { down?: TokenBucket } = {}) {
    this.#host = host
    this.#repo = repo
    this.#router = router
    this.#onFetched = onFetched
    this.#client = new DataPlaneClient({ down: options.down })
    this.#availability = new AvailabilitySessions(host, (peer, notice) => this.#noticed.get(notice.cid.toString())?.(peer, notice.chunk))
    repo.on('head', this.#onHead)
  }

  /** Start fetching `cid` (or join the fetch already running). */
  fetch (cid: CID, hint: BlobHint): Download {
    const key = cid.toString()
    const running = this.downloads.get(key)
    if (running !== undefined && running.state !== 'failed') return running
    const download = new Download(this.#repo.blobs, cid, hint.size, hint.chunks, this.#repo.blobs.tmpDir)
    this.downloads.set(key, download)
    void this.#run(download).catch(err => download.fail(err as Error)).finally(() => {
      // Keep serving from it until published; then the store has it.
      if (this.downloads.get(key) === download) this.downloads.delete(key)
    })
    download.once('done', () => {
      this.#router.provide([cid])
      this.#onFetched(cid, hint.size)
    })
    return download
  }

  /** The size of a blob some peer has, for requests that name only a CID (answers with the first source found). */
  async probe (cid: CID, signal?: AbortSignal): Promise<number | undefined> {
    const key = cid.toString()
    const cached = this.#probed.get(key)
    if (cached !== undefined && Date.now() - cached.at < PROBE_REUSE_MS && cached.sources.length > 0) return cached.sources[0]?.size
    const sources: Source[] = []
    this.#probed.set(key, { at: Date.now(), sources })
    const started = Date.now()
    return await new Promise<number | undefined>(resolve => {
      void this.#discover(cid, source => {
        if (sources.length === 0) log.debug({ cid: key, ms: Date.now() - started, peer: source.key, whole: source.chunks === null }, 'probe found a source')
        sources.push(source)
        resolve(source.size)
      }, { providers: 'first', signal }).finally(() => {
        resolve(undefined)
        setTimeout(() => { if (this.#probed.get(key)?.sources === sources) this.#probed.delete(key) }, PROBE_REUSE_MS).unref()
      })
    })
  }

  /**
   * The signed chunk digests of a blob, for a request that named only its CID (`/blobs/{cid}`, the
   * GHCR layout): looked up in the current catalogs, so even then a big blob is fetched, verified
   * and streamed chunk by chunk from several peers instead of as one unverifiable-until-the-end run.
   */
  async chunkDigests (cid: CID, size: number): Promise<Uint8Array | undefined> {
    if (size <= CHUNK_SIZE) return undefined
    if (this.#digestIndex === undefined) {
      const index = (async () => {
        const out = new Map<string, Uint8Array>()
        for (const head of await this.#repo.heads()) {
          if (head.root === null) continue
          for await (const [, entry] of walk(this.#repo.nodes, head.root)) {
            if (entry.chunks !== undefined && !out.has(entry.cid.toString())) out.set(entry.cid.toString(), entry.chunks)
          }
        }
        return out
      })()
      this.#digestIndex = index
      index.catch(() => { if (this.#digestIndex === index) this.#digestIndex = undefined })
    }
    return (await this.#digestIndex).get(cid.toString())
  }

  /**
   * While `cid` is being fetched here: `tell` each chunk verified, then null once the blob is
   * published (blob-protocol.ts WatchFetch, for peers that asked with `watch`); returns how to stop.
   */
  watch (cid: CID, tell: (chunk: number | null) => void): (() => void) | undefined {
    const download = this.downloads.get(cid.toString())
    if (download === undefined || download.state !== 'running') return undefined
    const onChunk = (index: number): void => { tell(index) }
    const onDone = (): void => { stop(); tell(null) }
    const stop = (): void => {
      download.off('chunk', onChunk)
      download.off('done', onDone)
      download.off('failed', stop)
    }
    download.on('chunk', onChunk)
    download.once('done', onDone)
    download.once('failed', stop)
    return stop
  }

  /** Avoid this peer for a while (bad bytes). */
  penalise (peer: PeerId): void {
    this.badPeers++
    this.#penalties.set(peer.toString(), Date.now() + PENALTY_MS)
    void this.#host.hangUp(peer).catch(() => {})
  }

  #penalised (peer: PeerId): boolean {
    return (this.#penalties.get(peer.toString()) ?? 0) > Date.now()
  }

  close (): void {
    this.#repo.off('head', this.#onHead)
    for (const download of this.downloads.values()) download.fail(new Error('node stopping'))
    this.#client.destroy()
    this.#availability.close()
  }

  /**
   * Ask who has `cid`, reporting each answer as it comes: `peers` only, or every connected peer and
   * DHT providers. `providers`: 'after' (default) looks them up when no connected peer that is not
   * busy (BUSY_UPLOADS) has the whole blob, after all have answered or DHT_AFTER_MS — or, when this
   * node is connected to every peer it knows of, only if none has any of it; 'first' (a gateway miss: latency matters) looks
   * them up at once — on a LAN the record is usually in this node's own provider store — asks them
   * alone, and asks every connected peer only if no provider has the whole blob within
   * PROVIDERS_HEAD_START_MS: one question instead of one per peer, in a mesh where each costs a
   * libp2p stream at both ends; 'never' skips them.
   */
  async #discover (cid: CID, found: (source: Source) => void, options: DiscoverOptions = {}): Promise<void> {
    const { signal, absent = () => {}, providers = 'after' } = options
    const asked = new Set<string>()
    let whole = false
    let foundAny = false
    let gotWhole: () => void = () => {}
    const hasWhole = new Promise<void>(resolve => { gotWhole = resolve })
    const ask = async (peer: PeerId): Promise<void> => {
      const key = peer.toString()
      if (asked.has(key) || this.#penalised(peer) || peer.equals(this.#host.peerId)) return
      asked.add(key)
      this.availabilityAsked++
      try {
        const have = await this.#availability.ask(peer, cid, signal, options.watch === true)
        if (have === undefined) {
          absent(key)
          return
        }
        foundAny = true
        if (have.chunks === null && have.uploads < BUSY_UPLOADS) {
          whole = true
          gotWhole()
        }
        found({ ...have, peer, key, inflight: 0, failures: 0 })
      } catch (err) {
        log.debug({ peer: key, err: (err as Error).message }, 'availability query failed')
        absent(key)
      }
    }
    const peers = this.#host.getPeers()
    const connected = options.peers ?? [...sample(peers, ASK_PEERS), ...options.include ?? []] // `ask` skips repeats
    // Every peer of the mesh this node knows of is connected, and asked: a DHT walk cannot find more.
    const everyone = inClique(peers.length, this.#router.knownPeers())
    const askConnected = async (): Promise<void> => { await Promise.all(connected.map(ask)) }
    const lookUp = async (stop: AbortSignal): Promise<void> => {
      this.lookups++
      const lookups: Array<Promise<void>> = []
      try {
        for await (const peer of this.#router.findProviders(cid, { signal: AbortSignal.any([AbortSignal.timeout(3_000), stop, ...(signal === undefined ? [] : [signal])]) })) {
          lookups.push(ask(peer))
          if (lookups.length >= 8) break
        }
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'provider lookup ended')
      }
      await Promise.all(lookups)
    }
    if (options.peers !== undefined || providers === 'never') return await askConnected()
    if (providers === 'first') {
      const stop = new AbortController()
      void hasWhole.then(() => stop.abort())
      const lookup = lookUp(stop.signal)
      await Promise.race([hasWhole, lookup, new Promise(resolve => setTimeout(resolve, PROVIDERS_HEAD_START_MS))])
      if (!whole) await askConnected()
      await lookup
      return
    }
    const asking = askConnected()
    // A lookup can only add holders this node is not connected to. Connected to all it knows of,
    // it waits for their answers (sources found meanwhile are used at once) and looks up providers
    // only if none has any of the blob: a DHT walk is a stream at both ends per hop, and was the
    // biggest CPU cost of a 20-node fleet's replicas (the seed is always busy: 'whole' is rare).
    await (everyone ? asking : Promise.race([asking, new Promise(resolve => setTimeout(resolve, DHT_AFTER_MS))]))
    if (!whole && !(everyone && foundAny)) {
      // Ends as soon as an idle whole holder answered (a lookup visits up to K peers, a stream each).
      const stop = new AbortController()
      void hasWhole.then(() => stop.abort())
      await lookUp(stop.signal)
    }
    await asking
  }

  async #run (download: Download): Promise<void> {
    const cid = download.cid
    if (await this.#repo.blobs.has(cid)) {
      download.emit('done')
      return
    }
    const resumed = await download.resume()
    if (resumed > 0) log.info({ cid: cid.toString(), chunks: resumed, of: download.count }, 'resuming a transfer from its verified chunks')
    if (download.state !== 'running') return await download.finished
    const self = this.#host.peerId.toString()
    const sources = new Map<string, Source>()
    const inflight = new Set<number>()
    const started = Date.now()
    /** Per source: chunks pulled, failed; for the debug summary. */
    const tally = new Map<string, { full: boolean, ok: number, failed: number }>()
    let discoveries = 0
    let lastProgress = started
    /** Moving average of how long a chunk takes: on a slow network, readers wait for owners longer. */
    let pullMs = 0
    let lastVerified = started
    let wake: () => void = () => {}
    const poke = (): void => { wake() }
    const merge = (found: Source): void => {
      if (found.size !== download.size) return // disagrees with the catalog: not a source of this blob
      const known = sources.get(found.key)
      if (known === undefined) {
        sources.set(found.key, found)
      } else {
        // Update in place: pulls in flight hold this object and settle its counters.
        known.chunks = found.chunks
        known.url = found.url
        known.ticket = found.ticket
        known.uploads = found.uploads
        known.watching = found.watching
        known.unsourced = found.unsourced
      }
      poke()
    }
    /** A partial source that no longer answers, or no longer has the blob, is dropped. */
    const forget = (key: string): void => {
      const known = sources.get(key)
      if (known !== undefined && known.chunks !== null && known.inflight === 0) sources.delete(key)
    }
    let discovering: Promise<void> | undefined
    const discover = (peers: PeerId[] | undefined, providers: boolean): void => {
      discoveries++
      const include = peers === undefined ? sample([...sources.values()].filter(s => s.chunks !== null), ASK_PEERS).map(s => s.peer) : undefined
      discovering = this.#discover(cid, merge, { peers, include, providers: providers ? 'after' : 'never', absent: forget, watch: true }).finally(() => {
        discovering = undefined
        if (providers && sources.size === 0 && inflight.size === 0 && download.state === 'running') download.emit('sourceless')
        poke()
      })
    }
    /**
     * A peer asked with `watch` verified another chunk (null: published the blob). Polling every
     * partial source each second instead left chunks waiting for the next question (docs/performance.md).
     */
    const learning = new Set<string>()
    /** Ask a peer that is not a source (yet) what it has, once at a time. */
    const learn = (peer: PeerId): void => {
      const key = peer.toString()
      if (sources.has(key) || learning.has(key) || this.#penalised(peer) || peer.equals(this.#host.peerId)) return
      learning.add(key)
      void this.#discover(cid, merge, { peers: [peer], providers: 'never', watch: true }).finally(() => { learning.delete(key); poke() })
    }
    const noticed = (peer: PeerId, chunk: number | null): void => {
      const known = sources.get(peer.toString())
      if (known === undefined) {
        learn(peer) // it had nothing yet when asked (or was forgotten)
        return
      }
      if (chunk === null) known.chunks = null
      else if (known.chunks !== null && chunk < known.chunks.length) known.chunks[chunk] = 1
      poke()
    }
    this.#noticed.set(cid.toString(), noticed)
    const probed = this.#probed.get(cid.toString())
    if (probed !== undefined && Date.now() - probed.at < PROBE_REUSE_MS) for (const s of probed.sources) merge({ ...s, inflight: 0, failures: 0 })
    // A probe just found a whole copy: start pulling, and look around a little later.
    const head = [...sources.values()].some(s => s.chunks === null)
    let lastFull = head ? started : 0
    let fullEvery = head ? FIRST_REDISCOVERY_MS : 0
    let lastRefresh = 0
    let lookAgain = false
    const onChunk = (): void => {
      lastVerified = Date.now()
      if (download.verifiedCount === 1) log.debug({ cid: cid.toString(), ms: lastVerified - started, sources: sources.size, probed: probed !== undefined }, 'first chunk verified')
      // Alone so far? Others who started with us hold something by now too: look again (unless
      // that was the last chunk: a one-chunk blob is whole now, and its client waits for the CPU).
      if (download.verifiedCount <= SPREAD_CHUNKS && download.verifiedCount < download.count && ![...sources.values()].some(s => s.chunks !== null)) lookAgain = true
      poke()
    }
    download.on('chunk', onChunk)
    try {
      while (download.state === 'running') {
        this.loopTurns++
        const now = Date.now()
        const readerAt = download.readerPosition()
        const stallMs = Math.min(STALL_MS, Math.max(MIN_STALL_MS, 4 * pullMs))
        download.unsourced = ![...sources.values()].some(s => s.chunks === null)
        const pulls = planPulls({
          count: download.count,
          verified: download.verified,
          inflight,
          wanted: [...download.wanted.keys()],
          readerAt,
          sources: [...sources.values()].filter(s => (s.busyUntil ?? 0) <= now).map(s => withDeclined(s, now)),
          self,
          slots: MAX_INFLIGHT - inflight.size,
          perSource: PER_SOURCE,
          // Slow start: one pull per full holder until a chunk is verified, then more. Ten peers
          // that start at once do not see each other until they hold something; meanwhile each
          // takes what it wants from the seed, and every extra pull then would be a duplicate.
          perFullSource: Math.min(PER_SOURCE, 1 + download.verifiedCount),
          // …and the first chunks it takes beyond what a reader waits for are spread over the ring.
          order: download.verifiedCount < SPREAD_CHUNKS || readerAt === undefined ? 'ring' : 'reader',
          greedy: inflight.size === 0 && now - lastVerified > stallMs,
          readerStalled: [...download.wanted.values()].some(since => now - since > Math.max(READER_PATIENCE_MS, 4 * pullMs))
        })
        // Ask around only when it can help: at the start, and when nothing more can start although
        // slots are free and chunks are missing. Every question is a libp2p stream at both ends;
        // polling ten peers every few hundred milliseconds melted a 10-node swarm on two cores.
        const starved = pulls.length === 0 && inflight.size < MAX_INFLIGHT && download.verifiedCount + inflight.size < download.count
        if (discovering === undefined) {
          const partial = [...sources.values()].filter(s => s.chunks !== null)
          // A whole holder that is not busy: with one, the search can rest.
          const whole = [...sources.values()].some(s => s.chunks === null && s.uploads < BUSY_UPLOADS)
          // A chunked blob fetched alone from whole holders: others may have started it meanwhile
          // (they show up only once they verify a chunk), and every chunk they share spares the seed.
          const alone = partial.length === 0 && download.count > 1
          // A chunk no known source holds may be this node's to take from a whole holder it never
          // asked (it asks 64 connected peers at random): look again soon, not after the backoff.
          const orphaned = starved && hasOrphans(download.count, download.verified, inflight, sources.values())
          const every = orphaned ? Math.min(fullEvery, FIRST_REDISCOVERY_MS) : alone ? Math.min(fullEvery, ALONE_REDISCOVERY_MS) : fullEvery
          // The early second look finds downloaders that started with us: only a chunked blob can
          // be shared before it is whole.
          const early = download.count > 1 && fullEvery <= FIRST_REDISCOVERY_MS
          if ((now - lastFull >= every && (starved || early || !whole || alone)) || lookAgain) {
            lookAgain = false
            lastFull = lastRefresh = now
            fullEvery = fullEvery === 0 ? FIRST_REDISCOVERY_MS : Math.min(fullEvery * 3, MAX_REDISCOVERY_MS)
            discover(undefined, !whole)
          } else if (starved && now - lastRefresh >= REFRESH_MS && partial.some(s => !s.watching)) {
            lastRefresh = now
            // Only those that do not tell of their chunks (`watching`), and a sample: in a swarm of
            // N downloaders, asking all of them every second makes the control traffic grow with N².
            discover(sample(partial.filter(s => !s.watching), ASK_PEERS).map(s => s.peer), false)
          }
        }
        for (const { chunk, source: key } of pulls) {
          const source = sources.get(key)
          if (source === undefined) continue
          inflight.add(chunk)
          source.inflight++
          const pullStarted = Date.now()
          void this.#pull(download, chunk, source).then(() => {
            lastProgress = Date.now()
            pullMs = pullMs === 0 ? lastProgress - pullStarted : 0.8 * pullMs + 0.2 * (lastProgress - pullStarted)
            source.failures = 0
            const t = tally.get(key) ?? { full: source.chunks === null, ok: 0, failed: 0 }
            t.ok++
            tally.set(key, t)
          }, (err: Error) => {
            const t = tally.get(key) ?? { full: source.chunks === null, ok: 0, failed: 0 }
            t.failed++
            tally.set(key, t)
            log.debug({ peer: key, chunk, err: err.message }, 'chunk pull failed')
            if (err instanceof SparedError) {
              // Someone else just got this chunk from the source: take it from them once they
              // show up as a partial holder (ask around now), not from the source.
              source.declinedUntil ??= new Map()
              source.declinedUntil.set(chunk, Date.now() + err.forMs)
              lastProgress = Date.now()
              const holder = parsePeer(err.sentTo)
              /** The named peer, as a source: it may be asked for this chunk (chunk-plan.ts `named`). */
              const name = (named: Source | undefined): void => { if (named !== undefined) (named.named ??= new Set()).add(chunk) }
              const known = holder === undefined ? undefined : sources.get(holder.toString())
              if (holder === undefined || holder.equals(this.#host.peerId)) {
                lookAgain = true
              } else if (known?.chunks === null) {
                name(known) // a whole holder already known
              } else if (known?.chunks?.[chunk] !== 1) {
                void this.#discover(cid, merge, { peers: [holder], providers: 'never', watch: true }).then(() => { name(sources.get(holder.toString())) }).finally(poke)
              }
            } else if (err instanceof BusyError) {
              // Not a failure: the holder is serving others. Rest it, ask the peers it named (they
              // are fetching this blob from it), and, knowing no partial holder yet, look for idler
              // holders (it counts as busy now, so the search includes DHT providers). With partial
              // holders the loop looks again when starved: asking every peer again after each 503
              // was half the questions of a 2 MiB/s fleet's replicas in the flow model.
              const rest = busyRest(err.freeInMs, Math.random())
              source.busyUntil = Date.now() + rest
              source.uploads = Math.max(source.uploads, BUSY_UPLOADS)
              lastProgress = Date.now()
              for (const peer of err.receivers) learn(peer)
              if (Date.now() - lastFull >= FIRST_REDISCOVERY_MS && ![...sources.values()].some(s => s.chunks !== null)) lookAgain = true
              setTimeout(poke, rest).unref()
            } else if (err instanceof IntegrityError) {
              log.warn({ peer: key, cid: cid.toString(), chunk, err: err.message }, 'peer sent bad bytes: dropping it')
              this.penalise(source.peer)
              sources.delete(key)
            } else if (++source.failures >= 3) {
              log.debug({ peer: key, cid: cid.toString(), err: err.message }, 'source failed three times: dropping it')
              sources.delete(key)
            } else if (source.chunks !== null) {
              source.chunks[chunk] = 0 // a partial source lost it, or never had it: ask again later
            }
          }).finally(() => {
            inflight.delete(chunk)
            source.inflight--
            poke()
          })
        }
        if (download.state !== 'running') break
        if (inflight.size === 0 && discovering === undefined && Date.now() - lastProgress > NO_SOURCE_TIMEOUT) {
          throw new NotFoundError(`no peer could provide blob ${cid.toString()}`)
        }
        await new Promise<void>(resolve => {
          // Wake when the stall timer runs out too, if nothing in flight would wake the loop.
          const stallAt = lastVerified + stallMs + 1
          const untilStall = inflight.size === 0 && stallAt > Date.now() ? stallAt - Date.now() : Infinity
          const timer = setTimeout(resolve, Math.min(untilStall, discovering !== undefined ? REFRESH_MS : Math.min(REFRESH_MS, Math.max(50, lastFull + fullEvery - Date.now()))))
          wake = () => { clearTimeout(timer); resolve() }
        })
        wake = () => {}
      }
    } finally {
      download.off('chunk', onChunk)
      if (this.#noticed.get(cid.toString()) === noticed) this.#noticed.delete(cid.toString())
      log.debug({ cid: cid.toString(), ms: Date.now() - started, chunks: download.count, discoveries, sources: Object.fromEntries(tally) }, 'download ended')
    }
    await download.finished
  }

  /** Fetch one chunk from one source over the data plane. */
  async #pull (download: Download, chunk: number, source: Source): Promise<void> {
    const range = download.chunkRange(chunk)
    const response = await this.#client.get(source.url, `/p2p/blobs/${download.cid.toString()}`, {
      authorization: `Bearer ${source.ticket}`,
      range: `bytes=${range.start}-${range.end}`
    })
    if (response.status !== 206 && !(response.status === 200 && range.start === 0 && range.end === download.size - 1)) {
      for await (const _ of response.body) { /* drained: the connection is kept */ }
      const sentTo = response.headers['x-mirrormesh-sent-to']
      if (response.status === 503 && sentTo !== undefined) {
        const forMs = Number(response.headers['x-mirrormesh-spared-ms'] ?? SPARE_MS)
        throw new SparedError('the source just sent this chunk to another peer', sentTo, Number.isFinite(forMs) ? Math.min(SPARE_MS, Math.max(0, forMs)) : SPARE_MS)
      }
      if (response.status === 503) {
        const receivers = (response.headers['x-mirrormesh-receivers'] ?? '').split(',').slice(0, MAX_RECEIVERS).map(parsePeer).filter(p => p !== undefined)
        const freeIn = Number(response.headers['x-mirrormesh-busy-ms'])
        throw new BusyError('every upload slot of the source is taken', receivers, Number.isFinite(freeIn) && freeIn >= 0 ? freeIn : undefined)
      }
      throw new Error(`data plane answered ${String(response.status)}`)
    }
    let received = 0
    // Counted when the chunk is accepted, not when writeChunk returns: accepting the last chunk
    // publishes the blob first, and a status read meanwhile would show it held but not fetched.
    const accepted = (index: number): void => { if (index === chunk) this.bytesFetched += received }
    download.on('chunk', accepted)
    try {
      await download.writeChunk(chunk, (async function * () {
        for await (const data of response.body) {
          received += data.length
          yield data
        }
      })())
    } finally {
      download.off('chunk', accepted)
    }
  }
}
