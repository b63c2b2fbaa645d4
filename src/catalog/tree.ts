/** Reading and updating a catalog tree: lookups, listings and copy-on-write updates by path. */
import type { CID } from '../store/cid.ts'
import { UsageError } from '../util/errors.ts'
import type { CatalogEntry } from './interface.ts'
import { MAX_ENTRIES, shardKey, validName, type Child } from './node.ts'
import { loadNode, saveNode, type NodeStore } from './node-store.ts'

/** Split a catalog path into validated segments. */
export function splitPath (path: string): string[] {
  const segments = path.split('/')
  if (!segments.every(validName)) throw new UsageError(`invalid catalog path ${JSON.stringify(path)}`)
  return segments
}

/** The child named `name` in the directory rooted at `dir` (following shards). */
export async function lookupChild (store: NodeStore, dir: CID, name: string): Promise<Child | undefined> {
  let cid: CID | undefined = dir
  while (cid !== undefined) {
    const node = await loadNode(store, cid)
    if ('entries' in node) return node.entries.get(name)
    cid = node.shards.get(shardKey(name, node.depth))
  }
  return undefined
}

/** The file at `path`, or undefined. */
export async function getEntry (store: NodeStore, root: CID | undefined, path: string): Promise<CatalogEntry | undefined> {
  const segments = splitPath(path)
  let dir = root
  for (const [i, name] of segments.entries()) {
    if (dir === undefined) return undefined
    const child = await lookupChild(store, dir, name)
    if (child === undefined) return undefined
    if (i === segments.length - 1) return 'file' in child ? child.file : undefined
    dir = 'dir' in child ? child.dir : undefined
  }
  return undefined
}

/** All children of a directory (following shards), sorted by name. */
export async function readDir (store: NodeStore, dir: CID): Promise<Array<[string, Child]>> {
  const out: Array<[string, Child]> = []
  const visit = async (cid: CID): Promise<void> => {
    const node = await loadNode(store, cid)
    if ('entries' in node) out.push(...node.entries)
    else for (const shard of node.shards.values()) await visit(shard)
  }
  await visit(dir)
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Every file under `dir`, depth first in name order, with paths prefixed by `base`. */
export async function * walk (store: NodeStore, dir: CID | undefined, base = ''): AsyncGenerator<[string, CatalogEntry]> {
  if (dir === undefined) return
  for (const [name, child] of await readDir(store, dir)) {
    const path = base === '' ? name : `${base}/${name}`
    if ('file' in child) yield [path, child.file]
    else yield * walk(store, child.dir, path)
  }
}

/** Every file whose path starts with `prefix`, in path order. */
export async function * listPrefix (store: NodeStore, root: CID | undefined, prefix: string): AsyncGenerator<[string, CatalogEntry]> {
  // Descend through the complete directory segments of the prefix, then walk and filter.
  const slash = prefix.lastIndexOf('/')
  const dirPath = slash < 0 ? '' : prefix.slice(0, slash)
  let dir = root
  let base = ''
  for (const name of dirPath === '' ? [] : splitPath(dirPath)) {
    if (dir === undefined) return
    const child = await lookupChild(store, dir, name)
    if (child === undefined || !('dir' in child)) return
    dir = child.dir
    base = base === '' ? name : `${base}/${name}`
  }
  for await (const item of walk(store, dir, base)) {
    if (item[0].startsWith(prefix)) yield item
  }
}

/** Every node CID reachable from `root`, the root first. */
export async function * nodesOf (store: NodeStore, root: CID | undefined): AsyncGenerator<CID> {
  if (root === undefined) return
  yield root
  const node = await loadNode(store, root)
  if ('shards' in node) {
    for (const shard of node.shards.values()) yield * nodesOf(store, shard)
    return
  }
  for (const child of node.entries.values()) if ('dir' in child) yield * nodesOf(store, child.dir)
}

interface ChangeTrie {
  file?: CatalogEntry | null
  sub?: Map<string, ChangeTrie>
}

/**
 * Apply puts (entry) and deletes (null) by path; returns the new root (undefined for an empty
 * catalog). Only the nodes on changed paths are read and rewritten.
 */
export async function updateTree (store: NodeStore, root: CID | undefined, changes: Iterable<[string, CatalogEntry | null]>): Promise<CID | undefined> {
  const trie = new Map<string, ChangeTrie>()
  for (const [path, entry] of changes) {
    const segments = splitPath(path)
    let level = trie
    for (const [i, name] of segments.entries()) {
      let node = level.get(name)
      if (node === undefined) level.set(name, node = {})
      if (i === segments.length - 1) node.file = entry
      else level = node.sub ??= new Map()
    }
  }
  return (await updateDir(store, root, trie, 0))?.cid
}

interface Written { cid: CID, count: number }

async function updateDir (store: NodeStore, dir: CID | undefined, changes: Map<string, ChangeTrie>, depth: number): Promise<Written | undefined> {
  const node = dir === undefined ? { entries: new Map<string, Child>() } : await loadNode(store, dir)
  if ('entries' in node) {
    const entries = new Map(node.entries)
    for (const [name, change] of changes) {
      const child = await applyChange(store, entries.get(name), change, name)
      if (child === undefined) entries.delete(name)
      else entries.set(name, child)
    }
    return await writeDir(store, entries, depth)
  }
  const groups = new Map<string, Map<string, ChangeTrie>>()
  for (const [name, change] of changes) {
    const key = shardKey(name, node.depth)
    let group = groups.get(key)
    if (group === undefined) groups.set(key, group = new Map())
    group.set(name, change)
  }
  const shards = new Map(node.shards)
  let count = node.count
  for (const [key, group] of groups) {
    const before = shards.get(key)
    const beforeCount = before === undefined ? 0 : await countDir(store, before)
    const after = await updateDir(store, before, group, node.depth + 1)
    count += (after?.count ?? 0) - beforeCount
    if (after === undefined) shards.delete(key)
    else shards.set(key, after.cid)
  }
  if (count <= MAX_ENTRIES) {
    // Shrunk below the split threshold: collapse back into one entries node (canonical shape).
    const entries = new Map<string, Child>()
    for (const shard of shards.values()) for (const [name, child] of await readDir(store, shard)) entries.set(name, child)
    return await writeDir(store, entries, depth)
  }
  return { cid: await saveNode(store, { shards, count, depth: node.depth }), count }
}

async function applyChange (store: NodeStore, existing: Child | undefined, change: ChangeTrie, name: string): Promise<Child | undefined> {
  if (change.file !== undefined && change.sub !== undefined) {
    throw new UsageError(`catalog path conflict at ${JSON.stringify(name)}: both a file and a directory`)
  }
  if (change.file !== undefined) {
    if (existing !== undefined && 'dir' in existing && change.file !== null) {
      throw new UsageError(`catalog path conflict: ${JSON.stringify(name)} is a directory`)
    }
    return change.file === null ? (existing !== undefined && 'dir' in existing ? existing : undefined) : { file: change.file }
  }
  if (existing !== undefined && 'file' in existing) {
    throw new UsageError(`catalog path conflict: ${JSON.stringify(name)} is a file`)
  }
  const written = await updateDir(store, existing?.dir, change.sub ?? new Map(), 0)
  return written === undefined ? undefined : { dir: written.cid }
}

async function writeDir (store: NodeStore, entries: Map<string, Child>, depth: number): Promise<Written | undefined> {
  if (entries.size === 0) return undefined
  if (entries.size <= MAX_ENTRIES) {
    const sorted = new Map([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    return { cid: await saveNode(store, { entries: sorted }), count: entries.size }
  }
  const groups = new Map<string, Map<string, Child>>()
  for (const [name, child] of entries) {
    const key = shardKey(name, depth)
    let group = groups.get(key)
    if (group === undefined) groups.set(key, group = new Map())
    group.set(name, child)
  }
  const shards = new Map<string, CID>()
  for (const [key, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const written = await writeDir(store, group, depth + 1)
    if (written !== undefined) shards.set(key, written.cid)
  }
  return { cid: await saveNode(store, { shards, count: entries.size, depth }), count: entries.size }
}

async function countDir (store: NodeStore, dir: CID): Promise<number> {
  const node = await loadNode(store, dir)
  return 'entries' in node ? node.entries.size : node.count
}
