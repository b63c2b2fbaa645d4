/**
 * Fetching blobs from peers: find who has what (ask connected peers, then the DHT), pull chunks
 * from several of them in parallel over the data plane, verify each chunk, and route around
 * failures — a peer that sends bad bytes is dropped and avoided; one that vanishes mid-transfer
 * just loses its chunks to another source. Concurrent requests for one blob share one download.
 */
import { Agent, request, type IncomingMessage } from 'node:http'
import type { PeerId } from '@libp2p/interface'
import type { Repo } from '../node/repo.ts'
import type { CID } from '../store/cid.ts'
import { IntegrityError, NotFoundError } from '../util/errors.ts'
import { logger } from '../util/logger.ts'
import { askAvailability, type Availability } from './blob-protocol.ts'
import { Download } from './download.ts'
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

interface Source extends Availability {
  peer: PeerId
  inflight: number
  failures: number
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
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 16 })
  readonly #onFetched: (cid: CID, size: number) => void
  bytesFetched = 0
  badPeers = 0

  constructor (host: Host, repo: Repo, router: ContentRouter, onFetched: (cid: CID, size: number) => void = () => {}) {
    this.#host = host
    this.#repo = repo
    this.#router = router
    this.#onFetched = onFetched
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

  /** The size of a blob some peer has, for requests that name only a CID. */
  async probe (cid: CID, signal?: AbortSignal): Promise<number | undefined> {
    for (const source of await this.#discover(cid, new Map(), signal)) return source.size
    return undefined
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
    for (const download of this.downloads.values()) download.fail(new Error('node stopping'))
    this.#agent.destroy()
  }

  /** Ask connected peers, then DHT providers, what they have of `cid`. */
  async #discover (cid: CID, known: Map<string, Source>, signal?: AbortSignal): Promise<Source[]> {
    const asked = new Set<string>()
    const found: Source[] = []
    const ask = async (peer: PeerId): Promise<void> => {
      const key = peer.toString()
      if (asked.has(key) || this.#penalised(peer) || peer.equals(this.#host.peerId)) return
      asked.add(key)
      try {
        const have = await askAvailability(this.#host, peer, cid, signal)
        if (have !== undefined) found.push({ ...have, peer, inflight: known.get(key)?.inflight ?? 0, failures: known.get(key)?.failures ?? 0 })
      } catch (err) {
        log.debug({ peer: key, err: (err as Error).message }, 'availability query failed')
      }
    }
    await Promise.all(this.#host.getPeers().slice(0, 64).map(ask))
    if (found.filter(s => s.chunks === null).length === 0) {
      const lookups: Array<Promise<void>> = []
      try {
        for await (const peer of this.#router.findProviders(cid, { signal: AbortSignal.any([AbortSignal.timeout(3_000), ...(signal === undefined ? [] : [signal])]) })) {
          lookups.push(ask(peer))
          if (lookups.length >= 8) break
        }
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'provider lookup ended')
      }
      await Promise.all(lookups)
    }
    return found
  }

  async #run (download: Download): Promise<void> {
    const cid = download.cid
    if (await this.#repo.blobs.has(cid)) {
      download.emit('done')
      return
    }
    const sources = new Map<string, Source>()
    const inflight = new Set<number>()
    let lastDiscovery = 0
    let lastProgress = Date.now()
    let wake: () => void = () => {}
    const has = (source: Source, chunk: number): boolean => source.chunks === null || source.chunks[chunk] === 1
    while (download.state === 'running') {
      const missing = download.missing().filter(i => !inflight.has(i))
      const servable = missing.filter(i => [...sources.values()].some(s => has(s, i)))
      if ((servable.length === 0 && inflight.size === 0) || Date.now() - lastDiscovery > 1_000) {
        lastDiscovery = Date.now()
        for (const source of await this.#discover(cid, sources)) {
          if (source.size !== download.size) continue // disagrees with the catalog: not a source of this blob
          sources.set(source.peer.toString(), source)
        }
      }
      // Chunks a reader waits for first, then random order, so concurrent downloaders spread out.
      const order = [...[...download.wanted].filter(i => !inflight.has(i) && download.verified[i] === 0), ...shuffle(missing)]
      for (const chunk of order) {
        if (inflight.size >= MAX_INFLIGHT) break
        if (inflight.has(chunk)) continue
        const source = [...sources.values()].filter(s => has(s, chunk) && s.inflight < PER_SOURCE).sort((a, b) => a.inflight - b.inflight)[0]
        if (source === undefined) continue
        inflight.add(chunk)
        source.inflight++
        void this.#pull(download, chunk, source).then(() => {
          lastProgress = Date.now()
          source.failures = 0
        }, (err: Error) => {
          if (err instanceof IntegrityError) {
            log.warn({ peer: source.peer.toString(), cid: cid.toString(), chunk, err: err.message }, 'peer sent bad bytes: dropping it')
            this.penalise(source.peer)
            sources.delete(source.peer.toString())
          } else if (++source.failures >= 3) {
            sources.delete(source.peer.toString())
          } else if (source.chunks !== null) {
            source.chunks[chunk] = 0 // a partial source lost it, or never had it: ask again later
          }
        }).finally(() => {
          inflight.delete(chunk)
          source.inflight--
          wake()
        })
      }
      if (download.state !== 'running') break
      if (inflight.size === 0 && Date.now() - lastProgress > NO_SOURCE_TIMEOUT) {
        throw new NotFoundError(`no peer could provide blob ${cid.toString()}`)
      }
      await new Promise<void>(resolve => {
        wake = resolve
        const timer = setTimeout(resolve, inflight.size === 0 ? 300 : 1_000)
        download.once('chunk', () => { clearTimeout(timer); resolve() })
      })
    }
    await download.finished
  }

  /** Fetch one chunk from one source over the data plane. */
  async #pull (download: Download, chunk: number, source: Source): Promise<void> {
    const range = download.chunkRange(chunk)
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${source.url}/p2p/blobs/${download.cid.toString()}`, {
        agent: this.#agent,
        headers: { authorization: `Bearer ${source.ticket}`, range: `bytes=${range.start}-${range.end}` },
        timeout: 30_000
      }, resolve)
      req.on('timeout', () => req.destroy(new Error('data plane timeout')))
      req.on('error', reject)
      req.end()
    })
    if (response.statusCode !== 206 && !(response.statusCode === 200 && range.start === 0 && range.end === download.size - 1)) {
      response.resume()
      throw new Error(`data plane answered ${String(response.statusCode)}`)
    }
    let received = 0
    await download.writeChunk(chunk, (async function * () {
      for await (const data of response) {
        received += (data as Buffer).length
        yield data as Buffer
      }
    })())
    this.bytesFetched += received
  }
}

function shuffle<T> (items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const a = items[i] as T
    items[i] = items[j] as T
    items[j] = a
  }
  return items
}
