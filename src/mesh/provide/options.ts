/** Tuning and counters of the announcer (src/mesh/announcer.ts). */
import type { HandlerStats } from './handler.ts'
import type { SweepCounters } from './sweep.ts'

/** Tuning of the announcer; the defaults suit a LAN fleet of tens to hundreds of nodes. */
export interface AnnouncerOptions {
  /** K: how many nodes (this one included) hold each record (protocols/provide explains 8). */
  replicas?: number
  /** How long provide()/withdraw() calls gather before a sweep (ms). */
  sweepDelay?: number
  /** While `busy()`, how long they may gather instead (ms): see `busy`. */
  busySweepDelay?: number
  /**
   * Whether new records may wait: the node is fetching blobs, and its peers find it without them
   * (src/mesh/mesh.ts: a LAN clique, whose members ask each other). A replicating node holds a new
   * blob every second or so, and a sweep per blob (its explorations, a stream to every record
   * holder, the FIND_NODE answers at every peer) took half the CPU of a 20-node fleet on two
   * cores. Sweeps then gather up to `busySweepDelay`.
   */
  busy?: () => boolean
  /** Queue length that starts a sweep at once. */
  sweepThreshold?: number
  /** Most CIDs handled by one sweep (bounds memory when re-announcing a large store). */
  maxSweep?: number
  /** Re-announce every held CID this often (ms); must stay well below the DHT's `provideValidity`. */
  reannounceInterval?: number
  /** Debounce before records are sent to peers that joined (ms). */
  catchUpDelay?: number
  /** How long an explored keyspace region counts as known (ms). */
  exploreTtl?: number
  /** While explorations still find new peers (the mesh is forming), explore again this often (ms). */
  settleTtl?: number
  /** Budget of one keyspace exploration (ms). */
  exploreTimeout?: number
  /** Peers sent to at once. */
  concurrency?: number
  /** Time for one request to be sent and stored (ms), both directions. */
  timeout?: number
  /** Inbound requests handled at once over all connections. */
  maxInbound?: number
}

/** The defaults. */
export const ANNOUNCER_DEFAULTS: Required<AnnouncerOptions> = {
  replicas: 8,
  sweepDelay: 250,
  busySweepDelay: 15_000,
  busy: () => false,
  sweepThreshold: 5000,
  maxSweep: 20_000,
  // Hourly, against the 6 h provideValidity of src/mesh/host.ts: five missed rounds lose nothing.
  reannounceInterval: 3600_000,
  catchUpDelay: 1000,
  exploreTtl: 600_000,
  settleTtl: 5000,
  exploreTimeout: 5000,
  concurrency: 16,
  // A LAN stores a full request in well under a second: a peer 15 s late is better skipped (its
  // records move to the next closest) than waited for by every later record of the sweep.
  timeout: 15_000,
  maxInbound: 32
}

/** Counters for status pages and tests. */
export interface AnnouncerStats extends SweepCounters {
  held: number
  pending: number
  view: number
  /** `getClosestPeers` walks run to learn the keyspace. */
  explorations: number
  inbound: HandlerStats
}
