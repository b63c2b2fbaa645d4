/** Small statistics and formatting for benchmark reports (the machine is noisy: report medians of repeats). */

/** The median of some numbers. */
export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** The q-quantile (0..1) of some numbers, nearest-rank. */
export function quantile (values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0
}

/** MB/s (10^6 bytes per second, as disks and links are rated). */
export function mbps (bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000)
}

/** Bytes as MiB with one decimal. */
export function mib (bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`
}

/** A number with `digits` decimals. */
export function fixed (value: number, digits = 1): string {
  return value.toFixed(digits)
}

/** Print a Markdown table. */
export function table (header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.map(String).join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** The machine, for the report. */
export async function machine (): Promise<string> {
  const os = await import('node:os')
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`
}
