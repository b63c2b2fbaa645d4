/**
 * Catalog nodes: the dag-cbor blocks of the catalog's Merkle tree (spec: protocols/catalog/README.md).
 *
 *   entries node  { entries: { <name>: { dir: CID } | { file: Leaf } } }       at most MAX_ENTRIES names
 *   shard node    { shards: { "00".."ff": CID }, count: n, depth: d }         a larger directory, split
 *                                                                              by byte d of sha256(name)
 * The shape is a pure function of the content, so equal catalogs have equal roots whatever their history.
 */
import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import type { CatalogEntry } from './interface.ts'
import type { CID } from '../store/cid.ts'
import { CID as CIDClass, DAG_CBOR, RAW, cidOfBytes, sameCid } from '../store/cid.ts'
import { IntegrityError } from '../util/errors.ts'
import { chunkCount } from '../store/hash.ts'

/** A directory holding more names than this is split into shards. */
export const MAX_ENTRIES = 256
/** Largest encoded node accepted from a peer or a bundle. */
export const MAX_NODE_BYTES = 1 << 20
const MAX_NAME_BYTES = 255

/** A child of a directory: a subdirectory or a file. */
export type Child = { dir: CID } | { file: CatalogEntry }

/** A decoded catalog node. */
export type CatalogNode =
  | { entries: Map<string, Child> }
  | { shards: Map<string, CID>, count: number, depth: number }

/** Whether a path segment may appear in the catalog. */
export function validName (name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !name.includes('/') &&
    !name.includes('\0') && Buffer.byteLength(name) <= MAX_NAME_BYTES
}

/** The shard key (two hex chars) of a name at a shard depth. */
export function shardKey (name: string, depth: number): string {
  const digest = createHash('sha256').update(name).digest()
  return digest.subarray(depth, depth + 1).toString('hex')
}

/** Encode a node canonically; returns its bytes and CID. */
export function encodeNode (node: CatalogNode): { bytes: Uint8Array, cid: CID } {
  let value: unknown
  if ('entries' in node) {
    const entries: Record<string, unknown> = {}
    for (const [name, child] of node.entries) {
      entries[name] = 'dir' in child
        ? { dir: child.dir }
        : { file: fileValue(child.file) }
    }
    value = { entries }
  } else {
    value = { shards: Object.fromEntries(node.shards), count: node.count, depth: node.depth }
  }
  const bytes = dagCbor.encode(value)
  return { bytes, cid: cidOfBytes(bytes, DAG_CBOR) }
}

/** Decode a node, checking its hash against `cid` and its shape against the spec. */
export function decodeNode (bytes: Uint8Array, cid: CID): CatalogNode {
  if (bytes.length > MAX_NODE_BYTES) throw new IntegrityError(`catalog node ${cid.toString()} is larger than ${MAX_NODE_BYTES} bytes`)
  if (!sameCid(cidOfBytes(bytes, DAG_CBOR), cid)) throw new IntegrityError(`catalog node bytes do not hash to ${cid.toString()}`)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new IntegrityError(`catalog node ${cid.toString()} is not valid dag-cbor`, { cause: err })
  }
  return checkShape(value, cid)
}

function checkShape (value: unknown, cid: CID): CatalogNode {
  const bad = (why: string): never => { throw new IntegrityError(`catalog node ${cid.toString()} is malformed: ${why}`) }
  if (!isRecord(value)) return bad('not a map')
  if ('entries' in value) {
    if (Object.keys(value).length !== 1 || !isRecord(value.entries)) return bad('entries')
    const entries = new Map<string, Child>()
    for (const [name, child] of Object.entries(value.entries)) {
      if (!validName(name)) bad(`invalid name ${JSON.stringify(name)}`)
      entries.set(name, checkChild(child, bad))
    }
    if (entries.size > MAX_ENTRIES) bad('too many entries')
    return { entries }
  }
  if (!('shards' in value) || !isRecord(value.shards)) return bad('neither entries nor shards')
  const { count, depth } = value
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count <= MAX_ENTRIES) return bad('count')
  if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 0 || depth > 31) return bad('depth')
  const shards = new Map<string, CID>()
  for (const [key, link] of Object.entries(value.shards)) {
    if (!/^[0-9a-f]{2}$/.test(key) || !isNodeCid(link)) bad(`shard ${key}`)
    shards.set(key, link as CID)
  }
  return { shards, count, depth }
}

function fileValue (file: CatalogEntry): Record<string, unknown> {
  const value: Record<string, unknown> = { kind: file.kind, cid: file.cid, size: file.size, mtime: file.mtime }
  if (file.chunks !== undefined) value.chunks = file.chunks
  return value
}

function checkChild (child: unknown, bad: (why: string) => never): Child {
  if (!isRecord(child)) return bad('child is not a map')
  if ('dir' in child && Object.keys(child).length === 1 && isNodeCid(child.dir)) return { dir: child.dir as CID }
  if (!('file' in child) || Object.keys(child).length !== 1 || !isRecord(child.file)) return bad('child is neither dir nor file')
  const { kind, cid, size, mtime, chunks } = child.file
  const fields = Object.keys(child.file).length
  if (fields !== (chunks === undefined ? 4 : 5)) return bad('file fields')
  if (kind !== 'meta' && kind !== 'blob') return bad('file kind')
  const link = CIDClass.asCID(cid)
  if (link === null || link.version !== 1 || link.code !== RAW || link.multihash.code !== 0x12) return bad('file cid')
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return bad('file size')
  if (typeof mtime !== 'number' || !Number.isSafeInteger(mtime)) return bad('file mtime')
  if (chunks === undefined) return { file: { kind, cid: link, size, mtime } }
  // One sha256 per CHUNK_SIZE chunk, and only for content of more than one chunk.
  if (!(chunks instanceof Uint8Array) || chunks.length !== chunkCount(size) * 32 || chunks.length < 64) return bad('file chunks')
  return { file: { kind, cid: link, size, mtime, chunks } }
}

function isNodeCid (value: unknown): boolean {
  const cid = CIDClass.asCID(value)
  return cid !== null && cid.version === 1 && cid.code === DAG_CBOR && cid.multihash.code === 0x12
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}

/** Whether two files are the same entry. */
export function sameFile (a: CatalogEntry, b: CatalogEntry): boolean {
  return a.kind === b.kind && sameCid(a.cid, b.cid) && a.size === b.size && a.mtime === b.mtime &&
    Buffer.compare(a.chunks ?? EMPTY, b.chunks ?? EMPTY) === 0
}

const EMPTY = new Uint8Array(0)
