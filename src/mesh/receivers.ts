/**
 * Who this node has lately been sending each blob to. A data plane with every upload slot taken
 * names a few of them in its 503 (`X-Mirrormesh-Receivers`): they are fetching the same blob and
 * share each chunk they verify, so the asker can take from them instead of waiting for the slots
 * (BitTorrent's peer exchange, in its simplest form). Without it, a fleet that starts a head
 * together found nobody but the seed until the first provider records landed: in the flow model at
 * N = 100, the replicas' links stayed 1–4 % busy for the first 0.6 s.
 */
import { LRUCache } from 'lru-cache'

/** Receivers a busy answer names. */
export const NAMED_RECEIVERS = 2
/** Receivers remembered per blob, newest first. */
export const KEPT_RECEIVERS = 8

/** Recent receivers by blob, as holder tags (tickets.ts). */
export class Receivers {
  readonly #byBlob = new LRUCache<string, string[]>({ max: 4096 })

  /** `holder` is being sent a range of `cid`. */
  add (cid: string, holder: string): void {
    const list = this.#byBlob.get(cid) ?? []
    const at = list.indexOf(holder)
    if (at >= 0) list.splice(at, 1)
    list.unshift(holder)
    if (list.length > KEPT_RECEIVERS) list.pop()
    this.#byBlob.set(cid, list)
  }

  /** The newest receivers of `cid` other than `except` for which `name` gives a name, at most NAMED_RECEIVERS. */
  named (cid: string, except: string, name: (holder: string) => string | undefined): string[] {
    const out: string[] = []
    for (const holder of this.#byBlob.get(cid) ?? []) {
      if (out.length >= NAMED_RECEIVERS) break
      const named = holder === except ? undefined : name(holder)
      if (named !== undefined) out.push(named)
    }
    return out
  }
}
