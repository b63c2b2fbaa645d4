/** `mirrormesh status`: what this node holds and follows, as one JSON-able object. */
import { stat } from 'node:fs/promises'
import { walk } from '../catalog/tree.ts'
import { sha256Hex, type CID } from '../store/cid.ts'
import type { Repo } from './repo.ts'

/** A publisher's head as status shows it. */
export interface HeadStatus {
  publisher: string
  name: string
  seq: number | null
  time: number | null
  head: string | null
  root: string | null
  /** Catalog files: metadata and package blobs, and how many of the latter are held here. */
  metaFiles: number
  blobFiles: number
  blobsHeld: number
  blobBytes: number
  blobBytesHeld: number
}

/** The node's state. */
export interface RepoStatus {
  home: string
  publishers: HeadStatus[]
  store: { blobs: number, bytes: number, pinned: number }
  forks: Array<Record<string, unknown>>
  recentAudit: Array<Record<string, unknown>>
}

/** What a catalog holds (immutable for a root, so computed once per root). */
interface CatalogSummary {
  metaFiles: number
  blobBytes: number
  /** Blob sizes by sha256 hex. */
  blobs: Map<string, number>
}

/** Catalog summaries by root CID, per repo (a status page polled every second walked the whole catalog each time). */
const summaries = new WeakMap<Repo, Map<string, CatalogSummary>>()

async function summary (repo: Repo, root: CID): Promise<CatalogSummary> {
  const cache = summaries.get(repo) ?? new Map<string, CatalogSummary>()
  summaries.set(repo, cache)
  const known = cache.get(root.toString())
  if (known !== undefined) return known
  const out: CatalogSummary = { metaFiles: 0, blobBytes: 0, blobs: new Map() }
  for await (const [, entry] of walk(repo.nodes, root)) {
    if (entry.kind === 'meta') { out.metaFiles++; continue }
    const hex = sha256Hex(entry.cid)
    if (!out.blobs.has(hex)) out.blobBytes += entry.size
    out.blobs.set(hex, entry.size)
  }
  if (cache.size > 16) cache.clear() // old roots: a long-running node adopts many heads
  cache.set(root.toString(), out)
  return out
}

/**
 * Gather the status. One pass over the store's directories (no stat for a blob the catalog gives
 * the size of) and a cached summary per catalog root: cheap enough to poll.
 */
export async function repoStatus (repo: Repo): Promise<RepoStatus> {
  const held = new Set<string>()
  const stray: string[] = []
  const referenced = new Map<string, number>()
  const heads = []
  for (const trusted of await repo.trusted()) {
    const head = await repo.head(trusted.publisher)
    const catalog = head?.root == null ? undefined : await summary(repo, head.root)
    for (const [hex, size] of catalog?.blobs ?? []) referenced.set(hex, size)
    heads.push({ trusted, head, catalog })
  }
  for await (const { hex, file } of repo.blobs.list()) {
    held.add(hex)
    if (!referenced.has(hex)) stray.push(file)
  }
  const store = { blobs: held.size, bytes: 0, pinned: 0 }
  for (const hex of held) store.bytes += referenced.get(hex) ?? 0
  for (const file of stray) store.bytes += (await stat(file).catch(() => ({ size: 0 }))).size
  const publishers: HeadStatus[] = heads.map(({ trusted, head, catalog }) => {
    let blobsHeld = 0
    let blobBytesHeld = 0
    for (const [hex, size] of catalog?.blobs ?? []) if (held.has(hex)) { blobsHeld++; blobBytesHeld += size }
    return {
      publisher: trusted.publisher, name: trusted.name, seq: head?.seq ?? null, time: head?.time ?? null,
      head: head?.cid.toString() ?? null, root: head?.root?.toString() ?? null,
      metaFiles: catalog?.metaFiles ?? 0, blobFiles: catalog?.blobs.size ?? 0, blobsHeld, blobBytes: catalog?.blobBytes ?? 0, blobBytesHeld
    }
  })
  for await (const _ of repo.db.pins.keys()) store.pinned++
  const forks = []
  for await (const value of repo.db.forks.values()) forks.push(value)
  const recentAudit = []
  for await (const [key, value] of repo.db.audit.iterator({ reverse: true, limit: 10 })) recentAudit.push({ id: Number(key), ...value })
  return { home: repo.home, publishers, store, forks, recentAudit: recentAudit.reverse() }
}
