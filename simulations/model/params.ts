/**
 * Parameters of the swarm model. Protocol constants mirror the product (src/mesh/fetcher.ts,
 * replicator.ts, head-sync.ts, announcer.ts, host.ts; the chunk choice itself is the product's own
 * `planPulls`, imported); environment constants (delays) are what this machine measured.
 */
import { WATCHERS_PER_BLOB } from '../../src/mesh/blob-protocol.ts'
import { UPLOAD_SLOTS } from '../../src/mesh/data-plane.ts'
import { ASK_PEERS, MIN_STALL_MS, STALL_MS } from '../../src/mesh/fetcher.ts'
import { ANNOUNCER_DEFAULTS } from '../../src/mesh/provide/options.ts'
import { NAMED_RECEIVERS } from '../../src/mesh/receivers.ts'
import { PARKED, WORKERS } from '../../src/mesh/replicator.ts'
import { SPARE_FACTOR, SPARE_MIN_MS, SPARE_MS } from '../../src/mesh/spare-list.ts'
import { CHUNK_SIZE } from '../../src/store/hash.ts'
import { linkOf, payloadItems, policyOf, siteOf, type Scenario, type ScenarioEvent } from '../lib/scenario.ts'

/** The protocol, as implemented. */
export interface Protocol {
  chunkSize: number
  /** Chunks in flight per download, and per source (fetcher.ts). */
  maxInflight: number
  perSource: number
  /** Concurrent downloads of the `full` replicator, and parked ones that found no source (replicator.ts). */
  workers: number
  park: number
  /** Replicator: a pass that left blobs missing runs again after this (s). */
  retryDelay: number
  /** Fetcher timers (s): first full re-discovery, tripling up to the max; partial refresh; stale partial source; stall → greedy (at most); no source → fail. */
  firstRediscovery: number
  maxRediscovery: number
  /** …at least this often while a chunked blob has no partial source. */
  aloneRediscovery: number
  refresh: number
  stale: number
  stall: number
  noSource: number
  /** Connected peers asked per discovery; providers taken from a DHT lookup; look up after (s). */
  askPeers: number
  lookupProviders: number
  dhtAfter: number
  /** Data-plane responses a node sends at once; more get 503 (data-plane.ts UPLOAD_SLOTS). */
  uploadSlots: number
  /** Provider-record replicas: an announcing node connects to the K nodes closest to the blob. */
  replicas: number
  /** Anti-entropy period (s); a node pushes a head it adopts at once. */
  antiEntropy: number
  maxConnections: number
  /** Random earlier peers each node bootstraps to, besides the seed (the fleet harness's choice). */
  bootstrapPeers: number
  /** Order in which the replicator fetches missing blobs: the catalog's, or one of each node's own (the product ranks by sha256(peer ID ‖ CID)). */
  order: 'catalog' | 'random'
  /** A downloader that sees no other spreads its first chunks over the ring (fetcher.ts SPREAD_CHUNKS). */
  spreadChunks: number
  /** A chunk sent to one peer is declined to others for at most this long (s; spare-list.ts SPARE_MS)… */
  spareWindow: number
  /** …for this many times the send's own time, and at least spareMin (s); 0: always spareWindow. */
  spareFactor: number
  spareMin: number
  /** A chunk in flight to one peer is declined to others when resending it would be slow (spare-list.ts slowToResend; here at the source's link rate). */
  spareInFlight: boolean
  /** While a node of a clique fetches, its new provider records gather up to this long (s; announcer's busySweepDelay). */
  busySweepDelay: number
  /**
   * A node fetching a blob tells the peers that asked about it (`watch`, at most `watchers` per
   * blob) of each chunk it verifies, one message each (blob-protocol.ts); false: they learn only by
   * asking again every `refresh` (the product before session 7).
   */
  push: boolean
  watchers: number
  /** A source that answers 503 (busy) names up to this many peers it sent chunks of the blob to lately (receivers.ts); the fetcher asks them. */
  busyNames: number
  /** The stall timer: four times a pull's time, within [stallMin, stall] (s). */
  stallMin: number
}

/** The environment: delays measured on this machine (seconds) and link capacities (bytes/s). */
export interface Environment {
  /** Data-plane request to first byte. */
  requestLatency: number
  /** One availability round over libp2p. */
  askDelay: number
  /** A DHT provider lookup. */
  lookupDelay: number
  /** From hearing of a newer head to adopting it (exchange + catalog sync). */
  headSync: number
  /** From holding a blob to its provider record being found (sweep debounce + sweep). */
  announceDelay: number
  /** Whole-file hashing (bytes/s): what the hash has not taken as the file grew is hashed before publishing. */
  verifyRate: number
  /** A (re)started node is up and dialling after this. */
  startDelay: number
  /**
   * Bytes per second the whole testbed's CPU can move between nodes (undefined: every node has its
   * own machine). The loopback fleet runs 20 nodes on 2 cores: `validate.ts` measures this from the
   * fleet's CPU time per byte moved.
   */
  cpuBytesPerSecond?: number
  up: Float64Array
  down: Float64Array
}

/** One model run. */
export interface ModelParams {
  nodes: number
  /** Blob sizes in bytes, in the catalog's walk order. */
  blobs: number[]
  protocol: Protocol
  env: Environment
  /** `full` or `on-demand` per node (node 0, the seed, holds everything). */
  policy: Array<'full' | 'on-demand'>
  site: Array<string | undefined>
  events: ScenarioEvent[]
  /** Nodes absent at t = 0 (they join by event). */
  absent: Set<number>
  /** Smallest and largest time step of the fluid model (s), the give-up time, and a wall-clock budget. */
  dt: number
  maxDt: number
  maxTime: number
  maxWallSeconds: number
  seed: number
}

/** The product's constants. */
export const PROTOCOL: Protocol = {
  chunkSize: CHUNK_SIZE,
  maxInflight: 8,
  perSource: 3,
  workers: WORKERS,
  park: PARKED,
  retryDelay: 5,
  firstRediscovery: 0.5,
  maxRediscovery: 5,
  aloneRediscovery: 2,
  refresh: 1,
  stale: 5,
  stall: STALL_MS / 1000,
  noSource: 20,
  askPeers: ASK_PEERS,
  lookupProviders: 8,
  dhtAfter: 0.1,
  replicas: 8,
  uploadSlots: UPLOAD_SLOTS,
  antiEntropy: 30,
  maxConnections: 400,
  bootstrapPeers: 2,
  order: 'random',
  spreadChunks: 3,
  spareWindow: SPARE_MS / 1000,
  spareFactor: SPARE_FACTOR,
  spareMin: SPARE_MIN_MS / 1000,
  spareInFlight: true,
  busySweepDelay: ANNOUNCER_DEFAULTS.busySweepDelay / 1000,
  push: true,
  watchers: WATCHERS_PER_BLOB,
  busyNames: NAMED_RECEIVERS,
  stallMin: MIN_STALL_MS / 1000
}

/** Delays on this machine (loopback, 2 cores shared with the fleet's own processes). */
export const LOOPBACK = {
  requestLatency: 0.005,
  askDelay: 0.02,
  lookupDelay: 0.1,
  headSync: 1.0,
  announceDelay: 1.5,
  verifyRate: 1e9,
  startDelay: 2
}

/**
 * Delays on a real LAN (1 GbE, hosts not CPU-starved): sub-millisecond round trips, a head sync of
 * a few small catalog nodes (one hop between two idle nodes: 110–130 ms p50 here, `npm run
 * bench:head-sync`), the announcer's 250 ms sweep debounce.
 */
export const LAN = {
  requestLatency: 0.001,
  askDelay: 0.002,
  lookupDelay: 0.02,
  headSync: 0.1,
  announceDelay: 0.5,
  verifyRate: 1.5e9,
  startDelay: 2
}

/** 1 GbE goodput (BRIEF §5: 118 MB/s). */
export const GBE = 118e6

/** The replicator's order: the catalog walk, depth first in bytewise name order (`1.0.10` < `1.0.2`). */
export function walkOrder<T extends { name: string, version: string }> (items: T[]): T[] {
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
  return [...items].sort((a, b) => cmp(a.name, b.name) || cmp(a.version, b.version))
}

/** Model parameters for a scenario (blob sizes measured by a fleet run, if given). */
export function fromScenario (s: Scenario, options: { sizes?: number[], env?: Partial<Omit<Environment, 'up' | 'down'>>, dt?: number, seed?: number, nodes?: number } = {}): ModelParams {
  const nodes = options.nodes ?? s.nodes
  const items = payloadItems(s)
  // A crate file is its payload plus tar and gzip framing (~1.5 KiB here; exact sizes when measured).
  const sized = items.map((item, i) => ({ ...item, size: options.sizes?.[i] ?? item.payload + 1536 }))
  const up = new Float64Array(nodes)
  const down = new Float64Array(nodes)
  for (let i = 0; i < nodes; i++) {
    const link = linkOf(s, i)
    up[i] = link.up ?? 1e12
    down[i] = link.down ?? 1e12
  }
  const sizes = walkOrder(sized).map(x => x.size)
  const absent = new Set((s.events ?? []).filter(e => e.action === 'join').flatMap(e => e.nodes ?? []))
  const slowest = Math.min(...up, ...down)
  const total = sizes.reduce((a, b) => a + b, 0)
  return {
    nodes,
    blobs: sizes,
    protocol: PROTOCOL,
    env: { ...LOOPBACK, ...options.env, up, down },
    policy: Array.from({ length: nodes }, (_, i) => policyOf(s, i)),
    site: Array.from({ length: nodes }, (_, i) => siteOf(s, i)),
    events: s.events ?? [],
    absent,
    // A step well below a chunk's time on the slowest link, and never above 50 ms.
    dt: options.dt ?? Math.min(0.05, Math.max(0.002, CHUNK_SIZE / slowest / 20)),
    maxDt: 0.1,
    maxTime: Math.max(600, 40 * total / slowest),
    maxWallSeconds: 1800,
    seed: options.seed ?? 1
  }
}
