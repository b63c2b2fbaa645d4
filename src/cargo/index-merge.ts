/**
 * Merging new lines into an existing index file. crates.io versions are immutable: a version is
 * published once (`duplicate_version_error`, "crate version `x` is already uploaded", which compares
 * versions without build metadata, `num_no_build`), so one name+version with two checksums is an error.
 */
import { BundleInputError } from '../util/errors.ts'
import type { IndexLine } from './index-file.ts'
import { checkOneCrate } from './index-file.ts'
import { compareSemver, parseSemverVersion, withoutBuild } from './semver.ts'

function conflict (where: string, a: IndexLine, b: IndexLine): BundleInputError {
  return new BundleInputError(`${where}: ${a.name} ${b.vers} has cksum ${b.cksum} but the catalog already has ${a.vers} with cksum ${a.cksum}; a published crate version never changes, so one of the two .crate files is not the real one`)
}

function byVersion (lines: readonly IndexLine[]): Map<string, IndexLine> {
  return new Map(lines.map((l) => [withoutBuild(l.vers), l]))
}

function semverOrder (a: IndexLine, b: IndexLine): number {
  const va = parseSemverVersion(a.vers)
  const vb = parseSemverVersion(b.vers)
  return va !== undefined && vb !== undefined ? compareSemver(va, vb) : 0
}

/**
 * Add generated lines to an index file: existing lines stay as they are and in order (a version
 * already there with the same cksum keeps its existing line, which may be upstream's exact bytes);
 * new versions are appended in semver order.
 */
export function mergeGenerated (existing: readonly IndexLine[], added: readonly IndexLine[], where: string): IndexLine[] {
  checkOneCrate([...existing, ...added], where)
  const have = byVersion(existing)
  const fresh = new Map<string, IndexLine>()
  for (const line of added) {
    const key = withoutBuild(line.vers)
    const old = have.get(key) ?? fresh.get(key)
    if (old !== undefined) {
      if (old.cksum !== line.cksum) throw conflict(where, old, line)
      continue
    }
    fresh.set(key, line)
  }
  return [...existing, ...[...fresh.values()].sort(semverOrder)]
}

/**
 * Put upstream lines into an index file: upstream's lines first, in upstream's (publication) order,
 * then the existing lines for versions upstream does not list, in their order. Upstream wins for a
 * version both have, as long as both name the same `.crate` (same cksum).
 */
export function mergeUpstream (existing: readonly IndexLine[], upstream: readonly IndexLine[], where: string): IndexLine[] {
  checkOneCrate([...upstream, ...existing], where)
  // Exact `vers` here: a few old crates.io files list versions that differ only in build metadata.
  const up = new Map(upstream.map((l) => [l.vers, l]))
  const rest: IndexLine[] = []
  for (const line of existing) {
    const same = up.get(line.vers)
    if (same === undefined) rest.push(line)
    else if (same.cksum !== line.cksum) throw conflict(where, line, same)
  }
  return [...upstream, ...rest]
}

/** Whether two line lists would give the same file. */
export function sameLines (a: readonly IndexLine[], b: readonly IndexLine[]): boolean {
  return a.length === b.length && a.every((line, i) => line.text === b[i]?.text)
}
