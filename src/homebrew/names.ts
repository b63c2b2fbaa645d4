/**
 * Homebrew's names for bottles, images and manifests, as brew computes them, and where they live in
 * the catalog. Sources: brew `bottle.rb` (`Bottle::Filename`), `github_packages.rb`
 * (`image_formula_name`, `version_rebuild`, `image_version_rebuild`), `global.rb`
 * (HOMEBREW_BOTTLES_EXTNAME_REGEX). See docs/homebrew.md.
 */
import { isImageName, isManifestRef, isSafeComponent, isSafeFileName, MAX_PATH, TAG } from './validate.ts'

/** What identifies one bottle file: formula name, version, revision, bottle tag and rebuild. */
export interface BottleId {
  name: string
  version: string
  revision: number
  tag: string
  rebuild: number
}

/** A bottle file name taken apart. `pkgVersion` is `version` plus `_revision` when the revision is > 0. */
export interface ParsedBottleFileName {
  name: string
  pkgVersion: string
  tag: string
  rebuild: number
  /** `flat`: `name-pkgVersion…` (a custom HOMEBREW_BOTTLE_DOMAIN); `cache`: `name--pkgVersion…` (brew's cache, GHCR basename). */
  form: 'flat' | 'cache'
}

/** brew `formula.rb` `pkg_version` / `pkg_version.rb` `PkgVersion#to_s`: `1.2` or `1.2_3`. */
export function pkgVersion (version: string, revision: number): string {
  if (!isSafeComponent(version)) throw new TypeError(`not a usable formula version: ${JSON.stringify(version)}`)
  if (!Number.isSafeInteger(revision) || revision < 0) throw new RangeError(`revision must be an integer >= 0, got ${revision}`)
  return revision > 0 ? `${version}_${revision}` : version
}

/** brew `bottle.rb` `Bottle::Filename#extname`: `.{tag}.bottle[.{rebuild}].tar.gz`, rebuild omitted when 0. */
function extname (tag: string, rebuild: number): string {
  if (!TAG.test(tag)) throw new TypeError(`not a bottle tag: ${JSON.stringify(tag)}`)
  if (!Number.isSafeInteger(rebuild) || rebuild < 0) throw new RangeError(`rebuild must be an integer >= 0, got ${rebuild}`)
  return `.${tag}.bottle${rebuild > 0 ? `.${rebuild}` : ''}.tar.gz`
}

function checkedName (name: string): string {
  if (!isSafeComponent(name)) throw new TypeError(`not a usable formula name: ${JSON.stringify(name)}`)
  return name
}

/** The flat bottle file name, unencoded: `{name}-{pkg_version}.{tag}.bottle[.{rebuild}].tar.gz` (brew `Bottle::Filename#url_encode` before encoding). */
export function flatBottleName (id: BottleId): string {
  return `${checkedName(id.name)}-${pkgVersion(id.version, id.revision)}${extname(id.tag, id.rebuild)}`
}

/** The flat bottle file name as brew puts it in a HOMEBREW_BOTTLE_DOMAIN URL (`ERB::Util.url_encode`). */
export function encodedFlatBottleName (id: BottleId): string {
  return urlEncode(flatBottleName(id))
}

/** brew's own name for a bottle file: `{name}--{pkg_version}.{tag}.bottle[.{rebuild}].tar.gz` (`Bottle::Filename#to_s`, `#github_packages`). */
export function cacheBottleName (id: BottleId): string {
  return `${checkedName(id.name)}--${pkgVersion(id.version, id.revision)}${extname(id.tag, id.rebuild)}`
}

/**
 * Ruby's `ERB::Util.url_encode`: every byte of the UTF-8 string outside `[a-zA-Z0-9_.~-]` becomes
 * `%XX` (uppercase hex). Stricter than `encodeURIComponent`, which leaves `!'()*` alone.
 */
export function urlEncode (text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[a-zA-Z0-9_.~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

// brew `global.rb`: HOMEBREW_BOTTLES_EXTNAME_REGEX = /\.([a-z0-9_]+)\.bottle\.(?:(\d+)\.)?tar\.gz$/
const BOTTLE_FILE = /^(.+)\.([a-z0-9_]+)\.bottle\.(?:(\d+)\.)?tar\.gz$/
// brew `download_strategy.rb` `cached_location`: `downloads/{sha256 of the URL}--{basename}`.
const CACHE_PREFIX = /^[0-9a-f]{64}--/

/**
 * Take a bottle file name apart. Accepts the flat name (`openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz`),
 * brew's name (`openssl@3--3.5.0…`) and brew's cache name (`{64 hex}--` before either). Returns
 * undefined for anything else, for unsafe names, and for a non-canonical rebuild (`.bottle.0.`, `.bottle.01.`).
 * The flat form is ambiguous when a name contains `-{digit}`: it is split at the first `-` followed by
 * a digit (versions like `7.1.1-47` and `2025-05-20` stay whole); look names up by their full file name.
 */
export function parseBottleFileName (fileName: string): ParsedBottleFileName | undefined {
  if (!isSafeFileName(fileName)) return undefined
  const match = BOTTLE_FILE.exec(fileName.replace(CACHE_PREFIX, ''))
  if (match === null) return undefined
  const [, stem = '', tag = '', rebuildText] = match
  if (rebuildText !== undefined && !/^[1-9][0-9]{0,8}$/.test(rebuildText)) return undefined
  const rebuild = rebuildText === undefined ? 0 : Number(rebuildText)
  let name: string
  let version: string
  let form: 'flat' | 'cache'
  const double = stem.indexOf('--')
  if (double > 0) {
    form = 'cache'
    name = stem.slice(0, double)
    version = stem.slice(double + 2)
  } else {
    form = 'flat'
    const split = stem.search(/-[0-9]/)
    const at = split > 0 ? split : stem.lastIndexOf('-')
    if (at <= 0) return undefined
    name = stem.slice(0, at)
    version = stem.slice(at + 1)
  }
  if (!isSafeComponent(name) || !isSafeComponent(version)) return undefined
  return { name, pkgVersion: version, tag, rebuild, form }
}

/** brew `github_packages.rb` `image_formula_name`: `@` → `/` and `+` → `x` (`openssl@3` → `openssl/3`). */
export function imageName (formulaName: string): string {
  return checkedName(formulaName).replaceAll('@', '/').replaceAll('+', 'x')
}

/**
 * The manifest tag brew asks for: `version_rebuild(pkg_version, rebuild)` = `{pkg_version}[-{rebuild}]`,
 * then `image_version_rebuild`: characters invalid in an OCI tag become `.` (brew `github_packages.rb`).
 */
export function manifestTag (pkgVersionText: string, rebuild: number): string {
  return imageVersionRebuild(`${pkgVersionText}${rebuild > 0 ? `-${rebuild}` : ''}`)
}

/** brew `github_packages.rb` `image_version_rebuild`: characters invalid in an OCI tag become `.`. */
export function imageVersionRebuild (versionRebuild: string): string {
  return versionRebuild.replace(/[^a-zA-Z0-9._-]/g, '.')
}

/** The `org.opencontainers.image.ref.name` of one bottle in an image index: `{pkg_version}.{tag}[.{rebuild}]` (`version_rebuild` with a tag). */
export function platformRefName (pkgVersionText: string, tag: string, rebuild: number): string {
  return `${pkgVersionText}.${tag}${rebuild > 0 ? `.${rebuild}` : ''}`
}

/** Catalog path of a bottle: `homebrew/bottles/{flat name, unencoded}`. */
export function bottleCatalogPath (flatName: string): string {
  const parsed = parseBottleFileName(flatName)
  if (parsed?.form !== 'flat' || flatName !== flatName.replace(CACHE_PREFIX, '')) {
    throw new TypeError(`not a flat bottle file name: ${JSON.stringify(flatName.slice(0, 300))}`)
  }
  return `homebrew/bottles/${flatName}`
}

/** Catalog path of an API file: `homebrew/api/{relPath}` (`formula.jws.json`, `internal/packages.arm64_sequoia.jws.json`). */
export function apiCatalogPath (relPath: string): string {
  const ok = relPath.length <= MAX_PATH && relPath.split('/').every(part => isSafeFileName(part))
  if (!ok) throw new TypeError(`not a safe relative API path: ${JSON.stringify(relPath.slice(0, 300))}`)
  return `homebrew/api/${relPath}`
}

/** Catalog path of a bottle manifest (OCI image index): `homebrew/manifests/{image}/{ref}`. */
export function manifestCatalogPath (image: string, ref: string): string {
  if (!isImageName(image)) throw new TypeError(`not an OCI image name: ${JSON.stringify(image.slice(0, 300))}`)
  if (!isManifestRef(ref)) throw new TypeError(`not a manifest reference: ${JSON.stringify(ref.slice(0, 300))}`)
  return `homebrew/manifests/${image}/${ref}`
}
