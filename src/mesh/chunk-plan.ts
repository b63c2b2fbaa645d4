/**
 * Which chunk to pull next, and from whom (protocols/blob-exchange, "Fetching"). A pure function of
 * what the fetcher knows, so the policy can be tested without a network.
 *
 * The aim is a swarm in which a full holder (the seed) uploads each chunk about once, as in
 * BitTorrent and Dragonfly: peers that are fetching the same blob share their verified chunks, so
 *   1. chunks a reader is blocked on come first;
 *   2. a chunk that only full holders have is pulled by one downloader: its *owner*, chosen by
 *      rendezvous hashing over the downloaders each node can see (itself and its partial sources,
 *      but not those that said they know no full holder);
 *      everyone agrees on the owner without talking, and it changes when a downloader leaves;
 *   3. chunks that partial sources hold come from them, rarest first (so copies multiply) — never
 *      from a full holder while a partial one has them, unless every such partial holder declined
 *      them (sparing): then from a full holder a decline named, who was sent them;
 * and a downloader alone (the common case: one client, one miss) takes every chunk in order from
 * the reader's position, so the client's stream is never behind the download.
 * When the swarm stalls (no chunk verified for a while), or a reader has waited too long, ownership
 * is ignored: progress beats upload economy.
 */

/** What the planner knows about one source. */
export interface PlanSource {
  key: string
  /** null: holds every chunk; else one byte per chunk, 1 = verified there. */
  chunks: Uint8Array | null
  inflight: number
  /** Uploads the source reported it was serving (to anyone): among holders, the idlest is asked first. */
  uploads?: number
  /** Chunks the source declined to send for now (it just sent them to another peer: take them from that one). */
  declined?: ReadonlySet<number>
  /** Chunks another source declined naming this one (it was sent them): it may be asked for them whoever owns them. */
  named?: ReadonlySet<number>
  /** A partial holder that said it knows no whole holder (blob-protocol `unsourced`): it cannot own a chunk. */
  unsourced?: boolean
}

/**
 * `source` with `declined` set to the chunks it refuses now, from `declinedUntil` (chunk → until
 * when, on the caller's clock); expired refusals are dropped.
 */
export function withDeclined<S extends PlanSource & { declinedUntil?: Map<number, number> }> (source: S, now: number): S {
  if (source.declinedUntil === undefined) return source
  for (const [chunk, until] of source.declinedUntil) if (until <= now) source.declinedUntil.delete(chunk)
  source.declined = new Set(source.declinedUntil.keys())
  return source
}

/** The fetcher's state, as the planner sees it. */
export interface PlanInput {
  count: number
  /** One byte per chunk, 1 = verified here. */
  verified: Uint8Array
  inflight: ReadonlySet<number>
  /** Chunks readers are blocked on, earliest request first. */
  wanted: number[]
  /** The earliest chunk a reader will need next (see Download.readerPosition). */
  readerAt?: number
  sources: PlanSource[]
  /** This node's key, for ownership. */
  self: string
  /** How many more pulls may start now. */
  slots: number
  /** Pulls in flight per partial source, and per full source (see the fetcher's slow start). */
  perSource: number
  perFullSource?: number
  /** Ignore ownership (the swarm stalled). */
  greedy: boolean
  /**
   * Where a downloader that sees no other starts taking chunks only full holders have: `reader`,
   * in order from the reader's position (one client, one miss: the stream never waits); `ring`,
   * from a point on the ring of chunks set by this node's key, so that downloaders that started
   * together but cannot see each other yet take different chunks from the seed.
   */
  order?: 'reader' | 'ring'
  /** A reader has waited too long: its chunks may come from full holders whoever owns them. */
  readerStalled: boolean
  /** Random numbers in [0, 1), for tie-breaks (injectable for tests). */
  random?: () => number
}

/** One pull to start. */
export interface Pull {
  chunk: number
  source: string
}

/**
 * Whether some chunk still to fetch (not verified, not in flight) is held by none of `sources`. A
 * downloader that knows no whole holder may own such a chunk and wait for it forever: in the flow
 * model, a 100-node fleet stood still for 2 s on one bottle chunk whose owner had never asked the
 * seed (it asks 64 connected peers at random).
 */
export function hasOrphans (count: number, verified: Uint8Array, inflight: ReadonlySet<number>, sources: Iterable<PlanSource>): boolean {
  const partial: Uint8Array[] = []
  for (const s of sources) {
    if (s.chunks === null) return false
    partial.push(s.chunks)
  }
  for (let chunk = 0; chunk < count; chunk++) {
    if (verified[chunk] === 1 || inflight.has(chunk)) continue
    if (!partial.some(chunks => chunks[chunk] === 1)) return true
  }
  return false
}

/** 32-bit FNV-1a of a string. */
function fnv1a (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** fnv1a of peer keys, kept (every plan hashes every member's key). */
const keySeeds = new Map<string, number>()
function seedOf (key: string): number {
  let seed = keySeeds.get(key)
  if (seed === undefined) {
    if (keySeeds.size >= 65_536) keySeeds.clear()
    keySeeds.set(key, seed = fnv1a(key))
  }
  return seed
}

/** murmur3's finaliser: a well-mixed 32-bit hash of a 32-bit input. */
function mix (x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** The member that owns `chunk` (rendezvous hashing: highest score wins). */
export function ownerOf (chunk: number, members: Array<{ key: string, seed: number }>): string | undefined {
  let best: string | undefined
  let bestScore = -1
  for (const m of members) {
    const score = mix(m.seed ^ Math.imul(chunk + 1, 0x9e3779b9))
    if (score > bestScore || (score === bestScore && best !== undefined && m.key < best)) {
      best = m.key
      bestScore = score
    }
  }
  return best
}

/** Choose the pulls to start now. */
export function planPulls (input: PlanInput): Pull[] {
  const random = input.random ?? Math.random
  /** Pulls this plan adds per source, on top of each one's `inflight`. */
  const added = new Map<string, number>()
  const partial = input.sources.filter(s => s.chunks !== null)
  const full = input.sources.filter(s => s.chunks === null)
  // Downloaders this node can see that can take from a whole holder: itself and the partial
  // sources that did not say they know none. At N = 1,000 in the flow model a chunk's owner was
  // often a replica the seed (at its connection limit) refused, and the fleet waited on it.
  const members = [input.self, ...partial.filter(s => s.unsourced !== true).map(s => s.key)].map(key => ({ key, seed: seedOf(key) }))
  const alone = partial.length === 0
  const owned = (chunk: number): boolean => alone || input.greedy || ownerOf(chunk, members) === input.self
  const open = (chunk: number): boolean => input.verified[chunk] === 0 && !input.inflight.has(chunk)
  // Per chunk: the partial holders, and those of them that declined it. Counted source by source
  // once (a 1,000-node fleet plans with hundreds of sources on every turn of every fetcher's loop).
  const copies = new Int32Array(input.count)
  const declines = new Int32Array(input.count)
  for (const s of partial) {
    const chunks = s.chunks as Uint8Array
    for (let chunk = Math.min(chunks.length, input.count) - 1; chunk >= 0; chunk--) if (chunks[chunk] === 1) copies[chunk] = (copies[chunk] ?? 0) + 1
    for (const chunk of s.declined ?? []) if (chunks[chunk] === 1 && chunk < input.count) declines[chunk] = (declines[chunk] ?? 0) + 1
  }

  /**
   * The least busy source in `list` that has `chunk` and a free slot (random among equals): busy
   * by this node's pulls and by the uploads it reported, so a seed serving the whole fleet is
   * asked only when no idler holder has the chunk.
   */
  const pick = (list: PlanSource[], chunk: number): string | undefined => {
    let best: string | undefined
    let bestLoad = Infinity
    let ties = 0
    for (const s of list) {
      if ((s.chunks !== null && s.chunks[chunk] !== 1) || s.declined?.has(chunk) === true) continue
      const mine = s.inflight + (added.get(s.key) ?? 0)
      if (mine >= (s.chunks === null ? input.perFullSource ?? input.perSource : input.perSource)) continue
      const l = mine + (s.uploads ?? 0)
      if (l < bestLoad) { best = s.key; bestLoad = l; ties = 1 } else if (l === bestLoad && random() * ++ties < 1) best = s.key
    }
    return best
  }

  const pulls: Pull[] = []
  const taken = new Set<number>()
  const take = (chunk: number, source: string | undefined): void => {
    if (source === undefined || pulls.length >= input.slots) return
    pulls.push({ chunk, source })
    taken.add(chunk)
    added.set(source, (added.get(source) ?? 0) + 1)
  }

  // 1. Chunks a reader is blocked on: from a partial holder, else (if ours to fetch) a full one.
  for (const chunk of input.wanted) {
    if (!open(chunk) || taken.has(chunk)) continue
    take(chunk, pick(partial, chunk) ?? (owned(chunk) || input.readerStalled ? pick(full, chunk) : undefined))
  }
  // 2. Chunks only full holders have that this node owns, in order from the reader's position
  //    (or, early on, from this node's point on the ring).
  const from = input.order === 'ring' ? mix(fnv1a(input.self)) % input.count : input.wanted[0] ?? input.readerAt ?? 0
  for (let i = 0; i < input.count && pulls.length < input.slots; i++) {
    const chunk = (from + i) % input.count
    if (!open(chunk) || taken.has(chunk)) continue
    const held = copies[chunk] as number
    if (held === 0) {
      if (owned(chunk)) take(chunk, pick(full, chunk))
    } else if (held === declines[chunk]) {
      // Every partial holder declined it, having sent it on: to a whole holder it named, if one
      // is known (never the seed by that alone). Otherwise two replicas that each declined the
      // other's last chunk waited out the declines while idle whole holders had them.
      take(chunk, pick(full.filter(s => s.named?.has(chunk) === true), chunk))
    }
  }
  // 3. Chunks partial holders have: rarest first, random among equals, so copies spread.
  if (!alone && pulls.length < input.slots) {
    const held: Array<{ chunk: number, copies: number, tie: number }> = []
    for (let chunk = 0; chunk < input.count; chunk++) {
      if (!open(chunk) || taken.has(chunk) || copies[chunk] === 0) continue
      held.push({ chunk, copies: copies[chunk] as number, tie: random() })
    }
    held.sort((a, b) => a.copies - b.copies || a.tie - b.tie)
    for (const { chunk } of held) {
      if (pulls.length >= input.slots) break
      take(chunk, pick(partial, chunk))
    }
  }
  return pulls
}
