/**
 * `bundle create --bottles DIR --homebrew-api DIR`: put Homebrew API files, bottles and bottle
 * manifests into a catalog draft, checking every bottle against the sha256 the API files give.
 *
 * - Every file under `apiDir` goes byte-identical to `homebrew/api/{relative path}` (kind `meta`).
 *   `formula.jws.json` and `internal/{packages,formula}.{tag}.jws.json` are parsed for bottle checksums;
 *   every other `*.jws.json` must at least be a well-formed Homebrew JWS.
 * - In `bottlesDir`, a file named like a bottle (flat `name-1.0.tag.bottle.tar.gz`, brew's `name--1.0…`,
 *   or brew's cache `{64 hex}--…`) must be one the API names, with the API's sha256; it goes to
 *   `homebrew/bottles/{flat name}` (kind `blob`).
 * - Manifests (OCI image indexes): `manifests/{image}/{ref}.json`, or any `*.bottle_manifest.json`
 *   (brew's cache name) identified by its annotations; they go byte-identical to
 *   `homebrew/manifests/{image}/{ref}` (kind `meta`) after their bottle digests are checked.
 * - Anything else in `bottlesDir` is skipped and reported.
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from '../store/cid.ts'
import { cidOfBytes, sha256Hex } from '../store/cid.ts'
import { hashFile } from '../store/hash.ts'
import type { CatalogDraft } from '../catalog/interface.ts'
import { BundleInputError } from '../util/errors.ts'
import { bottlesFromApiFile } from './api.ts'
import { BottleIndex } from './bottle-index.ts'
import { jwsPayload } from './jws.ts'
import { checkManifest, manifestIdentity, parseBottleManifest } from './manifest.ts'
import { apiCatalogPath, bottleCatalogPath, manifestCatalogPath, parseBottleFileName } from './names.ts'
import { isImageName, isManifestRef } from './validate.ts'
import { listFiles } from './walk.ts'

/** Progress of `addHomebrew`, reported after each file. */
export interface HomebrewProgress {
  phase: 'api' | 'bottles' | 'manifests'
  done: number
  total: number
  /** The file just handled, relative to its directory. */
  file: string
}

/** Where the Homebrew input files are, and how to report progress or be cancelled. */
export interface HomebrewInputOptions {
  bottlesDir: string
  apiDir: string
  onProgress?: (progress: HomebrewProgress) => void
  signal?: AbortSignal
}

/** What `addHomebrew` put into the draft, and the files in `bottlesDir` it ignored. */
export interface HomebrewInputResult {
  bottles: number
  apiFiles: number
  manifests: number
  skipped: string[]
}

// A manifest is a few kB; anything this large is not one.
const MAX_MANIFEST_BYTES = 16 << 20

/** Add the Homebrew API files, bottles and manifests found in `options` to `draft`. Throws BundleInputError. */
export async function addHomebrew (options: HomebrewInputOptions, draft: CatalogDraft): Promise<HomebrewInputResult> {
  const { apiDir, bottlesDir, onProgress, signal } = options
  const index = new BottleIndex()

  const apiFiles = await listFiles(apiDir, 'Homebrew API directory', signal)
  for (const [i, rel] of apiFiles.entries()) {
    signal?.throwIfAborted()
    const file = join(apiDir, rel)
    const path = catalogPathOr(() => apiCatalogPath(rel), file, 'its path cannot be served; rename it')
    const expected = await readApiFile(rel, file, index)
    const entry = await draft.put(path, 'meta', { file })
    if (!entry.cid.equals(expected)) throw new BundleInputError(`${file} changed while it was being read; run the command again`)
    onProgress?.({ phase: 'api', done: i + 1, total: apiFiles.length, file: rel })
  }

  const bottleFiles: Array<{ rel: string, flat: string }> = []
  const manifestFiles: Array<{ rel: string, image?: string, ref?: string }> = []
  const skipped: string[] = []
  for (const rel of await listFiles(bottlesDir, 'bottles directory', signal)) {
    const base = rel.slice(rel.lastIndexOf('/') + 1)
    if (rel.startsWith('manifests/') && rel.endsWith('.json')) manifestFiles.push(manifestPathIdentity(rel, join(bottlesDir, rel)))
    else if (base.endsWith('.bottle_manifest.json')) manifestFiles.push({ rel })
    else {
      const flat = flatNameOf(base)
      if (flat !== undefined) bottleFiles.push({ rel, flat })
      else if (/\.bottle\.(?:[^.]*\.)?tar\.gz$/.test(base)) throw new BundleInputError(`${join(bottlesDir, rel)}: not a valid bottle file name; use brew's name for it`)
      else skipped.push(rel)
    }
  }

  const bottlePaths = new Set<string>()
  for (const [i, { rel, flat }] of bottleFiles.entries()) {
    signal?.throwIfAborted()
    const file = join(bottlesDir, rel)
    const expected = index.sha256sFor(flat)
    if (expected.length === 0) {
      const hint = index.size === 0 ? ` (it has no formula.jws.json or internal/packages.*.jws.json)` : ''
      throw new BundleInputError(`${file}: bottle ${flat} is not listed in the Homebrew API files in ${apiDir}${hint}; remove the file or add API files that list it`)
    }
    const { cid } = await hashFile(file, signal)
    const actual = sha256Hex(cid)
    if (!expected.includes(actual)) {
      throw new BundleInputError(`${file}: sha256 ${actual} does not match the API's sha256 ${expected.join(' or ')} for ${flat}; the file is damaged or from another release — download it again`)
    }
    const path = bottleCatalogPath(flat)
    const previous = await draft.get(path)
    if (previous === undefined || !previous.cid.equals(cid)) {
      const entry = await draft.put(path, 'blob', { file })
      if (!entry.cid.equals(cid)) throw new BundleInputError(`${file} changed while it was being read; run the command again`)
    }
    bottlePaths.add(path)
    onProgress?.({ phase: 'bottles', done: i + 1, total: bottleFiles.length, file: rel })
  }

  const manifestPaths = new Map<string, string>()
  for (const [i, item] of manifestFiles.entries()) {
    signal?.throwIfAborted()
    const file = join(bottlesDir, item.rel)
    if ((await stat(file)).size > MAX_MANIFEST_BYTES) throw new BundleInputError(`${file}: too large to be a bottle manifest; remove it from the bottles directory`)
    const bytes = await readFile(file)
    const manifest = parseBottleManifest(bytes, file)
    const { image, ref } = item.image !== undefined && item.ref !== undefined ? { image: item.image, ref: item.ref } : manifestIdentity(manifest, file)
    checkManifest(manifest, bytes, image, ref, index, file)
    const path = manifestCatalogPath(image, ref)
    const digest = cidOfBytes(bytes).toString()
    const seen = manifestPaths.get(path)
    if (seen !== undefined && seen !== digest) throw new BundleInputError(`${file}: a different manifest for ${image}:${ref} is also in ${bottlesDir}; keep one`)
    if (seen === undefined) await draft.put(path, 'meta', { bytes })
    manifestPaths.set(path, digest)
    onProgress?.({ phase: 'manifests', done: i + 1, total: manifestFiles.length, file: item.rel })
  }

  return { bottles: bottlePaths.size, apiFiles: apiFiles.length, manifests: manifestPaths.size, skipped }
}

/**
 * Check one API file and add the bottles it names to `index`; returns the file's CID. Its bytes
 * and parsed payload are dropped on return: the draft re-reads the file as a stream.
 */
async function readApiFile (rel: string, file: string, index: BottleIndex): Promise<CID> {
  const bytes = await readFile(file)
  const bottles = bottlesFromApiFile(rel, bytes, file)
  if (bottles !== undefined) for (const bottle of bottles) index.add(bottle)
  else if (rel.endsWith('.jws.json')) jwsPayload(bytes, file)
  return cidOfBytes(bytes)
}

/** The flat bottle name for a file name in any of brew's forms, or undefined if it is not a bottle name. */
function flatNameOf (base: string): string | undefined {
  let name = base
  if (name.includes('%')) {
    try {
      name = decodeURIComponent(name)
    } catch {
      return undefined
    }
  }
  const parsed = parseBottleFileName(name)
  if (parsed === undefined) return undefined
  return `${parsed.name}-${parsed.pkgVersion}.${parsed.tag}.bottle${parsed.rebuild > 0 ? `.${parsed.rebuild}` : ''}.tar.gz`
}

/** Image and ref of `manifests/{image…}/{ref}.json`. */
function manifestPathIdentity (rel: string, file: string): { rel: string, image: string, ref: string } {
  const parts = rel.slice('manifests/'.length, -'.json'.length).split('/')
  const ref = parts.pop() ?? ''
  const image = parts.join('/')
  if (!isImageName(image) || !isManifestRef(ref)) {
    throw new BundleInputError(`${file}: expected manifests/{image}/{tag}.json with an OCI image name (openssl/3) and tag (3.5.0, 1.8.2-1)`)
  }
  return { rel, image, ref }
}

function catalogPathOr (make: () => string, file: string, advice: string): string {
  try {
    return make()
  } catch (err) {
    throw new BundleInputError(`${file}: ${advice}`, { cause: err })
  }
}
