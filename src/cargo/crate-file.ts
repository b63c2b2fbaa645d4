/**
 * Reading a `.crate` file: a gzip'd tar whose every entry sits under `{name}-{version}/`, holding the
 * normalized `Cargo.toml`. The file is streamed once (hashed, gunzipped and untarred on the way),
 * never buffered whole. The checks follow crates.io `crates/crates_io_tarball/src/lib.rs`
 * (`process_tarball`): every path under `{name}-{version}/`, no symlinks or hard links, exactly one
 * manifest at the package root, spelled `Cargo.toml` (or the deprecated `cargo.toml`).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import * as tar from 'tar-stream'
import { BundleInputError } from '../util/errors.ts'
import type { IndexEntry } from './index-entry.ts'
import { manifestEntry, parseManifest } from './manifest.ts'

/** A manifest larger than this is refused (crates.io's whole-crate unpack limit is 512 MiB; a Cargo.toml is a few KiB). */
export const MAX_MANIFEST_BYTES = 16 << 20

/** What a `.crate` file holds, as far as the index is concerned. */
export interface CrateInfo {
  name: string
  vers: string
  /** sha256 of the whole file, lowercase hex: the index `cksum`. */
  sha256: string
  size: number
  /** The index entry crates.io would publish for it. */
  entry: IndexEntry
  /** The manifest text, as found in the tarball. */
  manifest: string
}

/** Options for reading a `.crate`. */
export interface ReadCrateOptions {
  signal?: AbortSignal
}

function badEntryPath (path: string): boolean {
  return path.startsWith('/') || /^[A-Za-z]:/.test(path) || path.split(/[/\\]/).includes('..')
}

// Drain an entry we do not need; tar-stream moves on only once it has been read.
async function drain (entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of entry) { /* discard */ }
}

async function readAll (entry: AsyncIterable<Buffer>, file: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of entry) {
    size += chunk.length
    if (size > MAX_MANIFEST_BYTES) throw new BundleInputError(`${file}: its Cargo.toml is larger than ${MAX_MANIFEST_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Read a `.crate` file: its name, version, sha256 and the index entry crates.io would publish for it. */
export async function readCrateFile (file: string, options: ReadCrateOptions = {}): Promise<CrateInfo> {
  const hash = createHash('sha256')
  let size = 0
  const tap = new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      size += chunk.length
      callback(null, chunk)
    }
  })
  const extract = tar.extract()
  // Reads no bigger than the file: a stream allocates its full read size per read, and 1 MiB for
  // each of thousands of small crates kept the garbage collector busy.
  const readSize = Math.min(1 << 20, Math.max(16 << 10, (await stat(file).catch(() => undefined))?.size ?? 0))
  const piping = pipeline(createReadStream(file, { highWaterMark: readSize, signal: options.signal }), tap, createGunzip({ chunkSize: readSize }), extract)
  piping.catch(() => {}) // its failure surfaces through `extract` below, and again when awaited

  let top: string | undefined
  const manifests: Array<{ path: string, bytes: Buffer }> = []
  try {
    for await (const entry of extract) {
      const path = entry.header.name
      if (badEntryPath(path)) throw new BundleInputError(`${file}: tar entry ${JSON.stringify(path)} escapes the package directory; this is not a crate cargo made`)
      const slash = path.indexOf('/')
      const first = slash === -1 ? path : path.slice(0, slash)
      if (first === '.' || first === '') throw new BundleInputError(`${file}: tar entry ${JSON.stringify(path)} is not under a {name}-{version}/ directory, as every entry of a .crate is`)
      top ??= first
      if (first !== top || (slash === -1 && entry.header.type !== 'directory')) {
        throw new BundleInputError(`${file}: tar entry ${JSON.stringify(path)} is not under ${JSON.stringify(`${top}/`)}; a .crate holds one {name}-{version}/ directory`)
      }
      if (entry.header.type === 'symlink' || entry.header.type === 'link') {
        throw new BundleInputError(`${file}: tar entry ${JSON.stringify(path)} is a link; crates.io refuses crates with symlinks or hard links`)
      }
      const rest = path.slice(slash + 1)
      if (entry.header.type === 'file' && rest.toLowerCase() === 'cargo.toml') {
        manifests.push({ path, bytes: await readAll(entry as AsyncIterable<Buffer>, file) })
      } else {
        await drain(entry)
      }
    }
    await piping
  } catch (err) {
    if (err instanceof BundleInputError) throw err
    if (options.signal?.aborted === true) throw options.signal.reason
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') throw err
    throw new BundleInputError(`${file}: not a readable .crate (gzip'd tar): ${e.message}`, { cause: err })
  }

  if (manifests.length > 1) throw new BundleInputError(`${file}: more than one Cargo.toml at the package root (${manifests.map((m) => m.path).join(', ')})`)
  const found = manifests[0]
  if (found === undefined || top === undefined) throw new BundleInputError(`${file}: no ${top ?? '{name}-{version}'}/Cargo.toml in the tarball; a .crate made by \`cargo package\` always has one`)
  const base = found.path.slice(top.length + 1)
  if (base !== 'Cargo.toml' && base !== 'cargo.toml') throw new BundleInputError(`${file}: the manifest is spelled ${JSON.stringify(base)}; cargo only reads Cargo.toml`)

  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(found.bytes)
  } catch (err) {
    throw new BundleInputError(`${file}: ${found.path} is not valid UTF-8`, { cause: err })
  }
  const where = `${file} (${found.path})`
  const partial = manifestEntry(parseManifest(text, where), where)
  if (top !== `${partial.name}-${partial.vers}`) {
    throw new BundleInputError(`${file}: the tarball's directory is ${JSON.stringify(top)} but its Cargo.toml says ${partial.name} ${partial.vers}; expected ${JSON.stringify(`${partial.name}-${partial.vers}`)}`)
  }
  const sha256 = hash.digest('hex')
  return { name: partial.name, vers: partial.vers, sha256, size, entry: { ...partial, cksum: sha256 }, manifest: text }
}
