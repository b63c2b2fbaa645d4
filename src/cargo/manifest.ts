/**
 * From a normalized `Cargo.toml` (the one `cargo package` writes into a `.crate`) to the index entry
 * crates.io publishes. crates.io reads the manifest out of the uploaded tarball, not cargo's JSON:
 * `src/controllers/krate/publish.rs` (`convert_dependencies`, `convert_dependency`, `links`,
 * `rust_version`, `features`) over `crates/crates_io_cargo_toml` (which accepts the `dev_dependencies`,
 * `build_dependencies` and `default_features` spellings too), then `src/index.rs` (`index_metadata`)
 * and `crates_io_index` build the line. See docs/cargo.md.
 */
import { parse, TomlDate } from 'smol-toml'
import { BundleInputError } from '../util/errors.ts'
import { crateNameProblem } from './index-path.ts'
import type { DepKind, FeatureMap, IndexDependency, IndexEntry } from './index-entry.ts'
import { splitFeatures } from './index-entry.ts'
import { isSemverVersion } from './semver.ts'
import { normalizeVersionReq } from './version-req.ts'

type Table = Record<string, unknown>

/** The index URLs that name crates.io itself: a dependency on them is "the same registry". */
export const CRATES_IO_INDEXES: readonly string[] = ['https://github.com/rust-lang/crates.io-index', 'sparse+https://index.crates.io/']

/** What a manifest says about one crate version: everything of its index entry except `cksum`. */
export type ManifestEntry = Omit<IndexEntry, 'cksum'>

function isTable (value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof TomlDate)
}

function isStringArray (value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
}

/** Parse the text of a `Cargo.toml`; `where` names it in errors. */
export function parseManifest (text: string, where: string): Table {
  try {
    return parse(text) as Table
  } catch (err) {
    throw new BundleInputError(`${where}: Cargo.toml is not valid TOML (${(err as Error).message.split('\n')[0] ?? ''}); rebuild the crate with \`cargo package\``, { cause: err })
  }
}

// crates_io_cargo_toml accepts the snake_case spellings as serde aliases; both at once is a
// duplicate field there, so it is refused here too.
function pick (table: Table, kebab: string, where: string): unknown {
  const snake = kebab.replaceAll('-', '_')
  if (snake !== kebab && table[kebab] !== undefined && table[snake] !== undefined) throw new BundleInputError(`${where}: both \`${kebab}\` and \`${snake}\` are set; keep one`)
  return table[kebab] ?? table[snake]
}

function convertDependency (name: string, value: unknown, kind: DepKind, target: string | null, where: string): IndexDependency {
  const what = `${where}: dependency ${JSON.stringify(name)} (${kind}${target === null ? '' : `, target ${target}`})`
  if (typeof value === 'string') {
    return { name, req: normalizeVersionReq(value), features: [], optional: false, default_features: true, target, kind }
  }
  if (!isTable(value)) throw new BundleInputError(`${what} is neither a version string nor a table`)
  if (value.workspace !== undefined) {
    throw new BundleInputError(`${what} still says \`workspace = true\`: this Cargo.toml is not normalized; use the .crate that \`cargo package\` made`)
  }
  const version = value.version ?? '*' // crates_io_cargo_toml `Dependency::req()`
  const optional = value.optional ?? false
  const defaultFeatures = pick(value, 'default-features', what) ?? true
  const features = value.features ?? []
  const pkg = value.package
  if (typeof version !== 'string') throw new BundleInputError(`${what} has a non-string version`)
  if (typeof optional !== 'boolean') throw new BundleInputError(`${what} has a non-boolean \`optional\``)
  if (typeof defaultFeatures !== 'boolean') throw new BundleInputError(`${what} has a non-boolean \`default-features\``)
  if (!isStringArray(features)) throw new BundleInputError(`${what} has \`features\` that are not a list of strings`)
  if (pkg !== undefined && typeof pkg !== 'string') throw new BundleInputError(`${what} has a non-string \`package\``)
  if (value.registry !== undefined) {
    throw new BundleInputError(`${what} names its registry (${JSON.stringify(value.registry)}) instead of giving \`registry-index\`: this Cargo.toml is not normalized`)
  }
  const registryIndex = pick(value, 'registry-index', what)
  if (registryIndex !== undefined && typeof registryIndex !== 'string') throw new BundleInputError(`${what} has a non-string \`registry-index\``)
  // The index names the crate by its Cargo.toml key and gives the real crate in `package`
  // (crates.io `index_metadata`: `explicit_name` → name, crate name → package).
  const dep: IndexDependency = { name, req: normalizeVersionReq(version), features, optional, default_features: defaultFeatures, target, kind }
  // cargo `prepare_transmit`: `registry` is set only for a registry other than the one published to.
  if (registryIndex !== undefined && !CRATES_IO_INDEXES.includes(registryIndex)) dep.registry = registryIndex
  if (pkg !== undefined) dep.package = pkg
  return dep
}

function convertDepsTable (table: Table, kind: DepKind, target: string | null, where: string): IndexDependency[] {
  const key = kind === 'normal' ? 'dependencies' : `${kind}-dependencies`
  const deps = pick(table, key, where)
  if (deps === undefined) return []
  if (!isTable(deps)) throw new BundleInputError(`${where}: [${target === null ? '' : `target.${target}.`}${key}] is not a table`)
  return Object.entries(deps).map(([name, value]) => convertDependency(name, value, kind, target, where))
}

/** crates.io `convert_dependencies`: normal, dev and build deps, then the same per `[target.X]`. */
function convertDependencies (manifest: Table, where: string): IndexDependency[] {
  const deps: IndexDependency[] = []
  for (const kind of ['normal', 'dev', 'build'] as const) deps.push(...convertDepsTable(manifest, kind, null, where))
  const targets = manifest.target ?? {}
  if (!isTable(targets)) throw new BundleInputError(`${where}: [target] is not a table`)
  for (const [target, table] of Object.entries(targets)) {
    if (!isTable(table)) throw new BundleInputError(`${where}: [target.${target}] is not a table`)
    for (const kind of ['normal', 'dev', 'build'] as const) deps.push(...convertDepsTable(table, kind, target, where))
  }
  return deps
}

function convertFeatures (manifest: Table, where: string): FeatureMap {
  const table = manifest.features ?? {}
  if (!isTable(table)) throw new BundleInputError(`${where}: [features] is not a table`)
  const map: FeatureMap = new Map()
  for (const [name, values] of Object.entries(table)) {
    if (!isStringArray(values)) throw new BundleInputError(`${where}: feature ${JSON.stringify(name)} is not a list of strings`)
    map.set(name, values)
  }
  return map
}

function optionalString (pkg: Table, key: string, where: string): string | undefined {
  const value = pkg[key]
  if (value === undefined || typeof value === 'string') return value
  throw new BundleInputError(`${where}: package.${key} is not a string${isTable(value) && value.workspace !== undefined ? ' (still inherited from a workspace: not normalized)' : ''}`)
}

/** The index entry (less `cksum`) crates.io would publish for this parsed manifest. */
export function manifestEntry (manifest: Table, where: string): ManifestEntry {
  // crates_io_cargo_toml `Manifest::from_slice`: very old crates say [project] instead of [package].
  const pkg = manifest.package ?? manifest.project
  if (!isTable(pkg)) throw new BundleInputError(`${where}: Cargo.toml has no [package] table; a .crate holds one package`)
  const name = optionalString(pkg, 'name', where)
  const vers = optionalString(pkg, 'version', where)
  if (name === undefined) throw new BundleInputError(`${where}: Cargo.toml has no package.name`)
  const nameProblem = crateNameProblem(name)
  if (nameProblem !== undefined) throw new BundleInputError(`${where}: package.name ${JSON.stringify(name)} is not a crate name crates.io accepts: ${nameProblem}`)
  if (vers === undefined || !isSemverVersion(vers)) throw new BundleInputError(`${where}: package.version ${JSON.stringify(vers)} is missing or not a semver version`)
  const links = optionalString(pkg, 'links', where)
  const rustVersion = optionalString(pkg, 'rust-version', where)

  const { features, features2 } = splitFeatures(convertFeatures(manifest, where))
  const entry: ManifestEntry = { name, vers, deps: convertDependencies(manifest, where), features, yanked: false }
  if (features2.size > 0) {
    entry.features2 = features2
    entry.v = 2
  }
  if (links !== undefined) entry.links = links
  if (rustVersion !== undefined) entry.rust_version = rustVersion
  return entry
}
