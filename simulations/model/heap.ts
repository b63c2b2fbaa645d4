/** A binary min-heap of timed events (ties in insertion order), the model's clock. */

interface Entry {
  t: number
  seq: number
  fn: () => void
}

/** Events by time. */
export class EventQueue {
  readonly #items: Entry[] = []
  #seq = 0

  get size (): number { return this.#items.length }

  /** Time of the earliest event (Infinity when empty). */
  peek (): number { return this.#items[0]?.t ?? Infinity }

  push (t: number, fn: () => void): void {
    const items = this.#items
    items.push({ t, seq: this.#seq++, fn })
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(items[i] as Entry, items[parent] as Entry)) break
      ;[items[i], items[parent]] = [items[parent] as Entry, items[i] as Entry]
      i = parent
    }
  }

  /** Remove and return the earliest event. */
  pop (): Entry | undefined {
    const items = this.#items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    items[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < items.length && before(items[l] as Entry, items[m] as Entry)) m = l
      if (r < items.length && before(items[r] as Entry, items[m] as Entry)) m = r
      if (m === i) break
      ;[items[i], items[m]] = [items[m] as Entry, items[i] as Entry]
      i = m
    }
    return top
  }
}

function before (a: Entry, b: Entry): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq)
}
