/**
 * Diffing two catalogs by walking only the subtrees whose CIDs differ. The same walk yields the
 * nodes of the newer catalog that the older one lacks: exactly what a delta bundle or a peer must send.
 */
import type { CID } from '../store/cid.ts'
import type { CatalogEntry } from './interface.ts'
import { sameFile, type Child } from './node.ts'
import { loadNode, type NodeStore } from './node-store.ts'
import { readDir } from './tree.ts'

/** One difference between two catalogs. */
export type DiffEvent =
  | { type: 'node', cid: CID }
  | { type: 'change', path: string, before?: CatalogEntry, after?: CatalogEntry }

/**
 * Walk from `before` to `after`: every node of `after` not shared with `before` (parents before
 * children), and every file added, removed or changed. Both trees must be readable from `store`.
 */
export async function * diffTrees (store: NodeStore, before: CID | undefined, after: CID | undefined): AsyncGenerator<DiffEvent> {
  yield * diffDir(store, before, after, '')
}

async function * diffDir (store: NodeStore, a: CID | undefined, b: CID | undefined, path: string): AsyncGenerator<DiffEvent> {
  if (a !== undefined && b !== undefined && a.equals(b)) return
  if (b !== undefined) yield { type: 'node', cid: b }
  const nodeA = a === undefined ? undefined : await loadNode(store, a)
  const nodeB = b === undefined ? undefined : await loadNode(store, b)
  if (nodeA !== undefined && nodeB !== undefined && 'shards' in nodeA && 'shards' in nodeB) {
    // Same level of the same directory: only differing shards need a look.
    for (const key of new Set([...nodeA.shards.keys(), ...nodeB.shards.keys()])) {
      yield * diffShard(store, nodeA.shards.get(key), nodeB.shards.get(key), path)
    }
    return
  }
  const childrenA = a === undefined ? new Map<string, Child>() : new Map(await readDir(store, a))
  const childrenB = new Map<string, Child>()
  if (b !== undefined && nodeB !== undefined) {
    if ('shards' in nodeB) for (const shard of nodeB.shards.values()) yield * shardNodes(store, shard)
    for (const [name, child] of await readDir(store, b)) childrenB.set(name, child)
  }
  const names = [...new Set([...childrenA.keys(), ...childrenB.keys()])].sort()
  for (const name of names) {
    yield * diffChild(store, childrenA.get(name), childrenB.get(name), path === '' ? name : `${path}/${name}`)
  }
}

/** A shard pair is a directory fragment: compare it like a directory at the same path. */
async function * diffShard (store: NodeStore, a: CID | undefined, b: CID | undefined, path: string): AsyncGenerator<DiffEvent> {
  yield * diffDir(store, a, b, path)
}

async function * shardNodes (store: NodeStore, cid: CID): AsyncGenerator<DiffEvent> {
  yield { type: 'node', cid }
  const node = await loadNode(store, cid)
  if ('shards' in node) for (const shard of node.shards.values()) yield * shardNodes(store, shard)
}

async function * diffChild (store: NodeStore, a: Child | undefined, b: Child | undefined, path: string): AsyncGenerator<DiffEvent> {
  const fileA = a !== undefined && 'file' in a ? a.file : undefined
  const fileB = b !== undefined && 'file' in b ? b.file : undefined
  const dirA = a !== undefined && 'dir' in a ? a.dir : undefined
  const dirB = b !== undefined && 'dir' in b ? b.dir : undefined
  if (fileA !== undefined || fileB !== undefined) {
    if (fileA === undefined || fileB === undefined || !sameFile(fileA, fileB)) {
      yield { type: 'change', path, before: fileA, after: fileB }
    }
  }
  if (dirA !== undefined || dirB !== undefined) yield * diffDir(store, dirA, dirB, path)
}
