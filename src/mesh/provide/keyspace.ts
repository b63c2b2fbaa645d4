/**
 * Kademlia keyspace arithmetic, computed exactly as `@libp2p/kad-dht` 16 does: a CID's key is the
 * sha256 of its multihash bytes, a peer's key the sha256 of its multihash peer ID, and closeness is
 * the XOR distance read as a big-endian number. If this drifts from kad-dht, batches land on peers
 * that GET_PROVIDERS lookups never ask.
 */
import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { CID } from '../../store/cid.ts'

/** A point in the keyspace: the 32-byte key, with its first 64 bits as two words for fast comparisons. */
export interface KadPoint {
  readonly key: Uint8Array
  readonly hi: number
  readonly lo: number
}

/** Anything placed in the keyspace. */
export interface Located {
  readonly point: KadPoint
}

/** The keyspace point of arbitrary bytes (kad-dht's `convertBuffer`). */
export function kadPoint (bytes: Uint8Array): KadPoint {
  const key = createHash('sha256').update(bytes).digest()
  return { key, hi: key.readUInt32BE(0), lo: key.readUInt32BE(4) }
}

/** The keyspace point of a CID: kad-dht hashes the multihash, so the codec does not move a record. */
export function cidPoint (cid: CID): KadPoint {
  return kadPoint(cid.multihash.bytes)
}

/** The keyspace point of a peer (kad-dht's `convertPeerId`). */
export function peerPoint (peer: PeerId): KadPoint {
  return kadPoint(peer.toMultihash().bytes)
}

/** Negative when `a` is closer to `target` than `b`, positive when farther, 0 when equal. */
export function compareDistance (target: KadPoint, a: KadPoint, b: KadPoint): number {
  const ah = (target.hi ^ a.hi) >>> 0
  const bh = (target.hi ^ b.hi) >>> 0
  if (ah !== bh) return ah - bh
  const al = (target.lo ^ a.lo) >>> 0
  const bl = (target.lo ^ b.lo) >>> 0
  if (al !== bl) return al - bl
  // Equal first 64 bits: astronomically rare, but the order must still be total and match kad-dht.
  for (let i = 8; i < 32; i++) {
    const d = ((target.key[i] as number) ^ (a.key[i] as number)) - ((target.key[i] as number) ^ (b.key[i] as number))
    if (d !== 0) return d
  }
  return 0
}

/**
 * The `count` candidates closest to `target`, nearest first. A bounded insertion keeps this
 * O(candidates × count) without sorting the whole view for every CID of a sweep.
 */
export function closest<T extends Located> (target: KadPoint, candidates: Iterable<T>, count: number): T[] {
  const best: T[] = []
  if (count <= 0) return best
  for (const candidate of candidates) {
    const last = best[best.length - 1]
    if (best.length >= count && last !== undefined && compareDistance(target, candidate.point, last.point) >= 0) continue
    let at = best.length
    while (at > 0 && compareDistance(target, candidate.point, (best[at - 1] as T).point) < 0) at--
    best.splice(at, 0, candidate)
    if (best.length > count) best.pop()
  }
  return best
}

/** The region (top `bits` bits) of the keyspace a point lies in: sweeps explore the DHT region by region. */
export function regionOf (point: KadPoint, bits: number): number {
  return bits <= 0 ? 0 : point.hi >>> (32 - bits)
}
