/**
 * Reading a bundle as a stream and checking everything as it goes: the manifest first, then the
 * signed head (the caller may refuse it before any content is read), then each node and blob
 * against the hashes the signed root commits to. Blobs go to a caller-supplied sink, never to memory.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import type { CID } from '../store/cid.ts'
import { parseCid } from '../store/cid.ts'
import { decodeNode, MAX_NODE_BYTES } from '../catalog/node.ts'
import type { EntryKind } from '../catalog/interface.ts'
import { openSignedHead, type SignedHead } from '../trust/head.ts'
import { BundleFormatError, IntegrityError } from '../util/errors.ts'
import { MANIFEST_NAME, MAX_MANIFEST_BYTES, parseEntryName, parseManifest, type Manifest } from './format.ts'

/** What the reader hands a blob sink: the content stream and what it must hash to. */
export interface BlobArrival {
  cid: CID
  size: number
  kind: EntryKind
  stream: Readable
}

/** Hooks a reader calls; throwing from any of them aborts the read. */
export interface ReadHooks {
  /** Called once the head is verified, before any content: refuse it by throwing. */
  onHead?: (head: SignedHead, manifest: Manifest) => Promise<void>
  /** Consume and verify a blob's content (e.g. stage it in the store, or hash and discard). */
  onBlob: (blob: BlobArrival) => Promise<void>
  /** Bytes of the bundle file read so far. */
  onProgress?: (bytesRead: number, totalBytes: number) => void
  signal?: AbortSignal
}

/** What a fully read and checked bundle holds. */
export interface ReadResult {
  manifest: Manifest
  head: SignedHead
  base: CID | null
  /** Catalog nodes carried, in bundle order. */
  nodes: Array<{ cid: CID, bytes: Uint8Array }>
  /** Node links the bundle does not carry: the receiver must already hold them (from the base). */
  externalNodes: CID[]
  /** Every file entry of the carried nodes, by blob CID. */
  leaves: Map<string, { kind: EntryKind, size: number }>
  /** Blobs carried. */
  blobs: Array<{ cid: CID, size: number, kind: EntryKind }>
}

/** Read and check a bundle file. */
export async function readBundleFile (file: string, hooks: ReadHooks): Promise<ReadResult> {
  const total = (await stat(file)).size
  let read = 0
  const source = createReadStream(file, { highWaterMark: 1 << 20, signal: hooks.signal })
  source.on('data', (chunk: string | Buffer) => {
    read += chunk.length
    hooks.onProgress?.(read, total)
  })
  return await readBundle(source, hooks)
}

/** Read and check a bundle from a stream. */
export async function readBundle (source: Readable, hooks: ReadHooks): Promise<ReadResult> {
  const extract = tar.extract()
  source.on('error', err => extract.destroy(err))
  source.pipe(extract)
  let manifest: Manifest | undefined
  let head: SignedHead | undefined
  const nodes: ReadResult['nodes'] = []
  const wantedNodes = new Set<string>()
  const seenNodes = new Set<string>()
  const leaves: ReadResult['leaves'] = new Map()
  const blobs: ReadResult['blobs'] = []
  let blobIndex = 0
  try {
    for await (const entry of extract) {
      const { name, type, size } = entry.header
      if (type !== 'file') throw new BundleFormatError(`bundle entry ${JSON.stringify(name)} is a ${String(type)}, not a file`)
      const what = parseEntryName(name)
      if (what.type === 'manifest') {
        if (manifest !== undefined) throw new BundleFormatError('bundle has two manifests')
        manifest = parseManifest(await readSmall(entry as AsyncIterable<Buffer>, MAX_MANIFEST_BYTES, 'manifest'))
        head = await openSignedHead(Buffer.from(manifest.head, 'base64'))
        if (head.root !== null) wantedNodes.add(head.root.toString())
        await hooks.onHead?.(head, manifest)
        continue
      }
      if (manifest === undefined) throw new BundleFormatError(`bundle does not start with its manifest (found ${name})`)
      if (what.type === 'node') {
        const key = what.cid.toString()
        if (blobIndex > 0) throw new BundleFormatError('bundle has a catalog node after its blobs')
        if (!wantedNodes.has(key) || seenNodes.has(key)) throw new BundleFormatError(`bundle carries catalog node ${key} that nothing before it links to`)
        const bytes = await readSmall(entry as AsyncIterable<Buffer>, MAX_NODE_BYTES, `node ${key}`)
        const node = decodeNode(bytes, what.cid)
        seenNodes.add(key)
        nodes.push({ cid: what.cid, bytes })
        if ('shards' in node) for (const shard of node.shards.values()) wantedNodes.add(shard.toString())
        else {
          for (const child of node.entries.values()) {
            if ('dir' in child) wantedNodes.add(child.dir.toString())
            else leaves.set(child.file.cid.toString(), { kind: child.file.kind, size: child.file.size })
          }
        }
        continue
      }
      if (nodes.length !== manifest.nodes) throw new BundleFormatError(`bundle has ${nodes.length} catalog nodes, its manifest says ${manifest.nodes}: it is truncated or corrupt`)
      const listed = manifest.blobs[blobIndex++]
      const key = what.cid.toString()
      if (listed === undefined || listed[0] !== key || listed[2] !== what.gzip) throw new BundleFormatError(`bundle blob ${name} is not the next one its manifest lists`)
      const leaf = leaves.get(key)
      if (leaf === undefined) throw new BundleFormatError(`bundle carries blob ${key} that its catalog does not reference`)
      if (leaf.size !== listed[1]) throw new BundleFormatError(`bundle blob ${key}: manifest size ${listed[1]} differs from catalog size ${leaf.size}`)
      if (!what.gzip && size !== leaf.size) throw new BundleFormatError(`bundle blob ${key} is ${String(size)} bytes, the catalog says ${leaf.size}`)
      const stream: Readable = what.gzip ? entry.pipe(createGunzip()) : entry as unknown as Readable
      try {
        await hooks.onBlob({ cid: what.cid, size: leaf.size, kind: leaf.kind, stream })
      } catch (err) {
        if (err instanceof IntegrityError) throw new IntegrityError(`bundle blob ${key} is corrupt: ${err.message}`, { cause: err })
        throw err
      }
      blobs.push({ cid: what.cid, size: leaf.size, kind: leaf.kind })
    }
  } catch (err) {
    source.destroy()
    throw translateTarError(err)
  }
  if (manifest === undefined || head === undefined) throw new BundleFormatError('bundle is empty or has no manifest')
  if (nodes.length !== manifest.nodes || blobIndex !== manifest.blobs.length) {
    throw new BundleFormatError(`bundle is truncated: it holds ${nodes.length}/${manifest.nodes} catalog nodes and ${blobIndex}/${manifest.blobs.length} blobs`)
  }
  const externalNodes = [...wantedNodes].filter(cid => !seenNodes.has(cid)).map(parseCid)
  return { manifest, head, base: manifest.base === null ? null : parseCid(manifest.base), nodes, externalNodes, leaves, blobs }
}

async function readSmall (entry: AsyncIterable<Buffer>, limit: number, what: string): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of entry) {
    length += chunk.length
    if (length > limit) throw new BundleFormatError(`bundle ${what} is larger than ${limit} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

function translateTarError (err: unknown): unknown {
  if (err instanceof Error && !(err instanceof BundleFormatError) && /tar|header|unexpected end|premature|truncat/i.test(err.message)) {
    return new BundleFormatError(`bundle is not a valid archive (${err.message}): it is truncated or corrupt`, { cause: err })
  }
  return err
}

/** Only the signed head of a bundle file (reads the manifest, nothing more). */
export async function readBundleHead (file: string): Promise<{ head: SignedHead, manifest: Manifest }> {
  const source = createReadStream(file, { highWaterMark: 1 << 16 })
  const extract = tar.extract()
  source.on('error', err => extract.destroy(err))
  source.pipe(extract)
  try {
    for await (const entry of extract) {
      if (entry.header.name !== MANIFEST_NAME) break
      const manifest = parseManifest(await readSmall(entry as AsyncIterable<Buffer>, MAX_MANIFEST_BYTES, 'manifest'))
      return { head: await openSignedHead(Buffer.from(manifest.head, 'base64')), manifest }
    }
  } catch (err) {
    throw translateTarError(err)
  } finally {
    source.destroy()
    extract.destroy()
  }
  throw new BundleFormatError(`${file} is not a mirrormesh bundle: it does not start with ${MANIFEST_NAME}`)
}
