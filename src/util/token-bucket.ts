/**
 * A byte-rate limiter for emulated links (GCRA, the "virtual scheduling" form of a token bucket):
 * each reservation of n bytes is granted at the link's theoretical arrival time, so concurrent
 * flows through one bucket are served first come, first served and share the rate; `burst` bytes
 * may pass at once after an idle spell, as a switch port's buffer would let them. What
 * `serve --emulate-link` and the fleet simulation use to make LAN-like conditions reproducible on
 * loopback; never on in normal operation.
 */

/** One direction of one node's link (its upload, or its download). */
export class TokenBucket {
  /** Bytes per second. */
  readonly rate: number
  readonly #burstMs: number
  /** Theoretical arrival time of the next byte, in ms on the `performance.now()` clock. */
  #tat = 0
  /** Bytes granted so far. */
  granted = 0

  constructor (bytesPerSecond: number, burstBytes = 128 << 10) {
    if (!(bytesPerSecond > 0)) throw new RangeError('a bucket needs a positive rate')
    this.rate = bytesPerSecond
    this.#burstMs = burstBytes / bytesPerSecond * 1000
  }

  /** Reserve `bytes` now; returns how many ms to wait before sending them. */
  reserve (bytes: number, now = performance.now()): number {
    const start = Math.max(this.#tat, now)
    const wait = Math.max(0, start - now - this.#burstMs)
    this.#tat = start + bytes / this.rate * 1000
    this.granted += bytes
    return wait
  }
}

/** Wait until every bucket (in order: a sender's upload, then a receiver's download) lets `bytes` pass. */
export async function pass (buckets: ReadonlyArray<TokenBucket | undefined>, bytes: number): Promise<void> {
  for (const bucket of buckets) {
    if (bucket === undefined) continue
    const wait = bucket.reserve(bytes)
    if (wait >= 1) await new Promise(resolve => setTimeout(resolve, wait))
  }
}
