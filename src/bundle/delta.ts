/** What a bundle from one catalog root to another must carry: the new nodes and the changed files' content. */
import type { CID } from '../store/cid.ts'
import { diffTrees } from '../catalog/diff.ts'
import type { CatalogEntry } from '../catalog/interface.ts'
import type { NodeStore } from '../catalog/node-store.ts'
import type { BlobInput } from './writer.ts'

/** The delta between two roots. */
export interface Delta {
  nodes: Array<{ cid: CID, bytes: Uint8Array }>
  blobs: BlobInput[]
  /** Changed `blob` files whose content the sender does not hold (a partial export). */
  notCarried: Array<{ path: string, entry: CatalogEntry }>
  /** Files added or changed, and removed. */
  changed: number
  removed: number
}

/** Where a changed file's content comes from, or undefined if the sender lacks it. */
export type ContentSource = (path: string, entry: CatalogEntry) => Promise<BlobInput['source'] | undefined>

/** Walk the diff and gather nodes and content (each blob once, metadata first). */
export async function collectDelta (store: NodeStore, base: CID | null, root: CID | null, sourceOf: ContentSource): Promise<Delta> {
  const delta: Delta = { nodes: [], blobs: [], notCarried: [], changed: 0, removed: 0 }
  const seen = new Set<string>()
  const meta: BlobInput[] = []
  const blobs: BlobInput[] = []
  for await (const event of diffTrees(store, base ?? undefined, root ?? undefined)) {
    if (event.type === 'node') {
      const key = event.cid.toString()
      if (seen.has(key)) continue
      seen.add(key)
      delta.nodes.push({ cid: event.cid, bytes: await store.get(event.cid) })
      continue
    }
    if (event.after === undefined) {
      delta.removed++
      continue
    }
    delta.changed++
    const key = event.after.cid.toString()
    if (seen.has(key)) continue
    const source = await sourceOf(event.path, event.after)
    if (source === undefined) {
      if (event.after.kind === 'meta') throw new Error(`metadata ${event.path} (${key}) is not held: the store is damaged, run "mirrormesh fsck"`)
      delta.notCarried.push({ path: event.path, entry: event.after })
      continue
    }
    seen.add(key)
    const input: BlobInput = { cid: event.after.cid, size: event.after.size, compress: event.after.kind === 'meta', source }
    if (event.after.kind === 'meta') meta.push(input)
    else blobs.push(input)
  }
  delta.blobs = [...meta, ...blobs]
  return delta
}
