/**
 * Writing a bundle as a stream: blobs are copied from disk into the tar, never held in memory
 * (only compressible metadata is gzipped in memory, entry by entry). The file appears under its
 * final name only once complete, so a watcher never picks up half a bundle.
 *
 * The tar is written directly (ustar headers byte-identical to what tar-stream writes) and blob
 * files are copied through two reused 1 MiB buffers, one being read while the other is written:
 * no per-chunk allocation, so RSS stays flat and the GC idle however many blobs there are.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { gzip as gzipCb } from 'node:zlib'
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
  const handle = await open(partial, 'w')
  const tar = new TarWriter(handle)
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
    await tar.bytes(entryName({ type: 'manifest' }), Buffer.from(JSON.stringify(manifest)))
    for (const node of content.nodes) await tar.bytes(entryName({ type: 'node', cid: node.cid }), node.bytes)
    let done = 0
    for (const blob of content.blobs) {
      const name = entryName({ type: 'blob', cid: blob.cid, gzip: blob.compress })
      const payload = payloads.get(blob.cid.toString())
      if (blob.compress && payload !== undefined) await tar.bytes(name, payload)
      else if ('file' in blob.source) await tar.file(name, blob.size, blob.source.file)
      else if ('bytes' in blob.source) await tar.bytes(name, blob.source.bytes)
      else await tar.stream(name, blob.size, blob.source.open())
      done += blob.size
      onProgress?.(done)
    }
    await tar.finish()
    await handle.sync()
    await handle.close()
    await rename(partial, out)
    return { bytes: tar.position, nodes: content.nodes.length, blobs: content.blobs.length, blobBytes: done }
  } catch (err) {
    await handle.close().catch(() => {})
    await rm(partial, { force: true })
    throw err
  }
}

async function readAll (blob: BlobInput): Promise<Uint8Array> {
  if ('bytes' in blob.source) return blob.source.bytes
  if ('file' in blob.source) {
    const { readFile } = await import('node:fs/promises')
    return await readFile(blob.source.file)
  }
  const chunks: Uint8Array[] = []
  for await (const chunk of blob.source.open()) chunks.push(chunk as Uint8Array)
  return Buffer.concat(chunks)
}

const BLOCK = 512
const CHUNK = 1 << 20
const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK)

/** Sequential tar output to a file handle. */
class TarWriter {
  readonly #handle: FileHandle
  #buffers: [Buffer, Buffer] | undefined
  /** Bytes written so far. */
  position = 0

  constructor (handle: FileHandle) {
    this.#handle = handle
  }

  /** An entry from memory: header, body and padding in one write. */
  async bytes (name: string, body: Uint8Array): Promise<void> {
    const padded = Buffer.alloc(BLOCK + roundUp(body.length))
    ustarHeader(name, body.length).copy(padded)
    padded.set(body, BLOCK)
    await this.#write(padded)
  }

  /**
   * An entry copied from a file of `size` bytes: one buffer is read into while the other is being
   * written. The header goes out with the first bytes, so a small file costs one read and one write.
   */
  async file (name: string, size: number, path: string): Promise<void> {
    let [current, spare] = this.#buffers ??= [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)]
    const input = await open(path, 'r')
    let writing: Promise<void> = Promise.resolve()
    try {
      ustarHeader(name, size).copy(current)
      let filled = BLOCK
      let copied = 0
      while (copied < size) {
        if (filled === current.length) {
          await writing // the spare buffer is free again
          writing = this.#write(current)
          writing.catch(() => {}) // awaited below; never an unhandled rejection meanwhile
          ;[current, spare] = [spare, current]
          filled = 0
        }
        const { bytesRead } = await input.read(current, filled, Math.min(current.length - filled, size - copied))
        if (bytesRead === 0) throw new Error(`${path} is shorter than the ${size} bytes it had when it was hashed: it changed while the bundle was being written; run the command again`)
        copied += bytesRead
        filled += bytesRead
      }
      // Buffers are whole blocks long, so the padding to the next block always fits.
      const padding = roundUp(filled) - filled
      current.fill(0, filled, filled + padding)
      await writing
      writing = this.#write(current.subarray(0, filled + padding))
      await writing
    } finally {
      await writing.catch(() => {})
      await input.close()
    }
  }

  /** An entry from a stream of `size` bytes. */
  async stream (name: string, size: number, source: AsyncIterable<unknown>): Promise<void> {
    await this.#write(ustarHeader(name, size))
    let copied = 0
    for await (const chunk of source) {
      const bytes = chunk as Uint8Array
      copied += bytes.length
      if (copied > size) break
      await this.#write(bytes)
    }
    if (copied !== size) throw new Error(`blob ${name}: its stream gave ${copied > size ? 'more' : 'fewer'} than the ${size} bytes expected`)
    await this.#write(END_OF_ARCHIVE.subarray(0, roundUp(size) - size))
  }

  /** The end-of-archive marker: two zero blocks. */
  async finish (): Promise<void> {
    await this.#write(END_OF_ARCHIVE)
  }

  async #write (bytes: Uint8Array): Promise<void> {
    let done = 0
    while (done < bytes.length) {
      const { bytesWritten } = await this.#handle.write(bytes, done, bytes.length - done)
      done += bytesWritten
    }
    this.position += bytes.length
  }
}

function roundUp (size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK
}

/** A ustar header for a regular file, exactly as tar-stream encodes it (mode 644, owner 0, mtime 0). */
function ustarHeader (name: string, size: number): Buffer {
  const block = Buffer.alloc(BLOCK)
  if (Buffer.byteLength(name) !== name.length || name.length > 100) throw new TypeError(`tar entry name ${JSON.stringify(name)} does not fit a ustar header`)
  block.write(name, 0, 'latin1')
  block.write(octal(0o644, 6), 100, 'latin1')
  block.write(octal(0, 6), 108, 'latin1')
  block.write(octal(0, 6), 116, 'latin1')
  if (size.toString(8).length > 11) {
    // Above 8 GiB: base-256, as GNU tar and tar-stream do.
    block[124] = 0x80
    let rest = size
    for (let i = 11; i > 0; i--) {
      block[124 + i] = rest % 256
      rest = Math.floor(rest / 256)
    }
  } else block.write(octal(size, 11), 124, 'latin1')
  block.write(octal(0, 11), 136, 'latin1')
  block[156] = 0x30 // '0': regular file
  block.write('ustar\0', 257, 'latin1')
  block.write('00', 263, 'latin1')
  block.write(octal(0, 6), 329, 'latin1')
  block.write(octal(0, 6), 337, 'latin1')
  let sum = 8 * 0x20
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i] as number
  block.write(octal(sum, 6), 148, 'latin1')
  return block
}

function octal (value: number, digits: number): string {
  return `${value.toString(8).padStart(digits, '0')} `
}
