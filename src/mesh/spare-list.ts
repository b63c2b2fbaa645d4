/**
 * Sparing the uploader (BitTorrent's "super-seeding", in its simplest form): a node that has just
 * sent a range of a blob whole to one peer declines to send the same range to another for a short
 * while (503), so the second takes it from the first, who has verified it by then. Each chunk then
 * leaves a seed about once per window however many replicas want it, and the copies multiply peer
 * to peer. The refusal names the peer that has the range, so the requester asks that one instead
 * of searching; a range nobody else could serve is sent again after the window.
 *
 * A copy still in flight counts only when sending the range again would be slow: at this
 * uploader's recent rate, shared with one more upload, it would take longer than SPARE_IN_FLIGHT_MS,
 * about what the requester waits to see the first recipient holding it. On fast links a duplicate
 * is cheaper than that wait (declining every copy in flight made the flow model 4× slower at
 * N = 100); on slow ones, with the uploader the fleet's bottleneck, every duplicate delays the
 * whole fleet (a 20-node fleet on 2 MiB/s links: seed upload 1.59× → 1.10× the payload, last node
 * 123.6 → 110.8 s).
 *
 * The window follows the link: eight times the send's own time, between 250 ms and 4 s — time for
 * the recipient to verify the range and pass it on. A fixed 4 s let each holder send a range about
 * once per 4 s: at N = 1,000 on 1 GbE in the flow model, the last replicas waited seconds for
 * one-chunk blobs that every one of their 13–21 whole holders declined (last node 5.1 s; 2.8 s with
 * the window following the link).
 */
import { LRUCache } from 'lru-cache'

/** How long a range sent to one peer is not sent to another, at most; at least; in sends' times. */
export const SPARE_MS = 4_000
export const SPARE_MIN_MS = 250
export const SPARE_FACTOR = 8
/** A range in flight to one peer is declined to others if sending it again would take longer than this. */
export const SPARE_IN_FLIGHT_MS = 1_000
/** The window over which the upload rate is measured. */
const RATE_WINDOW_MS = 2_000

/**
 * Whether a range of `bytes` sent again, by an uploader moving `rate` bytes/s over `uploads`
 * uploads, would take longer than SPARE_IN_FLIGHT_MS (the flow model uses it too).
 */
export function slowToResend (bytes: number, rate: number, uploads: number): boolean {
  return rate > 0 && bytes / (rate / (uploads + 1)) * 1000 > SPARE_IN_FLIGHT_MS
}

/** The key of a range of a blob in both maps. */
const rangeKey = (cid: string, start: number, end: number): string => `${cid} ${start}-${end}`

/** A decline: the peer that has the range, and for how much longer (ms) the range is declined. */
export interface Decline { holder: string, forMs: number }

/** Ranges recently sent whole or being sent, to whom, and how fast this uploader sends. */
export class SpareList {
  readonly #sent = new LRUCache<string, { holder: string, until: number }>({ max: 16_384 })
  /** Range → the holder tag it is being sent to now (the first such upload). */
  readonly #sending = new Map<string, string>()
  readonly #windowMs: number
  /** Bytes sent in the current and the previous half of RATE_WINDOW_MS. */
  #bytes = [0, 0]
  #bucketAt = 0

  constructor (windowMs = SPARE_MS) {
    this.#windowMs = windowMs
  }

  /** `holder` received `range` of `cid` whole, sent in `tookMs`. */
  sent (cid: string, start: number, end: number, holder: string, tookMs: number, now = Date.now()): void {
    const windowMs = Math.min(this.#windowMs, Math.max(SPARE_MIN_MS, SPARE_FACTOR * tookMs))
    this.#sent.set(rangeKey(cid, start, end), { holder, until: now + windowMs })
  }

  /** `range` of `cid` starts going to `holder`; call the function returned when that upload ends, whole or not. */
  sending (cid: string, start: number, end: number, holder: string): () => void {
    const key = rangeKey(cid, start, end)
    if (this.#sending.has(key)) return () => {}
    this.#sending.set(key, holder)
    return () => { if (this.#sending.get(key) === holder) this.#sending.delete(key) }
  }

  /** `bytes` more went out (any upload): the rate `declines` judges a resend by. */
  uploaded (bytes: number, now = Date.now()): void {
    this.#roll(now)
    this.#bytes[0] = (this.#bytes[0] ?? 0) + bytes
  }

  /** Bytes per second over the last RATE_WINDOW_MS (0 when nothing was sent). */
  rate (now = Date.now()): number {
    this.#roll(now)
    return ((this.#bytes[0] ?? 0) + (this.#bytes[1] ?? 0)) / (RATE_WINDOW_MS / 1000)
  }

  #roll (now: number): void {
    const half = RATE_WINDOW_MS / 2
    if (now - this.#bucketAt < half) return
    this.#bytes = now - this.#bucketAt < 2 * half ? [0, this.#bytes[0] ?? 0] : [0, 0]
    this.#bucketAt = now
  }

  /**
   * The other peer (holder tag) that received `range` whole within its window, or is being sent it
   * while a resend would be slow (`uploads`: this uploader's uploads now; declined for the longest
   * window then); the requester can take it from that one. Undefined: send it.
   */
  declines (cid: string, start: number, end: number, holder: string, uploads: number, now = Date.now()): Decline | undefined {
    const key = rangeKey(cid, start, end)
    const last = this.#sent.get(key)
    if (last !== undefined && last.holder !== holder && now < last.until) return { holder: last.holder, forMs: last.until - now }
    const sending = this.#sending.get(key)
    return sending !== undefined && sending !== holder && slowToResend(end - start + 1, this.rate(now), uploads) ? { holder: sending, forMs: this.#windowMs } : undefined
  }
}
