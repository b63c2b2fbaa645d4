/** Byte sizes as people write them: `500MiB`, `20GiB`, `1.5TB`, `4096`. */
import { UsageError } from './errors.ts'

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 }

/** Parse a size; throws UsageError naming the flag. */
export function parseSize (text: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = UNITS[(match?.[2] ?? '?').toLowerCase()]
  if (match === null || unit === undefined) throw new UsageError(`${flag} ${text}: expected a size such as 500MiB or 20GiB`)
  return Math.floor(Number(match[1]) * unit)
}
