/**
 * Semver versions as the Rust `semver` crate (1.0.x, `src/parse.rs`) parses them: crates.io
 * rejects any `vers` it cannot parse, and cargo compares versions with the same rules.
 */

/** A parsed `major.minor.patch[-pre][+build]`; numbers kept as bigint (they are u64 in Rust). */
export interface SemverVersion {
  major: bigint
  minor: bigint
  patch: bigint
  /** Pre-release identifiers (empty for a release). */
  pre: string[]
  /** Build metadata, without the `+` (empty when absent). */
  build: string
}

/** u64::MAX: the `semver` crate reports an overflow past it. */
export const U64_MAX = (1n << 64n) - 1n

const NUMBER = '(0|[1-9][0-9]*)'
// semver `identifier()`: dot-separated non-empty segments of [0-9A-Za-z-].
const IDENT = '[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*'
const VERSION = new RegExp(`^${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:-(${IDENT}))?(?:\\+(${IDENT}))?$`)

/** Parse a version exactly as `semver::Version::parse` would, or return undefined. */
export function parseSemverVersion (text: string): SemverVersion | undefined {
  const m = VERSION.exec(text)
  if (m === null) return undefined
  const [major, minor, patch] = [BigInt(m[1] ?? ''), BigInt(m[2] ?? ''), BigInt(m[3] ?? '')]
  if (major > U64_MAX || minor > U64_MAX || patch > U64_MAX) return undefined
  const pre = m[4] === undefined ? [] : m[4].split('.')
  // semver: a numeric pre-release segment has no leading zero (build metadata may have one).
  if (pre.some((id) => /^0[0-9]+$/.test(id))) return undefined
  return { major, minor, patch, pre, build: m[5] ?? '' }
}

/** Whether `text` is a version crates.io would accept for `vers`. */
export function isSemverVersion (text: string): boolean {
  return parseSemverVersion(text) !== undefined
}

/** The version without its build metadata: crates.io keeps one version per such value (`num_no_build`). */
export function withoutBuild (text: string): string {
  const plus = text.indexOf('+')
  return plus === -1 ? text : text.slice(0, plus)
}

function compareBig (a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0
}

// Semver 2.0.0 §11: numeric identifiers compare numerically and sort before alphanumeric ones.
function compareIdent (a: string, b: string): number {
  const an = /^[0-9]+$/.test(a)
  const bn = /^[0-9]+$/.test(b)
  if (an && bn) return compareBig(BigInt(a), BigInt(b))
  if (an !== bn) return an ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** Semver precedence (a release sorts after its pre-releases); build metadata only breaks ties. */
export function compareSemver (a: SemverVersion, b: SemverVersion): number {
  const core = compareBig(a.major, b.major) || compareBig(a.minor, b.minor) || compareBig(a.patch, b.patch)
  if (core !== 0) return core
  if (a.pre.length === 0 || b.pre.length === 0) {
    if (a.pre.length !== b.pre.length) return a.pre.length === 0 ? 1 : -1
  } else {
    for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
      const c = compareIdent(a.pre[i] ?? '', b.pre[i] ?? '')
      if (c !== 0) return c
    }
    if (a.pre.length !== b.pre.length) return a.pre.length < b.pre.length ? -1 : 1
  }
  return a.build < b.build ? -1 : a.build > b.build ? 1 : 0
}
