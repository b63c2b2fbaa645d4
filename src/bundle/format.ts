/**
 * The bundle file format (spec: protocols/bundle/README.md): an uncompressed POSIX tar whose
 * entries are, in this order,
 *   bundle.json            the manifest (below)
 *   nodes/<cid>            catalog nodes (dag-cbor), each after the node that links to it
 *   blobs/<cid>[.gz]       content (raw bytes, or gzip of them for compressible metadata)
 * Nothing else may appear. Every byte is checked against the signed head before it is used.
 */
import type { CID } from '../store/cid.ts'
import { parseCid } from '../store/cid.ts'
import { BundleFormatError } from '../util/errors.ts'

/** File name extension users and watchers look for. */
export const BUNDLE_EXTENSION = '.mmb'
export const MANIFEST_NAME = 'bundle.json'
export const FORMAT_NAME = 'mirrormesh-bundle'
export const FORMAT_VERSION = 1
/** The manifest is small JSON; anything bigger is refused before parsing. */
export const MAX_MANIFEST_BYTES = 64 << 20

/** The manifest: what the bundle carries. It is not signed; everything it names is checked. */
export interface Manifest {
  format: typeof FORMAT_NAME
  version: typeof FORMAT_VERSION
  /** The signed head, base64 of its wire bytes. */
  head: string
  /** The head this bundle is a delta against (the receiver must hold its catalog), or null. */
  base: string | null
  /** Number of `nodes/` entries. */
  nodes: number
  /** The `blobs/` entries in order: CID, size of the content, and whether the entry is gzipped. */
  blobs: Array<[string, number, boolean]>
}

/** Parse and check a manifest. */
export function parseManifest (bytes: Uint8Array): Manifest {
  let value: Partial<Manifest>
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<Manifest>
  } catch {
    throw new BundleFormatError('bundle manifest is not JSON: the file is corrupt or not a mirrormesh bundle')
  }
  if (value.format !== FORMAT_NAME) throw new BundleFormatError('not a mirrormesh bundle (manifest format field)')
  if (value.version !== FORMAT_VERSION) throw new BundleFormatError(`bundle format version ${String(value.version)} is not supported by this mirrormesh (supports ${FORMAT_VERSION}): upgrade mirrormesh`)
  if (typeof value.head !== 'string') throw new BundleFormatError('bundle manifest has no head')
  if (value.base !== null && typeof value.base !== 'string') throw new BundleFormatError('bundle manifest base must be a CID or null')
  if (typeof value.nodes !== 'number' || !Number.isSafeInteger(value.nodes) || value.nodes < 0) throw new BundleFormatError('bundle manifest node count')
  if (!Array.isArray(value.blobs)) throw new BundleFormatError('bundle manifest blob list')
  for (const item of value.blobs) {
    if (!Array.isArray(item) || item.length !== 3 || typeof item[0] !== 'string' || !Number.isSafeInteger(item[1]) || item[1] < 0 || typeof item[2] !== 'boolean') {
      throw new BundleFormatError('bundle manifest blob list has a malformed item')
    }
  }
  return value as Manifest
}

/** What an entry name says it is; anything else is refused (this is where `../` dies). */
export type EntryName =
  | { type: 'manifest' }
  | { type: 'node', cid: CID }
  | { type: 'blob', cid: CID, gzip: boolean }

/** Classify a tar entry name, strictly. */
export function parseEntryName (name: string): EntryName {
  if (name === MANIFEST_NAME) return { type: 'manifest' }
  const match = /^(nodes|blobs)\/([a-z0-9]{20,100})(\.gz)?$/.exec(name)
  if (match === null) throw new BundleFormatError(`bundle holds an entry that a bundle may not hold: ${JSON.stringify(name.slice(0, 200))}`)
  let cid: CID
  try {
    cid = parseCid(match[2] as string)
  } catch {
    throw new BundleFormatError(`bundle entry ${JSON.stringify(name)} is not named by a valid CID`)
  }
  if (match[1] === 'nodes') {
    if (match[3] !== undefined || cid.code !== 0x71) throw new BundleFormatError(`bundle entry ${name}: nodes are dag-cbor and never gzipped`)
    return { type: 'node', cid }
  }
  if (cid.code !== 0x55) throw new BundleFormatError(`bundle entry ${name}: blobs have raw CIDs`)
  return { type: 'blob', cid, gzip: match[3] !== undefined }
}

/** The tar entry name for a node or blob. */
export function entryName (entry: EntryName): string {
  if (entry.type === 'manifest') return MANIFEST_NAME
  if (entry.type === 'node') return `nodes/${entry.cid.toString()}`
  return `blobs/${entry.cid.toString()}${entry.gzip ? '.gz' : ''}`
}
