/** A promise-chain mutex: runs critical sections one after another. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve()

  /** Run `fn` once every section queued before it has finished. */
  async run<T> (fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn, fn)
    this.#tail = result.catch(() => {})
    return await result
  }
}
