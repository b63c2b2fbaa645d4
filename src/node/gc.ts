/**
 * `mirrormesh gc`: delete blobs no current head references, and unpin them, and the partly fetched
 * files of such blobs (a transfer the node would never resume). Catalog nodes of past heads are
 * kept (they are small, and `export --since` needs them to compute deltas).
 */
import { rm, stat } from 'node:fs/promises'
import { cidFromSha256Hex, type CID } from '../store/cid.ts'
import { walk } from '../catalog/tree.ts'
import type { Repo } from './repo.ts'

/** What a collection removed. */
export interface GcReport {
  removed: number
  /** Partly fetched files of unreferenced blobs removed (their bytes are in freedBytes). */
  partialsRemoved: number
  freedBytes: number
  kept: number
  dryRun: boolean
}

/** The set of blob CIDs (as strings) the current heads' catalogs reference. */
export async function referencedBlobs (repo: Repo): Promise<Set<string>> {
  const referenced = new Set<string>()
  for (const head of await repo.heads()) {
    if (head.root === null) continue
    for await (const [, entry] of walk(repo.nodes, head.root)) referenced.add(entry.cid.toString())
  }
  return referenced
}

/** Remove unreferenced blobs (or, with dryRun, only count them). */
export async function gc (repo: Repo, options: { dryRun?: boolean } = {}): Promise<GcReport> {
  return await repo.headLock.run(async () => {
    const referenced = await referencedBlobs(repo)
    const report: GcReport = { removed: 0, partialsRemoved: 0, freedBytes: 0, kept: 0, dryRun: options.dryRun === true }
    /** The CID a store file name stands for (undefined: a stray name), and whether a head references it. */
    const lookUp = (hex: string): { cid: CID | undefined, kept: boolean } => {
      const cid = /^[0-9a-f]{64}$/.test(hex) ? cidFromSha256Hex(hex) : undefined
      return { cid, kept: cid !== undefined && referenced.has(cid.toString()) }
    }
    for await (const { hex, file } of repo.blobs.list()) {
      const { cid, kept } = lookUp(hex)
      if (kept) {
        report.kept++
        continue
      }
      const { size } = await stat(file)
      report.removed++
      report.freedBytes += size
      if (report.dryRun) continue
      if (cid !== undefined) await repo.db.pins.del(cid.toString())
      await rm(file, { force: true })
    }
    for await (const { hex, file } of repo.blobs.listPartial()) {
      if (lookUp(hex).kept) continue
      const info = await stat(file).catch(() => undefined)
      if (info === undefined) continue // finished or removed meanwhile
      report.partialsRemoved++
      report.freedBytes += info.size
      if (!report.dryRun) await rm(file, { force: true })
    }
    if (!report.dryRun && report.removed + report.partialsRemoved > 0) await repo.audit({ time: Date.now(), event: 'gc', removed: report.removed, partialsRemoved: report.partialsRemoved, freedBytes: report.freedBytes })
    return report
  })
}
