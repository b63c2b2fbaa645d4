/**
 * The bottles the Homebrew API files name, with the sha256 brew will check. Two generations:
 * - brew 4.x–5.x `formula.jws.json`: payload = array of formulae in the v2 JSON shape
 *   (`name`, `versions.stable`, `revision`, `bottle.stable.{rebuild, files.{tag}.{cellar, url, sha256}}`,
 *   optional per-tag `variations`) — brew `api/formula.rb`, `formula.rb#to_hash_with_variations`;
 * - brew 6.x `internal/packages.{tag}.jws.json`: payload = `{metadata?, formulae: {name: entry}, casks, …}`
 *   where an entry is a serialized `FormulaStruct` for that one tag: `stable_version`, `revision`,
 *   `bottle_rebuild`, `bottle_checksum`, `bottle_tag` (`":all"` or an older tag; absent = the file's tag),
 *   `bottle_cellar` (absent = `:any_skip_relocation`) — brew `api/internal.rb`, `api/formula_struct.rb`.
 *   Earlier internal files (`internal/formula.{tag}.jws.json`, brew 4.5–5.x behind HOMEBREW_USE_INTERNAL_API)
 *   nest these as `bottle: {rebuild, tag, cellar, checksum}` or use `[pkg_version, rebuild, sha256]` stubs.
 */
import { BundleInputError } from '../util/errors.ts'
import { jwsPayload } from './jws.ts'
import { isSafeComponent, SHA256_HEX, TAG } from './validate.ts'

/** One bottle file the API names. `cellar` is brew's form: `:any`, `:any_skip_relocation` or a path. */
export interface ApiBottle {
  name: string
  version: string
  revision: number
  rebuild: number
  tag: string
  sha256: string
  cellar?: string
}

type Json = Record<string, unknown>

function isObject (value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Validates fields as it builds bottles, so every error names the file and the formula. */
class Reader {
  readonly file: string
  readonly bottles: ApiBottle[] = []

  constructor (file: string) {
    this.file = file
  }

  fail (formula: string, what: string): never {
    throw new BundleInputError(`${this.file}: formula ${JSON.stringify(formula)}: ${what}; the API file is damaged or of an unknown format — fetch it again`)
  }

  int (formula: string, field: string, value: unknown): number {
    if (value === undefined || value === null) return 0
    if (!Number.isSafeInteger(value) || (value as number) < 0) this.fail(formula, `${field} is not an integer >= 0`)
    return value as number
  }

  add (name: string, version: unknown, revision: unknown, rebuild: unknown, tag: unknown, sha256: unknown, cellar: unknown): void {
    if (!isSafeComponent(name)) this.fail(name, 'unusable formula name')
    if (typeof version !== 'string' || !isSafeComponent(version)) this.fail(name, 'missing or unusable version')
    if (typeof tag !== 'string' || !TAG.test(tag)) this.fail(name, `unusable bottle tag ${JSON.stringify(tag)}`)
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) this.fail(name, `bottle ${tag} has no valid sha256`)
    const bottle: ApiBottle = {
      name,
      version,
      revision: this.int(name, 'revision', revision),
      rebuild: this.int(name, 'rebuild', rebuild),
      tag,
      sha256
    }
    if (typeof cellar === 'string') bottle.cellar = cellar
    this.bottles.push(bottle)
  }
}

/** Bottles of a `formula.jws.json` payload (array of v2 formula hashes). Formulae without bottles are skipped. */
export function bottlesFromFormulaArray (payload: unknown, file: string): ApiBottle[] {
  const reader: Reader = new Reader(file)
  if (!Array.isArray(payload)) throw new BundleInputError(`${file}: payload is not an array of formulae; fetch the file again`)
  for (const formula of payload) {
    if (!isObject(formula) || typeof formula.name !== 'string') reader.fail('?', 'entry is not a formula object with a name')
    const stable = isObject(formula.bottle) && isObject(formula.bottle.stable) ? formula.bottle.stable : undefined
    if (stable === undefined || !isObject(stable.files)) continue
    for (const [tag, spec] of Object.entries(stable.files)) {
      if (!isObject(spec)) reader.fail(formula.name, `bottle ${tag} is not an object`)
      // brew `api.rb` `merge_variations`: a tag's variation replaces top-level keys (e.g. `versions`).
      const variation = isObject(formula.variations) && isObject(formula.variations[tag]) ? formula.variations[tag] : {}
      const versions = isObject(variation.versions) ? variation.versions : formula.versions
      const revision = 'revision' in variation ? variation.revision : formula.revision
      const version = isObject(versions) ? versions.stable : undefined
      reader.add(formula.name, version, revision, stable.rebuild, tag, spec.sha256, spec.cellar)
    }
  }
  return reader.bottles
}

/** A symbol brew serialized as `":name"` (brew `utils.rb` `deep_stringify_symbols`); a leading `\` escapes a literal. */
function unstringify (value: unknown): { symbol: boolean, text: string } | undefined {
  if (typeof value !== 'string') return undefined
  if (value.startsWith('\\')) return { symbol: false, text: value.slice(1) }
  if (value.startsWith(':')) return { symbol: true, text: value.slice(1) }
  return { symbol: false, text: value }
}

/** Split `1.2_3` into version and revision (brew `pkg_version.rb` `PkgVersion.parse`). */
function splitPkgVersion (text: string): { version: string, revision: number } {
  const match = /^(.+?)(?:_(\d+))?$/.exec(text)
  return { version: match?.[1] ?? text, revision: match?.[2] === undefined ? 0 : Number(match[2]) }
}

/** Bottles of an internal packages (or internal formula) payload for bottle tag `hostTag`. */
export function bottlesFromPackages (payload: unknown, hostTag: string, file: string): ApiBottle[] {
  const reader: Reader = new Reader(file)
  if (!isObject(payload) || !isObject(payload.formulae)) throw new BundleInputError(`${file}: payload has no "formulae" object; fetch the file again`)
  const metaTag = isObject(payload.metadata) ? payload.metadata.bottle_tag : undefined
  if (metaTag !== undefined && metaTag !== hostTag) {
    throw new BundleInputError(`${file}: metadata.bottle_tag is ${JSON.stringify(metaTag)} but the file name says ${hostTag}; keep brew's file name`)
  }
  for (const [name, entry] of Object.entries(payload.formulae)) {
    if (Array.isArray(entry)) {
      // Stub form `[pkg_version, rebuild, sha256]` (brew 4.5 `generate-formula-api`).
      const [pkg, rebuild, sha256] = entry as unknown[]
      if (sha256 === null || sha256 === undefined) continue
      const { version, revision } = splitPkgVersion(typeof pkg === 'string' ? pkg : '')
      reader.add(name, version, revision, rebuild, hostTag, sha256, undefined)
      continue
    }
    if (!isObject(entry)) reader.fail(name, 'entry is not an object')
    const nested = isObject(entry.bottle) ? entry.bottle : undefined
    const checksum = nested !== undefined ? nested.checksum : entry.bottle_checksum
    if (checksum === undefined) continue
    const tag = unstringify(nested !== undefined ? nested.tag : entry.bottle_tag)?.text ?? hostTag
    const cellarValue = unstringify(nested !== undefined ? nested.cellar : entry.bottle_cellar)
    const cellar = cellarValue === undefined ? ':any_skip_relocation' : `${cellarValue.symbol ? ':' : ''}${cellarValue.text}`
    const rebuild = nested !== undefined ? nested.rebuild : entry.bottle_rebuild
    reader.add(name, entry.stable_version, entry.revision, rebuild, tag, checksum, cellar)
  }
  return reader.bottles
}

/** Which API files carry bottle checksums, from their path relative to the API directory. */
export function apiFileKind (relPath: string): { kind: 'formula' } | { kind: 'internal', tag: string } | undefined {
  if (relPath === 'formula.jws.json') return { kind: 'formula' }
  const match = /^internal\/(?:packages|formula)\.([a-z0-9_]+)\.jws\.json$/.exec(relPath)
  return match?.[1] === undefined ? undefined : { kind: 'internal', tag: match[1] }
}

/** The bottles an API file names, or undefined if the file carries no bottle checksums (casks, tap migrations). */
export function bottlesFromApiFile (relPath: string, bytes: Uint8Array, file: string = relPath): ApiBottle[] | undefined {
  const kind = apiFileKind(relPath)
  if (kind === undefined) return undefined
  const payload = jwsPayload(bytes, file)
  return kind.kind === 'formula' ? bottlesFromFormulaArray(payload, file) : bottlesFromPackages(payload, kind.tag, file)
}
