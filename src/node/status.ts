/** `mirrormesh status`: what this node holds and follows, as one JSON-able object. */
import { stat } from 'node:fs/promises'
import { walk } from '../catalog/tree.ts'
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

/** Gather the status (walks each current catalog once). */
export async function repoStatus (repo: Repo): Promise<RepoStatus> {
  const publishers: HeadStatus[] = []
  for (const trusted of await repo.trusted()) {
    const head = await repo.head(trusted.publisher)
    const item: HeadStatus = {
      publisher: trusted.publisher, name: trusted.name, seq: head?.seq ?? null, time: head?.time ?? null,
      head: head?.cid.toString() ?? null, root: head?.root?.toString() ?? null,
      metaFiles: 0, blobFiles: 0, blobsHeld: 0, blobBytes: 0, blobBytesHeld: 0
    }
    if (head?.root != null) {
      for await (const [, entry] of walk(repo.nodes, head.root)) {
        if (entry.kind === 'meta') { item.metaFiles++; continue }
        item.blobFiles++
        item.blobBytes += entry.size
        if (await repo.blobs.has(entry.cid)) { item.blobsHeld++; item.blobBytesHeld += entry.size }
      }
    }
    publishers.push(item)
  }
  const store = { blobs: 0, bytes: 0, pinned: 0 }
  for await (const { file } of repo.blobs.list()) {
    store.blobs++
    store.bytes += (await stat(file)).size
  }
  for await (const _ of repo.db.pins.keys()) store.pinned++
  const forks = []
  for await (const value of repo.db.forks.values()) forks.push(value)
  const recentAudit = []
  for await (const [key, value] of repo.db.audit.iterator({ reverse: true, limit: 10 })) recentAudit.push({ id: Number(key), ...value })
  return { home: repo.home, publishers, store, forks, recentAudit: recentAudit.reverse() }
}
