/**
 * Sparing the uploader (BitTorrent's "super-seeding", in its simplest form): a node that has just
 * sent a range of a blob whole to one peer declines to send the same range to another for a short
 * while (503), so the second takes it from the first, who has verified it by then. Each chunk then
 * leaves a seed about once per window however many replicas want it, and the copies multiply peer
 * to peer. The refusal names the peer that has the range, so the requester asks that one instead
 * of searching; a range nobody else could serve is sent again after the window.
 *
 * Only completed transfers count: declining while the first copy is still in flight made the
 * others wait for it (4× slower completion in the flow model at N = 100, simulations/model).
 */
import { LRUCache } from 'lru-cache'

/** How long a range sent to one peer is not sent to another. */
export const SPARE_MS = 4_000

/** Ranges recently sent whole, and to whom. */
export class SpareList {
  readonly #sent = new LRUCache<string, { holder: string, at: number }>({ max: 16_384 })
  readonly #windowMs: number

  constructor (windowMs = SPARE_MS) {
    this.#windowMs = windowMs
  }

  /** `holder` received `range` of `cid` whole. */
  sent (cid: string, start: number, end: number, holder: string, now = Date.now()): void {
    this.#sent.set(`${cid} ${start}-${end}`, { holder, at: now })
  }

  /**
   * The holder tag of the other peer that received `range` whole within the window (the requester
   * can take it from that one); undefined: send it.
   */
  declines (cid: string, start: number, end: number, holder: string, now = Date.now()): string | undefined {
    const last = this.#sent.get(`${cid} ${start}-${end}`)
    return last !== undefined && last.holder !== holder && now - last.at < this.#windowMs ? last.holder : undefined
  }
}
