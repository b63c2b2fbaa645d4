/**
 * Max-min fair rates for flows over node links (progressive filling): each flow crosses its
 * source's upload and its destination's download; repeatedly the link with the smallest fair share
 * (remaining capacity / unfrozen flows) fixes the rate of its flows, which then no longer load
 * their other link. This is the bandwidth TCP flows converge to on a switched LAN whose
 * bottlenecks are the hosts' links, and what the fleet's per-node token buckets enforce.
 */

/** What the solver needs of a flow: links `up` (a node index) and `down` (N + node index). */
export interface FairFlow {
  up: number
  down: number
  rate: number
}

/**
 * Set `rate` of every flow. `capacity[l]` is link l's bytes/s (0..N-1 uploads, N..2N-1 downloads).
 * O((F + L) log L).
 */
export function maxMinRates (flows: FairFlow[], capacity: Float64Array): void {
  const links = capacity.length
  const count = new Int32Array(links)
  const bump = (a: Int32Array, i: number, by: number): number => { const v = a[i] as number; a[i] = v + by; return v }
  for (const f of flows) { bump(count, f.up, 1); bump(count, f.down, 1) }
  // Flows by link (CSR).
  const start = new Int32Array(links + 1)
  for (let l = 0; l < links; l++) start[l + 1] = (start[l] as number) + (count[l] as number)
  const fill = start.slice(0, links)
  const byLink = new Int32Array(flows.length * 2)
  flows.forEach((f, i) => { byLink[bump(fill, f.up, 1)] = i; byLink[bump(fill, f.down, 1)] = i })
  const remaining = Float64Array.from(capacity)
  const frozen = new Uint8Array(flows.length)
  const version = new Int32Array(links)
  // Heap of [share, link, version], smallest share first.
  const heap: Array<[number, number, number]> = []
  const push = (l: number): void => {
    if ((count[l] as number) <= 0) return
    heap.push([(remaining[l] as number) / (count[l] as number), l, version[l] as number])
    let i = heap.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if ((heap[p] as [number, number, number])[0] <= (heap[i] as [number, number, number])[0]) break
      ;[heap[i], heap[p]] = [heap[p] as [number, number, number], heap[i] as [number, number, number]]
      i = p
    }
  }
  const pop = (): [number, number, number] | undefined => {
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    heap[0] = last
    let i = 0
    for (;;) {
      const a = 2 * i + 1
      const b = a + 1
      let m = i
      if (a < heap.length && (heap[a] as [number, number, number])[0] < (heap[m] as [number, number, number])[0]) m = a
      if (b < heap.length && (heap[b] as [number, number, number])[0] < (heap[m] as [number, number, number])[0]) m = b
      if (m === i) break
      ;[heap[i], heap[m]] = [heap[m] as [number, number, number], heap[i] as [number, number, number]]
      i = m
    }
    return top
  }
  for (let l = 0; l < links; l++) push(l)
  for (let item = pop(); item !== undefined; item = pop()) {
    const [share, l, v] = item
    if (v !== version[l] || (count[l] as number) <= 0) continue
    for (let k = start[l] as number; k < (start[l + 1] as number); k++) {
      const i = byLink[k] as number
      if (frozen[i] === 1) continue
      frozen[i] = 1
      const f = flows[i] as FairFlow
      f.rate = share
      const other = f.up === l ? f.down : f.up
      remaining[other] = Math.max(0, (remaining[other] as number) - share)
      bump(count, other, -1)
      bump(version, other, 1)
      push(other)
    }
    count[l] = 0
    bump(version, l, 1)
  }
}
