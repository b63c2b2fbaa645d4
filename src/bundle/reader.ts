/**
 * Reading a bundle as a stream and checking everything as it goes: the manifest first, then the
 * signed head (the caller may refuse it before any content is read), then each node and blob
 * against the hashes the signed root commits to. Blobs go to a caller-supplied sink, never to memory.
 *
 * Speed and memory (docs/performance.md, "Bundle import"): a file is read with two reused 1 MiB
 * buffers (one being consumed while the next read is in flight) and parsed by the small strict tar
 * reader below, so a gigabyte bundle allocates no per-chunk garbage and RSS stays flat. The price
 * is a contract: a blob's chunks are views into those buffers, valid only until the next chunk is
 * asked for; sinks hash and write each chunk before pulling the next (BlobStore.stage, verifyStream).
 */
import { open, type FileHandle } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import type { CID } from '../store/cid.ts'
import { parseCid } from '../store/cid.ts'
import { decodeNode, MAX_NODE_BYTES } from '../catalog/node.ts'
import type { EntryKind } from '../catalog/interface.ts'
import { openSignedHead, type SignedHead } from '../trust/head.ts'
import { BundleFormatError, IntegrityError } from '../util/errors.ts'
import { MANIFEST_NAME, MAX_MANIFEST_BYTES, parseEntryName, parseManifest, type Manifest } from './format.ts'

/** What the reader hands a blob sink: the content and what it must hash to. */
export interface BlobArrival {
  cid: CID
  size: number
  kind: EntryKind
  /**
   * The content (already gunzipped for `.gz` entries). Each chunk is valid only until the next one
   * is requested: consume it (hash, write and await the write) first. The sink must read to the end.
   */
  stream: AsyncIterable<Uint8Array>
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

const CHUNK = 1 << 20
const BLOCK = 512
const EMPTY = new Uint8Array(0)

/** Read and check a bundle file. */
export async function readBundleFile (file: string, hooks: ReadHooks): Promise<ReadResult> {
  const handle = await open(file, 'r')
  const source = new FileSource(handle, CHUNK, (await handle.stat()).size, hooks.onProgress)
  try {
    return await readEntries(source, hooks)
  } finally {
    await source.close()
  }
}

/** Read and check a bundle from a stream (chunks of any size; they are not retained). */
export async function readBundle (source: AsyncIterable<Uint8Array>, hooks: ReadHooks): Promise<ReadResult> {
  const bytes = new IterableSource(source)
  try {
    return await readEntries(bytes, hooks)
  } finally {
    await bytes.close()
  }
}

async function readEntries (source: ByteSource, hooks: ReadHooks): Promise<ReadResult> {
  let manifest: Manifest | undefined
  let head: SignedHead | undefined
  const nodes: ReadResult['nodes'] = []
  const wantedNodes = new Set<string>()
  const seenNodes = new Set<string>()
  const leaves: ReadResult['leaves'] = new Map()
  const blobs: ReadResult['blobs'] = []
  let blobIndex = 0
  for await (const entry of tarEntries(source, hooks.signal)) {
    const { name, type, size } = entry
    if (type !== 'file') throw new BundleFormatError(`bundle entry ${JSON.stringify(name)} is a ${type}, not a file`)
    const what = parseEntryName(name)
    if (what.type === 'manifest') {
      if (manifest !== undefined) throw new BundleFormatError('bundle has two manifests')
      manifest = parseManifest(await readSmall(entry, MAX_MANIFEST_BYTES, 'manifest'))
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
      const bytes = await readSmall(entry, MAX_NODE_BYTES, `node ${key}`)
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
    try {
      await hooks.onBlob({ cid: what.cid, size: leaf.size, kind: leaf.kind, stream: what.gzip ? gunzipped(entry) : entry })
    } catch (err) {
      if (err instanceof IntegrityError) throw new IntegrityError(`bundle blob ${key} is corrupt: ${err.message}`, { cause: err })
      throw err
    }
    blobs.push({ cid: what.cid, size: leaf.size, kind: leaf.kind })
  }
  if (manifest === undefined || head === undefined) throw new BundleFormatError('bundle is empty or has no manifest')
  if (nodes.length !== manifest.nodes || blobIndex !== manifest.blobs.length) {
    throw new BundleFormatError(`bundle is truncated: it holds ${nodes.length}/${manifest.nodes} catalog nodes and ${blobIndex}/${manifest.blobs.length} blobs`)
  }
  const externalNodes = [...wantedNodes].filter(cid => !seenNodes.has(cid)).map(parseCid)
  return { manifest, head, base: manifest.base === null ? null : parseCid(manifest.base), nodes, externalNodes, leaves, blobs }
}

/** A small entry, copied out of the read buffers. */
async function readSmall (entry: TarEntry, limit: number, what: string): Promise<Uint8Array> {
  if (entry.size > limit) throw new BundleFormatError(`bundle ${what} is larger than ${limit} bytes`)
  const out = Buffer.allocUnsafe(entry.size)
  let length = 0
  for await (const chunk of entry) {
    out.set(chunk, length)
    length += chunk.length
  }
  return out
}

/** Gunzip an entry. zlib keeps its input until it is processed, so each chunk is copied first. */
async function * gunzipped (entry: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const gunzip = createGunzip()
  const feeding = pipeline(Readable.from((async function * () { for await (const chunk of entry) yield Buffer.from(chunk) })()), gunzip)
  feeding.catch(() => {}) // surfaces through the iteration below, and again when awaited
  yield * gunzip
  await feeding
}

/** Only the signed head of a bundle file (reads the manifest, nothing more). */
export async function readBundleHead (file: string): Promise<{ head: SignedHead, manifest: Manifest }> {
  const handle = await open(file, 'r')
  const source = new FileSource(handle, 1 << 16)
  try {
    for await (const entry of tarEntries(source)) {
      if (entry.name !== MANIFEST_NAME || entry.type !== 'file') break
      const manifest = parseManifest(await readSmall(entry, MAX_MANIFEST_BYTES, 'manifest'))
      return { head: await openSignedHead(Buffer.from(manifest.head, 'base64')), manifest }
    }
  } finally {
    await source.close()
  }
  throw new BundleFormatError(`${file} is not a mirrormesh bundle: it does not start with ${MANIFEST_NAME}`)
}

// ---------------------------------------------------------------------------------------------
// Bytes in order, without per-chunk allocation.

/** A sequence of bytes; a view returned by `next` is valid only until the following call. */
interface ByteSource {
  /** Up to `max` (> 0) bytes; an empty view at the end. */
  next (max: number): Promise<Uint8Array>
  close (): Promise<void>
}

/** A file read into two alternating buffers: one is handed out while the other is being filled. */
class FileSource implements ByteSource {
  readonly #handle: FileHandle
  readonly #total: number
  readonly #onProgress: ((read: number, total: number) => void) | undefined
  #spare: Buffer
  #current: Buffer
  #data: Uint8Array = EMPTY
  #offset = 0
  #position = 0
  #ahead: Promise<Uint8Array> | undefined

  constructor (handle: FileHandle, size: number, total = 0, onProgress?: (read: number, total: number) => void) {
    this.#handle = handle
    this.#total = total
    this.#onProgress = onProgress
    this.#current = Buffer.allocUnsafe(size)
    this.#spare = Buffer.allocUnsafe(size)
    this.#ahead = this.#fill(this.#spare)
  }

  /** Start reading into `buffer`; a failure is reported to whoever awaits it, never unhandled. */
  #fill (buffer: Buffer): Promise<Uint8Array> {
    const reading = this.#read(buffer)
    reading.catch(() => {})
    return reading
  }

  async #read (buffer: Buffer): Promise<Uint8Array> {
    const { bytesRead } = await this.#handle.read(buffer, 0, buffer.length, this.#position)
    this.#position += bytesRead
    this.#onProgress?.(this.#position, this.#total)
    return buffer.subarray(0, bytesRead)
  }

  async next (max: number): Promise<Uint8Array> {
    if (this.#offset === this.#data.length) {
      if (this.#ahead === undefined) return EMPTY // at the end, or closed
      // The caller is done with the current buffer: it becomes the spare, filled while the other is used.
      const data = await this.#ahead
      if (this.#ahead === undefined) return EMPTY // closed meanwhile
      this.#data = data
      this.#offset = 0
      if (data.length === 0) {
        this.#ahead = undefined
        return EMPTY
      }
      const used = this.#current
      this.#current = this.#spare
      this.#spare = used
      this.#ahead = this.#fill(this.#spare)
    }
    const end = Math.min(this.#data.length, this.#offset + max)
    const view = this.#data.subarray(this.#offset, end)
    this.#offset = end
    return view
  }

  async close (): Promise<void> {
    const reading = this.#ahead
    this.#ahead = undefined
    this.#data = EMPTY
    this.#offset = 0
    await reading?.catch(() => {})
    await this.#handle.close()
  }
}

/** Chunks from an async iterable (a stream), handed out in pieces. */
class IterableSource implements ByteSource {
  readonly #iterator: AsyncIterator<Uint8Array>
  #data: Uint8Array = EMPTY
  #offset = 0
  #done = false

  constructor (source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]()
  }

  async next (max: number): Promise<Uint8Array> {
    while (this.#offset === this.#data.length) {
      if (this.#done) return EMPTY
      const step = await this.#iterator.next()
      if (step.done === true) this.#done = true
      else {
        this.#data = step.value
        this.#offset = 0
      }
    }
    const end = Math.min(this.#data.length, this.#offset + max)
    const view = this.#data.subarray(this.#offset, end)
    this.#offset = end
    return view
  }

  async close (): Promise<void> {
    if (!this.#done) await this.#iterator.return?.()
  }
}

// ---------------------------------------------------------------------------------------------
// Tar (POSIX ustar, IEEE 1003.1-2001), read strictly: checksums checked, ustar/GNU headers only,
// pax `path`/`size` and GNU long names honoured, anything else reported as its type so the bundle
// rules can refuse it. Entry bodies are streamed; a body the consumer leaves unread is skipped.

/** One tar entry: its header fields, and its body as chunks. */
interface TarEntry extends AsyncIterable<Uint8Array> {
  name: string
  type: string
  size: number
}

const truncated = (): BundleFormatError => new BundleFormatError('bundle is not a valid archive (unexpected end of data): it is truncated or corrupt')
const corrupt = (what: string): BundleFormatError => new BundleFormatError(`bundle is not a valid archive (${what}): it is truncated or corrupt`)

const TYPES: Record<string, string> = { 0: 'file', '\0': 'file', 1: 'link', 2: 'symlink', 3: 'character-device', 4: 'block-device', 5: 'directory', 6: 'fifo', 7: 'contiguous-file', x: 'pax-header', g: 'pax-global-header', L: 'gnu-long-path', K: 'gnu-long-link-path' }
const MAX_EXTENDED_HEADER = 1 << 20

async function readExact (source: ByteSource, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length)
  let filled = 0
  while (filled < length) {
    const view = await source.next(length - filled)
    if (view.length === 0) throw truncated()
    out.set(view, filled)
    filled += view.length
  }
  return out
}

async function completeBlock (source: ByteSource, first: Uint8Array): Promise<Buffer> {
  const block = Buffer.allocUnsafe(BLOCK)
  block.set(first)
  block.set(await readExact(source, BLOCK - first.length), first.length)
  return block
}

async function skip (source: ByteSource, length: number): Promise<void> {
  while (length > 0) {
    const view = await source.next(Math.min(length, CHUNK))
    if (view.length === 0) throw truncated()
    length -= view.length
  }
}

/** The entries of a tar, in order. Each body must be done with before the next entry is taken. */
async function * tarEntries (source: ByteSource, signal?: AbortSignal): AsyncGenerator<TarEntry> {
  let override: { path?: string, size?: number } = {}
  for (;;) {
    signal?.throwIfAborted()
    const first = await source.next(BLOCK)
    if (first.length === 0) return
    // A header split across chunks is copied together (the first piece is dead after the next read).
    const header = first.length === BLOCK ? Buffer.from(first.buffer, first.byteOffset, BLOCK) : await completeBlock(source, first)
    if (header.every(byte => byte === 0)) continue // end-of-archive blocks (anything after them is still read)
    const fields = parseHeader(header)
    // The header view is dead after the next read: everything needed is in `fields` now.
    const size = override.size ?? fields.size
    const name = override.path ?? fields.name
    const padding = (BLOCK - (size % BLOCK)) % BLOCK
    if (fields.type === 'pax-header' || fields.type === 'gnu-long-path') {
      if (size > MAX_EXTENDED_HEADER) throw corrupt(`${fields.type} of ${size} bytes`)
      const body = await readExact(source, size)
      await skip(source, padding)
      override = fields.type === 'pax-header' ? { ...override, ...parsePax(body) } : { ...override, path: body.toString('utf8').replace(/\0+$/, '') }
      continue
    }
    override = {}
    let left = size
    const entry: TarEntry = {
      name,
      type: fields.type,
      size,
      async * [Symbol.asyncIterator] () {
        while (left > 0) {
          signal?.throwIfAborted()
          const view = await source.next(Math.min(left, CHUNK))
          if (view.length === 0) throw truncated()
          left -= view.length
          yield view
        }
      }
    }
    yield entry
    await skip(source, left + padding)
    left = 0
  }
}

function parseHeader (block: Buffer): { name: string, type: string, size: number } {
  let sum = 8 * 0x20
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i] as number
  if (sum !== octal(block, 148, 8)) throw corrupt('header checksum mismatch')
  const magic = block.toString('latin1', 257, 263)
  const ustar = magic === 'ustar\0'
  if (!ustar && magic !== 'ustar ') throw corrupt('unknown header format')
  const flag = String.fromCharCode(block[156] as number)
  let name = cString(block, 0, 100)
  if (ustar && block[345] !== 0) name = `${cString(block, 345, 155)}/${name}`
  let type = TYPES[flag] ?? `entry of type ${JSON.stringify(flag)}`
  if (type === 'file' && name.endsWith('/')) type = 'directory'
  return { name, type, size: (block[124] as number) & 0x80 ? base256(block.subarray(124, 136)) : octal(block, 124, 12) }
}

function cString (block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset)
  return block.toString('utf8', offset, end === -1 || end > offset + length ? offset + length : end)
}

function octal (block: Buffer, offset: number, length: number): number {
  const text = block.toString('latin1', offset, offset + length).replace(/[\0 ]+$/, '').replace(/^[ 0]+(?=.)/, '')
  if (!/^[0-7]*$/.test(text)) throw corrupt('malformed number in a header')
  return text === '' ? 0 : parseInt(text, 8)
}

function base256 (field: Buffer): number {
  if (((field[0] as number) & 0x40) !== 0) throw corrupt('negative size in a header')
  let value = (field[0] as number) & 0x3f
  for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] as number)
  if (!Number.isSafeInteger(value)) throw corrupt('size too large')
  return value
}

/** pax extended header records (`LEN key=value\n`): only `path` and `size` matter here. */
function parsePax (body: Buffer): { path?: string, size?: number } {
  const out: { path?: string, size?: number } = {}
  let at = 0
  while (at < body.length && body[at] !== 0) {
    const space = body.indexOf(0x20, at)
    const length = Number(body.toString('latin1', at, space))
    if (space === -1 || !Number.isSafeInteger(length) || length <= 0 || at + length > body.length) throw corrupt('malformed pax header')
    const record = body.toString('utf8', space + 1, at + length - 1)
    const eq = record.indexOf('=')
    const key = record.slice(0, eq)
    const value = record.slice(eq + 1)
    if (key === 'path') out.path = value
    if (key === 'size') {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw corrupt('malformed pax size')
      out.size = Number(value)
    }
    at += length
  }
  return out
}
