/** Small statistics for simulation reports. */

/** The q-quantile (0..1) of some numbers, nearest rank; NaN for none. */
export function quantile (values: number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

/** p50, p95 and max of some numbers. */
export interface Spread {
  p50: number
  p95: number
  max: number
}

/** The spread of some numbers. */
export function spread (values: number[]): Spread {
  return { p50: quantile(values, 0.5), p95: quantile(values, 0.95), max: values.length === 0 ? Number.NaN : Math.max(...values) }
}

/** Bytes as MiB with one decimal. */
export function mib (bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`
}

/** Round to `digits` decimals (for JSON reports). */
export function round (value: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** Left-aligned text table. */
export function table (rows: Array<Array<string | number>>): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, String(cell).length) })
  return rows.map(row => row.map((cell, i) => String(cell).padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n')
}
