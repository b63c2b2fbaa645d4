/**
 * Writing a bundle as a stream: blobs are piped from disk into the tar, never held in memory
 * (only compressible metadata is gzipped in memory, entry by entry). The file appears under its
 * final name only once complete, so a watcher never picks up half a bundle.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { gzip as gzipCb } from 'node:zlib'
import tar from 'tar-stream'
import type { CID } from '../store/cid.ts'
import type { SignedHead } from '../trust/head.ts'
import { FORMAT_NAME, FORMAT_VERSION, entryName, type Manifest } from './format.ts'

const gzip = promisify(gzipCb)

/** Content for a `blobs/` entry. */
export interface BlobInput {
  cid: CID
  size: number
  /** Metadata (JSON, index files) is gzipped in the bundle; package blobs already are compressed. */
  compress: boolean
  /** The content: a file path, bytes, or a function opening a stream. */
  source: { file: string } | { bytes: Uint8Array } | { open: () => Readable }
}

/** Everything a bundle carries. */
export interface BundleContent {
  head: SignedHead
  base: CID | null
  nodes: Array<{ cid: CID, bytes: Uint8Array }>
  blobs: BlobInput[]
}

/** Totals of a written bundle. */
export interface WriteResult {
  bytes: number
  nodes: number
  blobs: number
  blobBytes: number
}

/** Write `content` to `out` (atomically: a temp name, then rename). */
export async function writeBundle (out: string, content: BundleContent, onProgress?: (blobBytesDone: number) => void): Promise<WriteResult> {
  const partial = `${out}.partial`
  const pack = tar.pack()
  const sink = createWriteStream(partial, { flush: true, highWaterMark: 1 << 20 })
  const piping = pipeline(pack, sink)
  try {
    const payloads = new Map<string, Uint8Array>()
    const items: Manifest['blobs'] = []
    for (const blob of content.blobs) {
      if (blob.compress) payloads.set(blob.cid.toString(), await gzip(await readAll(blob)))
      items.push([blob.cid.toString(), blob.size, blob.compress])
    }
    const manifest: Manifest = {
      format: FORMAT_NAME,
      version: FORMAT_VERSION,
      head: Buffer.from(content.head.bytes).toString('base64'),
      base: content.base?.toString() ?? null,
      nodes: content.nodes.length,
      blobs: items
    }
    await addBuffer(pack, entryName({ type: 'manifest' }), Buffer.from(JSON.stringify(manifest)))
    for (const node of content.nodes) await addBuffer(pack, entryName({ type: 'node', cid: node.cid }), node.bytes)
    let done = 0
    for (const blob of content.blobs) {
      const name = entryName({ type: 'blob', cid: blob.cid, gzip: blob.compress })
      const payload = payloads.get(blob.cid.toString())
      if (blob.compress && payload !== undefined) await addBuffer(pack, name, payload)
      else await addStream(pack, name, blob.size, openBlob(blob))
      done += blob.size
      onProgress?.(done)
    }
    pack.finalize()
    await piping
    await rename(partial, out)
    return { bytes: sink.bytesWritten, nodes: content.nodes.length, blobs: content.blobs.length, blobBytes: done }
  } catch (err) {
    pack.destroy(err as Error)
    await piping.catch(() => {})
    await rm(partial, { force: true })
    throw err
  }
}

function openBlob (blob: BlobInput): Readable | AsyncIterable<Uint8Array> {
  if ('file' in blob.source) return createReadStream(blob.source.file, { highWaterMark: 1 << 20 })
  if ('bytes' in blob.source) return (async function * (bytes: Uint8Array) { yield bytes })(blob.source.bytes)
  return blob.source.open()
}

async function readAll (blob: BlobInput): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of openBlob(blob)) chunks.push(chunk)
  return Buffer.concat(chunks)
}

async function addBuffer (pack: tar.Pack, name: string, bytes: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    pack.entry({ name, size: bytes.length, mode: 0o644, mtime: new Date(0) }, Buffer.from(bytes), err => { if (err != null) reject(err); else resolve() })
  })
}

async function addStream (pack: tar.Pack, name: string, size: number, source: Readable | AsyncIterable<Uint8Array>): Promise<void> {
  let failed: Error | undefined
  const done = new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, err => { if (err != null) reject(err); else resolve() })
    pipeline(source, entry).catch((err: Error) => { failed = err; reject(err) })
  })
  await done
  if (failed !== undefined) throw failed
}
