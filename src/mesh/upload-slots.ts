/**
 * The data plane's upload slots: the responses being sent, and when the first of them should end.
 * A holder with every slot taken says so in its 503 (`X-Mirrormesh-Busy-Ms`), and the asker comes
 * back about then rather than after a fixed rest. With a fixed 300–600 ms rest, a 1 GbE holder
 * freed a slot every few milliseconds while its askers waited: in the flow model at N = 100 the
 * replicas' links were 30 % busy from 0.3 to 0.4 s (57 % with the rest following the holder's
 * estimate), and over three random seeds the last replica finished at 1.7–2.0× S/B (1.5–1.7×).
 */

/** One response being sent. */
export interface Upload {
  /** When it began (ms since epoch). */
  readonly began: number
  /** `bytes` more of it went out. */
  sent: (bytes: number) => void
  /** It ended, whole or not: the slot is free. */
  release: () => void
}

interface Sending { bytes: number, sent: number, began: number }

/** Uploads in progress, against a limit. */
export class UploadSlots {
  readonly limit: number
  readonly #sending = new Set<Sending>()

  constructor (limit: number) {
    this.limit = limit
  }

  /** Responses being sent now. */
  get taken (): number {
    return this.#sending.size
  }

  get full (): boolean {
    return this.#sending.size >= this.limit
  }

  /** Take a slot for a response of `bytes` (over the limit too: the caller checks `full` first). */
  take (bytes: number, now = Date.now()): Upload {
    const upload: Sending = { bytes, sent: 0, began: now }
    this.#sending.add(upload)
    return {
      began: now,
      sent: n => { upload.sent += n },
      release: () => { this.#sending.delete(upload) }
    }
  }

  /**
   * Milliseconds until the first upload should end, each at its own rate so far; undefined while
   * none has sent anything yet (no rate to judge by).
   */
  freeInMs (now = Date.now()): number | undefined {
    let soonest: number | undefined
    for (const { bytes, sent, began } of this.#sending) {
      const elapsed = now - began
      if (sent === 0 || elapsed <= 0) continue
      const left = Math.max(0, bytes - sent) * elapsed / sent
      if (soonest === undefined || left < soonest) soonest = left
    }
    return soonest
  }
}
