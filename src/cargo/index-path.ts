/**
 * Crate names and where a crate lives: its sparse-index file and its `.crate` blob in the catalog.
 * Sources: the Cargo book, "Registry Index" → "Index files" (the 1/2/3/prefix layout, lowercased),
 * and crates.io `src/models/krate.rs` (`MAX_NAME_LENGTH`, the crate-name character rules).
 */
import { isSemverVersion } from './semver.ts'

/** crates.io `MAX_NAME_LENGTH`: the longest crate name it accepts. */
export const MAX_CRATE_NAME_LENGTH = 64

// crates.io: first character an ASCII letter, the rest ASCII alphanumerics, `-` or `_`.
const CRATE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/

/** Why `name` is not a crate name crates.io would accept, or undefined when it is one. */
export function crateNameProblem (name: string): string | undefined {
  if (name.length === 0) return 'a crate name cannot be empty'
  if (name.length > MAX_CRATE_NAME_LENGTH) return `a crate name has at most ${MAX_CRATE_NAME_LENGTH} characters`
  if (!/^[A-Za-z]/.test(name)) return 'a crate name starts with an ASCII letter'
  if (!CRATE_NAME.test(name)) return 'a crate name holds only ASCII letters, digits, `-` and `_`'
  return undefined
}

/** Whether `name` is a crate name crates.io would accept. */
export function isValidCrateName (name: string): boolean {
  return crateNameProblem(name) === undefined
}

function checkedName (name: string): string {
  const problem = crateNameProblem(name)
  if (problem !== undefined) throw new TypeError(`not a crate name: ${JSON.stringify(name)} (${problem})`)
  return name
}

/**
 * The sparse-index path of a crate (Cargo book, "Index files"): `1/{name}`, `2/{name}`,
 * `3/{first char}/{name}`, else `{first two}/{next two}/{name}`, all lowercase. The index is
 * case-insensitive on crates.io, so `Inflector` and `inflector` share `in/fl/inflector`.
 */
export function sparseIndexPath (name: string): string {
  const lower = checkedName(name).toLowerCase()
  switch (lower.length) {
    case 1: return `1/${lower}`
    case 2: return `2/${lower}`
    case 3: return `3/${lower.slice(0, 1)}/${lower}`
    default: return `${lower.slice(0, 2)}/${lower.slice(2, 4)}/${lower}`
  }
}

/** Catalog path of a crate's index file: `cargo/index/{sparse path}`. */
export function indexCatalogPath (name: string): string {
  return `cargo/index/${sparseIndexPath(name)}`
}

/**
 * Catalog path of a `.crate` blob: `cargo/crates/{name}/{version}`, with the name exactly as the
 * index line spells it (original case), since cargo fills the `dl` template's `{crate}` from it.
 */
export function crateCatalogPath (name: string, version: string): string {
  if (!isSemverVersion(version)) throw new TypeError(`not a semver version: ${JSON.stringify(version)}`)
  return `cargo/crates/${checkedName(name)}/${version}`
}
