/**
 * Real-world crates from Debian (`librust-*-dev`, see REQUIRES-APT.txt): each source tree under
 * /usr/share/cargo/registry/{name}-{version}/ holds crates.io's normalized Cargo.toml. They are packed
 * into `.crate` files, run through `addCrates`, checked line by line against their manifests, and
 * handed to real cargo as a local registry. Requirement normalization is checked against the real
 * Rust `semver` crate (Debian's copy), on every requirement found plus a few thousand generated ones.
 * Skips loudly when the Debian sources are absent.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access, copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'smol-toml'
import { MemoryDraft } from '../../src/catalog/draft.ts'
import { addCrates } from '../../src/cargo/bundle-input.ts'
import { indexCatalogPath, sparseIndexPath } from '../../src/cargo/index-path.ts'
import { parseVersionReq } from '../../src/cargo/version-req.ts'
import { DEBIAN_REGISTRY, hasCommand, semverOracle, sha256File, tarDirectory, tempDir } from '../utils/cargo-fixtures.ts'

const run = promisify(execFile)
const SKIP = `SKIPPED: ${DEBIAN_REGISTRY} is absent. Install the Debian crate sources listed in test/cargo/REQUIRES-APT.txt ` +
  '(apt-get install -y librust-serde-dev …) to run the real-world crate tests.'

const hasDebian = await access(DEBIAN_REGISTRY).then(() => true, () => false)

type Table = Record<string, unknown>
interface Line { name: string, vers: string, deps: Array<Record<string, unknown>>, cksum: string, features: Record<string, string[]>, features2?: Record<string, string[]>, yanked: boolean, links?: string, rust_version?: string, v?: number }

// Every requirement of a manifest, as (where, req) pairs, read with plain smol-toml.
function manifestDeps (m: Table): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  const add = (table: unknown, kind: string, target: string | null): void => {
    for (const [key, raw] of Object.entries((table ?? {}) as Table)) {
      const d = (typeof raw === 'string' ? { version: raw } : raw) as Table
      out.push({
        name: key, req: d.version ?? '*', features: d.features ?? [], optional: d.optional ?? false,
        default_features: d['default-features'] ?? d.default_features ?? true, target, kind, ...(d.package === undefined ? {} : { package: d.package })
      })
    }
  }
  const kinds = (t: Table, target: string | null): void => {
    add(t.dependencies, 'normal', target)
    add(t['dev-dependencies'] ?? t.dev_dependencies, 'dev', target)
    add(t['build-dependencies'] ?? t.build_dependencies, 'build', target)
  }
  kinds(m, null)
  for (const [target, t] of Object.entries((m.target ?? {}) as Table)) kinds(t as Table, target)
  return out
}

const key = (d: Record<string, unknown>): string => JSON.stringify([d.name, d.kind, d.target, d.optional, d.default_features, d.features, d.package ?? null])

test('Debian crates: every generated line parses, has crates.io fields, the file cksum, and the manifest deps/features', { timeout: 120_000 }, async (t) => {
  if (!hasDebian) {
    t.skip(SKIP)
    return
  }
  const { dir, cleanup } = await tempDir()
  try {
    const sources = (await readdir(DEBIAN_REGISTRY)).filter((d) => /^[A-Za-z][A-Za-z0-9_-]*-\d+\.\d+\.\d+/.test(d)).sort()
    assert.ok(sources.length > 0, `no crate sources under ${DEBIAN_REGISTRY}`)
    const crates = join(dir, 'crates')
    for (const src of sources) await tarDirectory(DEBIAN_REGISTRY, src, join(crates, `${src}.crate`))

    const draft = new MemoryDraft()
    const result = await addCrates(crates, draft)
    assert.equal(result.crates, sources.length)
    const oracle = await semverOracle(join(dir, 'oracle'))
    const reqs: Array<[string, string, string]> = [] // [where, manifest req, index req]

    for (const src of sources) {
      const manifest = parse(await readFile(join(DEBIAN_REGISTRY, src, 'Cargo.toml'), 'utf8')) as Table
      const pkg = manifest.package as Table
      const text = Buffer.from((await draft.read(indexCatalogPath(pkg.name as string))) ?? []).toString()
      assert.ok(text.endsWith('\n'), `${src}: index file is newline-terminated`)
      const lines = text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Line)
      const line = lines.find((l) => l.vers === pkg.version)
      assert.ok(line, `${src}: a line for ${String(pkg.version)}`)

      assert.deepEqual(Object.keys(line).slice(0, 5), ['name', 'vers', 'deps', 'cksum', 'features'], `${src}: crates.io field order`)
      assert.equal(line.name, pkg.name)
      assert.equal(`${line.name}-${line.vers}`, src)
      assert.equal(line.cksum, await sha256File(join(crates, `${src}.crate`)), `${src}: cksum is the sha256 of the .crate`)
      assert.equal(line.yanked, false)
      assert.equal(line.links, pkg.links)
      assert.equal(line.rust_version, pkg['rust-version'])

      // Features: features ∪ features2 is the manifest's table; v:2 exactly when features2 exists.
      assert.deepEqual({ ...line.features, ...line.features2 }, { ...(manifest.features as Table ?? {}) }, `${src}: features`)
      assert.equal(line.v === 2, line.features2 !== undefined, `${src}: v:2 iff features2`)

      // Deps: the same set as the manifest (req compared separately), sorted by name then kind.
      const expected = manifestDeps(manifest)
      assert.deepEqual(line.deps.map(key).sort(), expected.map(key).sort(), `${src}: deps`)
      for (const d of line.deps) {
        const m = expected.find((e) => key(e) === key(d))
        reqs.push([`${src} ${String(d.name)}`, String(m?.req), String(d.req)])
      }
      const order = line.deps.map((d) => [d.name as string, ['normal', 'build', 'dev'].indexOf(d.kind as string)] as const)
      for (let i = 1; i < order.length; i++) {
        const [a, b] = [order[i - 1], order[i]]
        assert.ok(a && b && (Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])) < 0 || (a[0] === b[0] && a[1] <= b[1])), `${src}: deps sorted`)
      }
    }

    // Each index req is what the real Rust semver crate makes of the manifest's req (or, without
    // cargo, what this project's port makes of it).
    const normalized = oracle === undefined ? reqs.map(([, req]) => parseVersionReq(req)) : await oracle(reqs.map(([, req]) => req))
    reqs.forEach(([where, req, indexReq], i) => assert.equal(indexReq, normalized[i] ?? req, `${where}: req ${JSON.stringify(req)}`))
    if (oracle === undefined) t.diagnostic('cargo is absent: reqs were checked against this project\'s semver port only')

    // Real cargo reads the generated index (as a local registry replacing crates.io), resolves a
    // graph of these crates and verifies every downloaded .crate against its cksum.
    if (!(await hasCommand('cargo'))) {
      t.diagnostic('cargo is absent: skipped resolving the Debian crates with real cargo')
      return
    }
    const registry = join(dir, 'registry')
    for (const src of sources) {
      const name = ((parse(await readFile(join(DEBIAN_REGISTRY, src, 'Cargo.toml'), 'utf8')) as Table).package as Table).name as string
      const target = join(registry, 'index', sparseIndexPath(name))
      await mkdir(dirname(target), { recursive: true })
      await writeFile(target, (await draft.read(indexCatalogPath(name))) ?? new Uint8Array())
      await copyFile(join(crates, `${src}.crate`), join(registry, `${src}.crate`))
    }
    const wanted = ['serde', 'log', 'memchr', 'bitflags', 'thiserror', 'itoa', 'either', 'semver', 'syn', 'quote']
      .map((n) => sources.find((s) => new RegExp(`^${n}-\\d`).test(s))).filter((s): s is string => s !== undefined)
    assert.ok(wanted.length > 0, 'at least one of the REQUIRES-APT crates is present to resolve')
    const consumer = join(dir, 'consumer')
    await mkdir(join(consumer, 'src'), { recursive: true })
    const deps = wanted.map((s) => { const m = /^(.*)-(\d+\.\d+\.\d+.*)$/.exec(s); return `${m?.[1]} = "=${m?.[2]}"` }).join('\n')
    await writeFile(join(consumer, 'Cargo.toml'), `[package]\nname = "consumer"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n${deps}\n`)
    await writeFile(join(consumer, 'src', 'main.rs'), 'fn main() {}\n')
    const home = join(dir, 'consumer-home')
    await mkdir(home)
    await writeFile(join(home, 'config.toml'), `[source.crates-io]\nreplace-with = "mirror"\n[source.mirror]\nlocal-registry = "${registry}"\n`)
    const env = { ...process.env, CARGO_HOME: home, CARGO_TERM_COLOR: 'never' }
    await run('cargo', ['fetch'], { cwd: consumer, env })
    const lock = await readFile(join(consumer, 'Cargo.lock'), 'utf8')
    for (const s of wanted) assert.ok(lock.includes(`version = "${/-(\d+\.\d+\.\d+.*)$/.exec(s)?.[1]}"`), `${s} in Cargo.lock`)
  } finally {
    await cleanup()
  }
})

// A deterministic stream of requirements built from semver's grammar (spaces, operators, numbers,
// wildcards, pre-release and build parts, separators), some of them then mutated.
function* generatedReqs (count: number): Generator<string> {
  let seed = 0x9e3779b9
  const next = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n }
  const pick = <T>(xs: readonly T[]): T => xs[next(xs.length)] as T
  // Mostly valid choices; the odd bad one (`01`, u64 overflow, `~>`, empty identifiers) on purpose.
  const rare = <T>(good: readonly T[], bad: readonly T[]): T => (next(12) === 0 ? pick(bad) : pick(good))
  const num = (): string => rare(['0', '1', '2', '3', '10', '123', '18446744073709551615'], ['01', '00', '18446744073709551616', ''])
  const part = (): string => next(5) === 0 ? pick(['*', 'x', 'X']) : num()
  const ident = (): string => rare(['alpha', 'beta', '1', '0', 'rc-1', 'x', 'a.b', '0a', 'B-2'], ['01', '', 'a..b'])
  const comparator = (): string => {
    let c = pick(['', '', ' ', '  ']) + rare(['', '', '=', '>', '>=', '<', '<=', '~', '^'], ['~>', '==', '!']) + pick(['', '', ' '])
    c += num()
    if (next(4) > 0) c += '.' + part()
    if (next(3) > 0) c += '.' + part()
    if (next(4) === 0) c += '-' + ident() + (next(2) === 0 ? '.' + ident() : '')
    if (next(6) === 0) c += '+' + ident()
    return c + pick(['', '', ' ', '  '])
  }
  const noise = ['', ' ', ',', '.', '-', '+', '*', '|', '\t', 'v', '0', '=']
  for (let i = 0; i < count; i++) {
    let s = comparator()
    for (let k = next(3); k > 0; k--) s += rare([',', ', ', ' ,'], [' ', '||', '']) + comparator()
    if (next(6) === 0) {
      const at = next(s.length + 1)
      s = s.slice(0, at) + pick(noise) + s.slice(at + next(2))
    }
    yield s
  }
}

test('version requirements: this port agrees with the real Rust semver crate', { timeout: 120_000 }, async (t) => {
  if (!hasDebian) {
    t.skip(SKIP)
    return
  }
  const { dir, cleanup } = await tempDir()
  try {
    const oracle = await semverOracle(dir)
    if (oracle === undefined) {
      t.skip('SKIPPED: needs cargo and Debian\'s librust-semver-dev (see REQUIRES-APT.txt) to build the reference')
      return
    }
    const reqs = [...new Set(generatedReqs(4000))]
    const expected = await oracle(reqs)
    const parsed = expected.filter((e) => e !== undefined).length
    assert.ok(parsed > 300 && parsed < reqs.length - 300, `the corpus mixes valid (${parsed}) and invalid requirements`)
    reqs.forEach((req, i) => assert.equal(parseVersionReq(req), expected[i], JSON.stringify(req)))
    t.diagnostic(`${reqs.length} requirements compared, ${parsed} valid`)
  } finally {
    await cleanup()
  }
})
