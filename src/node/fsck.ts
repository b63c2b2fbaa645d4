/** `mirrormesh fsck`: re-hash every blob, re-check every catalog node, and report what is wrong. */
import { createReadStream } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import { cidFromSha256Hex, parseCid } from '../store/cid.ts'
import { verifyStream } from '../store/sinks.ts'
import { loadNode } from '../catalog/node-store.ts'
import { nodesOf, walk } from '../catalog/tree.ts'
import type { Repo } from './repo.ts'

/** One problem found. */
export interface FsckProblem {
  kind: 'corrupt-blob' | 'stray-file' | 'bad-node' | 'missing-node' | 'missing-meta' | 'missing-pinned'
  detail: string
}

/** The outcome of a check. */
export interface FsckReport {
  ok: boolean
  blobs: number
  bytes: number
  nodes: number
  heads: number
  /** Catalog `blob` files not held here (normal for an on-demand node: fetched when asked for). */
  blobsNotHeld: number
  problems: FsckProblem[]
  /** With --repair: corrupt blobs and stray files removed. */
  repaired: number
}

/** Check the store; with `repair`, delete corrupt blobs (they can be fetched again) and stray files. */
export async function fsck (repo: Repo, options: { repair?: boolean, onProgress?: (done: number) => void } = {}): Promise<FsckReport> {
  const report: FsckReport = { ok: true, blobs: 0, bytes: 0, nodes: 0, heads: 0, blobsNotHeld: 0, problems: [], repaired: 0 }
  for await (const { hex, file } of repo.blobs.list()) {
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      report.problems.push({ kind: 'stray-file', detail: file })
      if (options.repair === true) { await rm(file, { force: true }); report.repaired++ }
      continue
    }
    const size = (await stat(file)).size
    try {
      await verifyStream(createReadStream(file, { highWaterMark: 1 << 20 }), cidFromSha256Hex(hex), size)
      report.blobs++
      report.bytes += size
    } catch (err) {
      report.problems.push({ kind: 'corrupt-blob', detail: `${file}: ${(err as Error).message}` })
      if (options.repair === true) { await rm(file, { force: true }); report.repaired++ }
    }
    options.onProgress?.(report.blobs)
  }
  const heads = await repo.heads()
  report.heads = heads.length
  const seen = new Set<string>()
  for (const head of heads) {
    if (head.root === null) continue
    try {
      for await (const cid of nodesOf(repo.nodes, head.root)) {
        if (seen.has(cid.toString())) continue
        seen.add(cid.toString())
        await loadNode(repo.nodes, cid)
        report.nodes++
      }
      for await (const [path, entry] of walk(repo.nodes, head.root)) {
        if (await repo.blobs.has(entry.cid)) continue
        if (entry.kind === 'meta') report.problems.push({ kind: 'missing-meta', detail: `${path} (${entry.cid.toString()})` })
        else report.blobsNotHeld++
      }
    } catch (err) {
      const kind = (err as Error).name === 'NotFoundError' ? 'missing-node' : 'bad-node'
      report.problems.push({ kind, detail: `head ${head.seq} of ${head.publisher}: ${(err as Error).message}` })
    }
  }
  for await (const key of repo.db.pins.keys()) {
    if (!await repo.blobs.has(parseCid(key))) report.problems.push({ kind: 'missing-pinned', detail: key })
  }
  // Repaired problems no longer count against the store.
  report.ok = report.problems.length === report.repaired
  return report
}
