/** The mesh's parts, as interfaces the node wires together (each has a real libp2p implementation). */
import type { PeerId } from '@libp2p/interface'
import type { CID } from '../store/cid.ts'

/**
 * Who holds which blob, on the LAN Kademlia DHT. Records are announced only for blobs held and
 * verified, in batches (one message per peer per sweep, not one DHT query per CID), re-announced on
 * a schedule, and withdrawn when a blob is dropped.
 */
export interface ContentRouter {
  start (): Promise<void>
  stop (): Promise<void>
  /** Announce that this node holds these blobs (queued and batched). */
  provide (cids: CID[]): void
  /** Stop announcing these blobs and ask the peers that hold our records to drop them. */
  withdraw (cids: CID[]): void
  /** Peers that announced `cid`. */
  findProviders (cid: CID, options?: { signal?: AbortSignal }): AsyncIterable<PeerId>
  /** How many peers of this mesh (DHT servers) the router knows of, connected or not. */
  knownPeers (): number
  /** Resolve once everything queued so far has been sent (tests and benchmarks). */
  flush (): Promise<void>
}
