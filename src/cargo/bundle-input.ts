/**
 * The Cargo side of `bundle create`: `.crate` files (`--crates DIR`) and a crates.io-style index
 * tree (`--cargo-index DIR`) into a catalog draft. Blobs go to `cargo/crates/{name}/{version}`,
 * index files to `cargo/index/{sparse path}`. An index line goes into the catalog only when its
 * `.crate` is there too (BRIEF §6: panamax served index lines for crates it did not have).
 */
import { readFile } from 'node:fs/promises'
import type { CatalogDraft } from '../catalog/interface.ts'
import { sha256Hex } from '../store/cid.ts'
import { BundleInputError, IntegrityError } from '../util/errors.ts'
import { readCrateFile } from './crate-file.ts'
import { serializeIndexEntry } from './index-entry.ts'
import type { IndexLine } from './index-file.ts'
import { decodeIndexFile, formatIndexFile, parseIndexFile, parseIndexLine } from './index-file.ts'
import { mergeGenerated, mergeUpstream, sameLines } from './index-merge.ts'
import { crateCatalogPath, indexCatalogPath, isValidCrateName, sparseIndexPath } from './index-path.ts'
import { listFiles } from './walk.ts'

/** Options of `addCrates`. */
export interface AddCratesOptions {
  /** Called after each `.crate` file with how many are done out of how many. */
  onProgress?: (done: number, total: number) => void
  signal?: AbortSignal
}

/** What `addCrates` added: distinct crate versions, and index files written. */
export interface AddCratesResult {
  crates: number
  indexFiles: number
}

/** What `addCargoIndex` did: upstream lines carried, and lines dropped because their `.crate` is absent. */
export interface AddCargoIndexResult {
  lines: number
  dropped: number
}

async function existingLines (draft: CatalogDraft, path: string): Promise<IndexLine[]> {
  const bytes = await draft.read(path)
  return bytes === undefined ? [] : parseIndexFile(decodeIndexFile(bytes, path), path)
}

/** Write an index file unless it would not change; true when written. */
async function writeIndexFile (draft: CatalogDraft, path: string, before: IndexLine[], after: IndexLine[]): Promise<boolean> {
  if (before.length > 0 && sameLines(before, after)) return false
  await draft.put(path, 'meta', { bytes: formatIndexFile(after) })
  return true
}

/**
 * Add every `*.crate` file under `dir` (recursively): each blob at `cargo/crates/{name}/{version}`,
 * and its generated index line (exactly as crates.io would publish it) merged into its index file.
 */
export async function addCrates (dir: string, draft: CatalogDraft, options: AddCratesOptions = {}): Promise<AddCratesResult> {
  const files = (await listFiles(dir)).filter((f) => f.rel.endsWith('.crate'))
  const byIndex = new Map<string, IndexLine[]>()
  const seen = new Map<string, string>() // blob path → cksum, within this call
  for (const [i, file] of files.entries()) {
    options.signal?.throwIfAborted()
    const crate = await readCrateFile(file.path, { signal: options.signal })
    const blobPath = crateCatalogPath(crate.name, crate.vers)
    const before = await draft.get(blobPath)
    if (before !== undefined && sha256Hex(before.cid) !== crate.sha256) {
      throw new BundleInputError(`${file.path}: ${crate.name} ${crate.vers} is already in the catalog with cksum ${sha256Hex(before.cid)}, this file has ${crate.sha256}; a published crate version never changes, so one of them is not the real one`)
    }
    if (seen.get(blobPath) === undefined) {
      // Put the blob unless the catalog already holds these exact bytes (a bundle should not carry it again).
      if (before === undefined) {
        const stored = await draft.put(blobPath, 'blob', { file: file.path })
        // The draft hashed the file again: the index cksum must be the blob's CID digest.
        if (sha256Hex(stored.cid) !== crate.sha256) throw new IntegrityError(`${file.path}: the file changed while it was being read; try again`)
      }
      seen.set(blobPath, crate.sha256)
      const indexPath = indexCatalogPath(crate.name)
      const line: IndexLine = { text: serializeIndexEntry(crate.entry), name: crate.name, vers: crate.vers, cksum: crate.sha256 }
      byIndex.set(indexPath, [...(byIndex.get(indexPath) ?? []), line])
    }
    options.onProgress?.(i + 1, files.length)
  }

  let indexFiles = 0
  for (const [path, added] of [...byIndex].sort(([a], [b]) => (a < b ? -1 : 1))) {
    options.signal?.throwIfAborted()
    const before = await existingLines(draft, path)
    if (await writeIndexFile(draft, path, before, mergeGenerated(before, added, path))) indexFiles++
  }
  return { crates: seen.size, indexFiles }
}

/**
 * Carry a crates.io-style index tree (files at sparse paths; `config.json` and dot-folders ignored)
 * into the draft, lines byte-identical, keeping only lines whose `.crate` is already in the draft
 * with the same cksum. Where a version has both a generated line and an upstream one, upstream wins.
 */
export async function addCargoIndex (dir: string, draft: CatalogDraft): Promise<AddCargoIndexResult> {
  // Which crates have blobs at all (lowercased, as index paths are), so that files of other crates
  // are only counted, not parsed: a full crates.io index has ~200k files.
  const withBlobs = new Set<string>()
  for await (const [path] of draft.list('cargo/crates/')) withBlobs.add((path.split('/')[2] ?? '').toLowerCase())

  let lines = 0
  let dropped = 0
  for (const file of await listFiles(dir, { skipHidden: true })) {
    const base = file.rel.slice(file.rel.lastIndexOf('/') + 1)
    // Only files at their own sparse path are index files (this skips config.json, READMEs, …).
    if (!isValidCrateName(base) || sparseIndexPath(base) !== file.rel) continue
    const bytes = await readFile(file.path)
    if (!withBlobs.has(base)) {
      // Counted, not decoded: a file nobody will serve need not even be valid UTF-8.
      dropped += bytes.toString('latin1').split('\n').filter((l) => l.trim() !== '').length
      continue
    }
    const text = decodeIndexFile(bytes, file.path)
    const kept: IndexLine[] = []
    for (const [i, raw] of text.split('\n').entries()) {
      if (raw.trim() === '') continue
      const where = `${file.path} line ${i + 1}`
      const line = parseIndexLine(raw, where)
      if (sparseIndexPath(line.name) !== file.rel) throw new BundleInputError(`${where}: a line for ${JSON.stringify(line.name)} in the index file of ${JSON.stringify(base)}`)
      const blob = await draft.get(crateCatalogPath(line.name, line.vers))
      if (blob === undefined) {
        dropped++
        continue
      }
      if (sha256Hex(blob.cid) !== line.cksum) {
        throw new BundleInputError(`${where}: ${line.name} ${line.vers} has cksum ${line.cksum} but the .crate in the catalog has ${sha256Hex(blob.cid)}; the index and the crates do not belong together`)
      }
      kept.push(line)
    }
    if (kept.length === 0) continue
    const path = indexCatalogPath(base)
    const before = await existingLines(draft, path)
    await writeIndexFile(draft, path, before, mergeUpstream(before, kept, path))
    lines += kept.length
  }
  return { lines, dropped }
}
