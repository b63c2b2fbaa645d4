/** `mirrormesh export`: any node writes the delta between a head it once held and its current one. */
import type { Repo } from '../node/repo.ts'
import { NotFoundError, UsageError } from '../util/errors.ts'
import { collectDelta } from './delta.ts'
import { writeBundle, type WriteResult } from './writer.ts'

/** Options for an export. */
export interface ExportOptions {
  since: number
  out: string
  publisher?: string
  onProgress?: (done: number, total: number) => void
}

/** What an export wrote. */
export interface ExportResult extends WriteResult {
  out: string
  publisher: string
  seq: number
  since: number
  /** Blobs the catalog names that this node does not hold (it fetches on demand): not in the bundle. */
  notCarried: number
}

/** Write the delta of what this node holds since `since` (0: everything). */
export async function exportDelta (repo: Repo, options: ExportOptions): Promise<ExportResult> {
  const heads = await repo.heads()
  const head = options.publisher === undefined ? heads[0] : heads.find(h => h.publisher === options.publisher)
  if (head === undefined) throw new NotFoundError(options.publisher === undefined ? 'this node holds no head yet: import a bundle first' : `this node holds no head of ${options.publisher}`)
  if (options.publisher === undefined && heads.length > 1) {
    throw new UsageError(`this node follows ${heads.length} publishers: say which with --publisher (${heads.map(h => h.publisher).join(', ')})`)
  }
  if (!Number.isSafeInteger(options.since) || options.since < 0) throw new UsageError('--since takes a seq number ≥ 0 (0 exports everything)')
  if (options.since >= head.seq) throw new UsageError(`nothing to export: this node's head is seq ${head.seq}, not newer than --since ${options.since}`)
  const base = options.since === 0 ? undefined : await repo.headAt(head.publisher, options.since)
  if (options.since > 0 && base === undefined) {
    const held = []
    for await (const h of repo.history(head.publisher)) held.push(h.seq)
    throw new NotFoundError(`this node never held seq ${options.since} of ${head.publisher} (it held ${held.join(', ')}): export --since one of those, or --since 0 for everything`)
  }
  const delta = await collectDelta(repo.nodes, base?.root ?? null, head.root, async (_path, entry) =>
    await repo.blobs.has(entry.cid) ? { file: repo.blobs.path(entry.cid) } : undefined)
  const total = delta.blobs.reduce((sum, b) => sum + b.size, 0)
  const written = await writeBundle(options.out, { head, base: base?.cid ?? null, nodes: delta.nodes, blobs: delta.blobs }, done => options.onProgress?.(done, total))
  return { ...written, out: options.out, publisher: head.publisher, seq: head.seq, since: options.since, notCarried: delta.notCarried.length }
}
