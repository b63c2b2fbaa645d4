/** Up to `n` of `items`, chosen at random (a partial Fisher–Yates shuffle); `items` is not changed. */
export function sample<T> (items: readonly T[], n: number, random: () => number = Math.random): T[] {
  if (items.length <= n) return [...items]
  const out = [...items]
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (out.length - i))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out.slice(0, n)
}
