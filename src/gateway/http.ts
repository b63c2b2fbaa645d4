/** HTTP semantics the gateway needs (RFC 9110): ranges and conditional requests, as pure functions. */
import type { ByteRange } from './interface.ts'

/**
 * Parse a Range header against a size. Returns the range; `undefined` to serve the whole body
 * (no header, another unit, or several ranges — RFC 9110 lets a server ignore those); or
 * 'unsatisfiable' for a 416.
 */
export function parseRange (header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header)
  if (match === null) return undefined
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  if (start >= size) return 'unsatisfiable'
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (end < start) return undefined
  return { start, end }
}

/** Whether an If-None-Match header matches an entity tag (weak comparison, as RFC 9110 requires here). */
export function etagMatches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  const bare = etag.replace(/^W\//, '')
  return header.split(',').some(tag => tag.trim().replace(/^W\//, '') === bare)
}

/** Whether content modified at `mtime` (ms) is unchanged since an If-Modified-Since date. */
export function notModifiedSince (header: string | undefined, mtime: number): boolean {
  if (header === undefined) return false
  const since = Date.parse(header)
  if (Number.isNaN(since)) return false
  return Math.floor(mtime / 1000) * 1000 <= since
}
