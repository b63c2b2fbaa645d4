/**
 * A node's part of the fleet: its libp2p host and the services on it — head exchange, catalog
 * fetch, blob availability, the data plane, DHT announcements, the fetcher and the replication
 * policy. `node.ts` creates one and hands the gateway `content()`.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { CID } from '../store/cid.ts'
import type { GatewayContent } from '../gateway/interface.ts'
import type { GatewayMetrics } from '../gateway/metrics.ts'
import type { Repo } from '../node/repo.ts'
import { logger } from '../util/logger.ts'
import { TokenBucket } from '../util/token-bucket.ts'
import { createAnnouncer, type Announcer, type AnnouncerStats } from './announcer.ts'
import { handleBlobProtocol } from './blob-protocol.ts'
import { handleCatalogProtocol } from './catalog-protocol.ts'
import { DataPlane } from './data-plane.ts'
import { BlobFetcher, inClique } from './fetcher.ts'
import { HeadSync } from './head-sync.ts'
import { createHost, type Host } from './host.ts'
import { loadPeerKey, readSwarmKey } from './identity.ts'
import { MeshContent } from './mesh-content.ts'
import { Replicator, type ReplicationPolicy, type ReplicationStatus } from './replicator.ts'
import { Tickets } from './tickets.ts'

const log = logger('mesh')

/** How to join the mesh. */
export interface MeshOptions {
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  swarmKeyFile?: string
  dataPlane: { host: string, port: number }
  replicate: ReplicationPolicy
  cacheBytes?: number
  /** Emulated link speeds of the data plane in bytes/s (simulations only: `serve --emulate-link`). */
  link?: { up?: number, down?: number }
}

/** What `/api/status` shows of the mesh. */
export interface MeshStatus {
  peerId: string
  addrs: string[]
  dataPlanePort: number
  peers: string[]
  replication: ReplicationStatus
  bytesServedToPeers: number
  bytesFetchedFromPeers: number
  badPeersDropped: number
  /** Control traffic: availability questions asked and answered, DHT lookups, data-plane requests and 503s, the announcer's sweeps, provide messages and keyspace explorations. */
  control: { asked: number, answered: number, lookups: number, loopTurns: number, dataRequests: number, busy: number, spared: number, sweeps: number, provideMessages: number, explorations: number }
}

/** The announcer's share of `MeshStatus.control`. */
function announcing (stats: AnnouncerStats): { sweeps: number, provideMessages: number, explorations: number } {
  return { sweeps: stats.sweeps, provideMessages: stats.messagesSent, explorations: stats.explorations }
}

/** The running mesh services of a node. */
export class Mesh {
  readonly host: Host
  readonly router: Announcer
  readonly fetcher: BlobFetcher
  readonly #heads: HeadSync
  readonly #dataPlane: DataPlane
  readonly #replicator: Replicator
  readonly #answered: { count: number }

  private constructor (host: Host, router: Announcer, fetcher: BlobFetcher, heads: HeadSync, dataPlane: DataPlane, replicator: Replicator, answered: { count: number }) {
    this.host = host
    this.router = router
    this.fetcher = fetcher
    this.#heads = heads
    this.#dataPlane = dataPlane
    this.#replicator = replicator
    this.#answered = answered
  }

  /** Start the host and every service; on failure, stop what started. */
  static async start (repo: Repo, options: MeshOptions): Promise<Mesh> {
    const host = await createHost({
      privateKey: await loadPeerKey(repo.home),
      listen: options.listen,
      bootstrap: options.bootstrap,
      mdns: options.mdns,
      swarmKey: options.swarmKeyFile === undefined ? undefined : await readSwarmKey(options.swarmKeyFile)
    })
    try {
      const late: { replicator?: Replicator, fetcher?: BlobFetcher, router?: Announcer } = {}
      // New provider records may wait while this node fetches where they would tell nobody anything:
      // in a LAN clique (fetcher.ts inClique). Beyond one, peers find holders through the DHT.
      const clique = (): boolean => late.router !== undefined && inClique(host.getPeers().length, late.router.knownPeers())
      const router = late.router = createAnnouncer(host, { busy: () => (late.fetcher?.downloads.size ?? 0) > 0 && clique() })
      await router.start()
      const tickets = new Tickets()
      const bucket = (rate: number | undefined): TokenBucket | undefined => rate === undefined ? undefined : new TokenBucket(rate)
      const fetcher = late.fetcher = new BlobFetcher(host, repo, router, cid => late.replicator?.fetched(cid), { down: bucket(options.link?.down) })
      const connected = (peer: string): boolean => { try { return host.getConnections(peerIdFromString(peer)).length > 0 } catch { return false } }
      const dataPlane = new DataPlane({ store: repo.blobs, tickets, download: cid => fetcher.downloads.get(cid), connected }, { up: bucket(options.link?.up) })
      await dataPlane.listen(options.dataPlane.host, options.dataPlane.port)
      await handleCatalogProtocol(host, repo)
      const answered = { count: 0 }
      await handleBlobProtocol(host, async (cid: CID) => {
        answered.count++
        const size = await repo.blobs.size(cid)
        if (size !== undefined) return { size, chunks: null }
        const download = fetcher.downloads.get(cid.toString())
        return download === undefined || download.verifiedCount === 0 ? undefined : { size: download.size, chunks: download.verified, unsourced: download.unsourced }
      }, (cid, peer) => tickets.issue(cid.toString(), peer.toString()), dataPlane, (cid, tell) => fetcher.watch(cid, tell))
      const heads = new HeadSync(host, repo)
      await heads.start()
      const replicator = late.replicator = new Replicator(repo, fetcher, router, { policy: options.replicate, quotaBytes: options.cacheBytes, self: host.peerId.toString() })
      replicator.start()
      log.info({ peerId: host.peerId.toString(), addrs: host.getMultiaddrs().map(String), dataPlane: dataPlane.port, replicate: options.replicate }, 'mesh started')
      return new Mesh(host, router, fetcher, heads, dataPlane, replicator, answered)
    } catch (err) {
      await Promise.resolve(host.stop()).catch(() => {})
      throw err
    }
  }

  /** Gateway content backed by the store and, on a miss, by peers. */
  content (local: GatewayContent, metrics: GatewayMetrics): GatewayContent {
    return new MeshContent(local, this.fetcher, metrics, cid => this.#replicator.touch(cid))
  }

  status (): MeshStatus {
    return {
      peerId: this.host.peerId.toString(),
      addrs: this.host.getMultiaddrs().map(String),
      dataPlanePort: this.#dataPlane.port,
      peers: this.host.getPeers().map(String),
      replication: this.#replicator.status(),
      bytesServedToPeers: this.#dataPlane.bytesServed,
      bytesFetchedFromPeers: this.fetcher.bytesFetched,
      badPeersDropped: this.fetcher.badPeers,
      control: {
        asked: this.fetcher.availabilityAsked,
        answered: this.#answered.count,
        lookups: this.fetcher.lookups,
        loopTurns: this.fetcher.loopTurns,
        dataRequests: this.#dataPlane.requests,
        busy: this.#dataPlane.busyAnswers,
        spared: this.#dataPlane.sparedAnswers,
        ...announcing(this.router.stats())
      }
    }
  }

  /** Stop services, then the host. */
  async stop (): Promise<void> {
    await this.#heads.stop()
    await this.#replicator.stop()
    this.fetcher.close()
    await this.#dataPlane.close()
    await this.router.stop()
    await this.host.stop()
  }
}
