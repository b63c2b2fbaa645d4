/**
 * One line of a cargo index file, serialized exactly as crates.io writes it.
 * Source: crates.io `crates/crates_io_index/src/data.rs` (`Crate`, `Dependency` and its manual
 * `Ord`), `src/features.rs` (`split_features`) and `src/ser.rs` (`write_crates`: serde_json
 * compact output, one `\n` after each line), and `src/index.rs` (`index_metadata`, which sorts deps
 * and sets `v: 2` exactly when `features2` is non-empty). serde serializes struct fields in
 * declaration order, so the key order below is crates.io's, not alphabetical.
 */

/**
 * A feature map: feature name → what it enables. crates.io keeps it in a `BTreeMap` (keys sorted by
 * bytes). A `Map`, not an object: JS puts integer-like keys (`"9"`, `"10"`) first in numeric order,
 * and a feature may be called `__proto__`.
 */
export type FeatureMap = Map<string, string[]>

/** Dependency kinds, in the order of crates.io's `DependencyKind` enum (it sorts by that order). */
export const DEP_KINDS = ['normal', 'build', 'dev'] as const
/** `normal`, `build` or `dev`. */
export type DepKind = typeof DEP_KINDS[number]

/** One entry of `deps`. */
export interface IndexDependency {
  /** The name used in Cargo.toml (the key); the real crate is `package` when renamed. */
  name: string
  req: string
  features: string[]
  optional: boolean
  default_features: boolean
  target: string | null
  kind: DepKind
  /** Index URL of another registry (cargo's `RegistryDependency::registry`); never set on crates.io. */
  registry?: string
  /** The real crate name when the dependency is renamed. */
  package?: string
}

/** One version of a crate: a line of its index file. */
export interface IndexEntry {
  name: string
  vers: string
  deps: IndexDependency[]
  cksum: string
  features: FeatureMap
  features2?: FeatureMap
  yanked: boolean
  links?: string
  rust_version?: string
  v?: number
}

/** Compare two strings by their UTF-8 bytes, as Rust's `Ord for str` does. */
export function compareUtf8 (a: string, b: string): number {
  if (a === b) return 0
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

function compareOptional (a: string | undefined | null, b: string | undefined | null): number {
  if (a == null || b == null) return a == null ? (b == null ? 0 : -1) : 1 // None < Some
  return compareUtf8(a, b)
}

function compareList (a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareUtf8(a[i] ?? '', b[i] ?? '')
    if (c !== 0) return c
  }
  return a.length - b.length
}

/**
 * crates.io `impl Ord for Dependency`: by name, kind (normal < build < dev), req, optional,
 * default_features, target, package, features; `false < true` and a missing value first.
 * (`registry` is not in crates.io's struct; it is compared last so the order stays total.)
 */
export function compareDependencies (a: IndexDependency, b: IndexDependency): number {
  return compareUtf8(a.name, b.name) ||
    DEP_KINDS.indexOf(a.kind) - DEP_KINDS.indexOf(b.kind) ||
    compareUtf8(a.req, b.req) ||
    Number(a.optional) - Number(b.optional) ||
    Number(a.default_features) - Number(b.default_features) ||
    compareOptional(a.target, b.target) ||
    compareOptional(a.package, b.package) ||
    compareList(a.features, b.features) ||
    compareOptional(a.registry, b.registry)
}

function sortedMap (map: FeatureMap): FeatureMap {
  return new Map([...map].sort(([a], [b]) => compareUtf8(a, b)))
}

// A BTreeMap<String, Vec<String>> as serde_json writes it: keys in byte order, compact.
function mapJson (map: FeatureMap): string {
  const parts = [...sortedMap(map)].map(([key, values]) => `${JSON.stringify(key)}:${JSON.stringify(values)}`)
  return `{${parts.join(',')}}`
}

// crates.io `has_features2_syntax`: namespaced (`dep:x`) or weak (`x?/f`) feature values.
function hasFeatures2Syntax (value: string): boolean {
  return value.startsWith('dep:') || value.includes('?/')
}

/**
 * crates.io `split_features`: features using the new syntax go to `features2`, then (up to 100
 * rounds) so does every feature that names a feature already there, since cargo older than 1.19
 * could not load them. Both maps come back with sorted keys.
 */
export function splitFeatures (all: FeatureMap): { features: FeatureMap, features2: FeatureMap } {
  let features: FeatureMap = new Map()
  const features2: FeatureMap = new Map()
  for (const [key, values] of all) {
    if (values.some(hasFeatures2Syntax)) features2.set(key, values)
    else features.set(key, values)
  }
  for (let round = 0; round < 100; round++) {
    const stay: FeatureMap = new Map()
    let moved = false
    for (const [key, values] of features) {
      if (values.some((v) => features2.has(v))) {
        features2.set(key, values)
        moved = true
      } else {
        stay.set(key, values)
      }
    }
    features = stay
    if (!moved) break
  }
  return { features: sortedMap(features), features2: sortedMap(features2) }
}

function dependencyJson (d: IndexDependency): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: d.name,
    req: d.req,
    features: d.features,
    optional: d.optional,
    default_features: d.default_features,
    target: d.target,
    kind: d.kind
  }
  if (d.registry !== undefined) out.registry = d.registry
  if (d.package !== undefined) out.package = d.package
  return out
}

/**
 * The index line for `entry`, without the trailing newline: serde_json compact output in
 * crates.io's field order (`name, vers, deps, cksum, features, features2?, yanked, links?,
 * rust_version?, v?`), optional fields omitted when absent, as `skip_serializing_if` does.
 * JSON.stringify escapes strings exactly as serde_json does (`"`, `\`, control characters).
 */
export function serializeIndexEntry (entry: IndexEntry): string {
  const field = (key: string, json: string): string => `${JSON.stringify(key)}:${json}`
  const deps = [...entry.deps].sort(compareDependencies).map(dependencyJson)
  const parts = [
    field('name', JSON.stringify(entry.name)),
    field('vers', JSON.stringify(entry.vers)),
    field('deps', JSON.stringify(deps)),
    field('cksum', JSON.stringify(entry.cksum)),
    field('features', mapJson(entry.features))
  ]
  if (entry.features2 !== undefined) parts.push(field('features2', mapJson(entry.features2)))
  parts.push(field('yanked', JSON.stringify(entry.yanked)))
  if (entry.links !== undefined) parts.push(field('links', JSON.stringify(entry.links)))
  if (entry.rust_version !== undefined) parts.push(field('rust_version', JSON.stringify(entry.rust_version)))
  if (entry.v !== undefined) parts.push(field('v', JSON.stringify(entry.v)))
  return `{${parts.join(',')}}`
}
