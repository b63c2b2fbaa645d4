/** Where catalog nodes are kept: the repo's database, or memory while a bundle is built. */
import { LRUCache } from 'lru-cache'
import type { CID } from '../store/cid.ts'
import { NotFoundError } from '../util/errors.ts'
import { decodeNode, encodeNode, type CatalogNode } from './node.ts'

/** Raw access to catalog node blocks by CID. */
export interface NodeStore {
  /** The bytes of a node; throws NotFoundError when absent. */
  get (cid: CID): Promise<Uint8Array>
  put (cid: CID, bytes: Uint8Array): Promise<void>
  has (cid: CID): Promise<boolean>
}

/** Nodes in memory, falling back to another store for reads: new nodes of a bundle being built. */
export class MemoryNodeStore implements NodeStore {
  readonly added = new Map<string, Uint8Array>()
  readonly #fallback: NodeStore | undefined

  constructor (fallback?: NodeStore) {
    this.#fallback = fallback
  }

  async get (cid: CID): Promise<Uint8Array> {
    const bytes = this.added.get(cid.toString())
    if (bytes !== undefined) return bytes
    if (this.#fallback !== undefined) return await this.#fallback.get(cid)
    throw new NotFoundError(`catalog node ${cid.toString()} is not held`)
  }

  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    this.added.set(cid.toString(), bytes)
  }

  async has (cid: CID): Promise<boolean> {
    return this.added.has(cid.toString()) || (await this.#fallback?.has(cid)) === true
  }
}

// Nodes are immutable by CID: keep recently decoded (and verified) ones, per store.
const decoded = new WeakMap<NodeStore, LRUCache<string, CatalogNode>>()

/** Load and verify a node (verified nodes are cached per store: hot paths look up the same few). */
export async function loadNode (store: NodeStore, cid: CID): Promise<CatalogNode> {
  let cache = decoded.get(store)
  if (cache === undefined) decoded.set(store, cache = new LRUCache({ max: 4096 }))
  const key = cid.toString()
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  const node = decodeNode(await store.get(cid), cid)
  cache.set(key, node)
  return node
}

/** Encode and store a node; returns its CID. */
export async function saveNode (store: NodeStore, node: CatalogNode): Promise<CID> {
  const { bytes, cid } = encodeNode(node)
  await store.put(cid, bytes)
  return cid
}
