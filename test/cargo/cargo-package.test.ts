/**
 * Real `.crate` files from real `cargo package` (isolated CARGO_HOME, temp dirs, no registry
 * contacted), turned into index lines by `addCrates`, then handed back to real cargo as a
 * local-registry source to resolve, checksum-verify and build. Skips loudly without cargo.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { MemoryDraft } from '../../src/catalog/draft.ts'
import { addCrates } from '../../src/cargo/bundle-input.ts'
import { indexCatalogPath, sparseIndexPath } from '../../src/cargo/index-path.ts'
import { cargoPackage, hasCommand, sha256File, tempDir } from '../utils/cargo-fixtures.ts'

const run = promisify(execFile)

async function files (root: string, tree: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(tree)) {
    await mkdir(dirname(join(root, rel)), { recursive: true })
    await writeFile(join(root, rel), text)
  }
}

const pkg = (name: string, version: string, more = ''): string =>
  `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\ndescription = "test"\nlicense = "MIT"\n${more}`

// A workspace exercising every dependency form cargo normalizes (see the Alpha_Crate manifest).
const WORKSPACE = {
  'Cargo.toml': '[workspace]\nmembers = ["a", "b", "c"]\nresolver = "2"\n',
  'b/Cargo.toml': pkg('bee-lib', '0.2.0', '[features]\nextra = []\n'),
  'b/src/lib.rs': 'pub fn b() -> u32 { 2 }\n',
  'c/Cargo.toml': pkg('cee', '1.0.0', '[features]\ndefault = []\n'),
  'c/src/lib.rs': 'pub fn c() -> u32 { 3 }\n',
  'a/Cargo.toml': pkg('Alpha_Crate', '0.1.0-beta.1+meta', `links = "alpha"
rust-version = "1.70"

[dependencies]
bee = { package = "bee-lib", path = "../b", version = ">= 0.2,  <0.3", default-features = false, features = ["extra"] }
cee = { path = "../c", version = "1", optional = true }

[target.'cfg(unix)'.dependencies]
cee = { path = "../c", version = "1.0" }

[build-dependencies]
cee = { path = "../c", version = "~1" }

[dev-dependencies]
bee-lib = { path = "../b", version = "0.2.0" }
devonly = { path = "../c", package = "cee" }

[features]
default = ["fast"]
fast = []
withc = ["dep:cee"]
weak = ["cee?/default"]
chain = ["withc"]
`),
  'a/src/lib.rs': 'pub fn a() -> u32 { bee::b() }\n',
  'a/build.rs': 'fn main() {}\n'
}

// Expected lines, from crates.io's rules (see manifest.test.ts for the sources): `req` normalized
// by semver, renamed `bee` → name "bee" + package "bee-lib", the path-only dev-dependency gone
// (cargo strips it when packaging), deps sorted by (name, kind, req, …), `withc`/`weak` and the
// `chain` naming `withc` in features2 with v:2.
const ALPHA = '{"name":"Alpha_Crate","vers":"0.1.0-beta.1+meta","deps":[' +
  '{"name":"bee","req":">=0.2, <0.3","features":["extra"],"optional":false,"default_features":false,"target":null,"kind":"normal","package":"bee-lib"},' +
  '{"name":"bee-lib","req":"^0.2.0","features":[],"optional":false,"default_features":true,"target":null,"kind":"dev"},' +
  '{"name":"cee","req":"^1","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal"},' +
  '{"name":"cee","req":"^1.0","features":[],"optional":false,"default_features":true,"target":"cfg(unix)","kind":"normal"},' +
  '{"name":"cee","req":"~1","features":[],"optional":false,"default_features":true,"target":null,"kind":"build"}],' +
  '"cksum":"CKSUM","features":{"default":["fast"],"fast":[]},"features2":{"chain":["withc"],"weak":["cee?/default"],"withc":["dep:cee"]},' +
  '"yanked":false,"links":"alpha","rust_version":"1.70","v":2}'

test('real cargo package: exact index lines, and real cargo resolves, verifies and builds from them', async (t) => {
  if (!(await hasCommand('cargo'))) {
    t.skip('SKIPPED: `cargo` is not installed; install a Rust toolchain (cargo >= 1.84) to run the real-crate test')
    return
  }
  const { dir, cleanup } = await tempDir()
  try {
    const ws = join(dir, 'ws')
    await files(ws, WORKSPACE)
    await cargoPackage(ws, join(dir, 'cargo-home'))
    const crates = join(dir, 'crates')
    await mkdir(crates)
    const made = (await readdir(join(ws, 'target', 'package'))).filter((f) => f.endsWith('.crate')).sort()
    assert.deepEqual(made, ['Alpha_Crate-0.1.0-beta.1+meta.crate', 'bee-lib-0.2.0.crate', 'cee-1.0.0.crate'])
    for (const f of made) await copyFile(join(ws, 'target', 'package', f), join(crates, f))

    const draft = new MemoryDraft()
    assert.deepEqual(await addCrates(crates, draft), { crates: 3, indexFiles: 3 })
    const text = async (name: string): Promise<string> => Buffer.from((await draft.read(indexCatalogPath(name))) ?? []).toString()
    const sum = async (f: string): Promise<string> => await sha256File(join(crates, f))
    assert.equal(await text('Alpha_Crate'), `${ALPHA.replace('CKSUM', await sum(made[0] ?? ''))}\n`)
    assert.equal(await text('bee-lib'), `{"name":"bee-lib","vers":"0.2.0","deps":[],"cksum":"${await sum('bee-lib-0.2.0.crate')}","features":{"extra":[]},"yanked":false}\n`)
    assert.equal(await text('cee'), `{"name":"cee","vers":"1.0.0","deps":[],"cksum":"${await sum('cee-1.0.0.crate')}","features":{"default":[]},"yanked":false}\n`)

    // Hand the result to cargo as a local registry replacing crates.io: it reads our index lines,
    // resolves the graph, checks each .crate against `cksum`, and builds.
    const registry = join(dir, 'registry')
    for (const name of ['Alpha_Crate', 'bee-lib', 'cee']) await files(join(registry, 'index'), { [sparseIndexPath(name)]: await text(name) })
    for (const f of made) await copyFile(join(crates, f), join(registry, f))
    const home = join(dir, 'consumer-home')
    await files(home, { 'config.toml': `[source.crates-io]\nreplace-with = "mirror"\n[source.mirror]\nlocal-registry = "${registry}"\n` })
    const consumer = join(dir, 'consumer')
    await files(consumer, {
      'Cargo.toml': pkg('consumer', '0.0.0', '\n[dependencies]\nAlpha_Crate = { version = "=0.1.0-beta.1", features = ["withc"] }\n'),
      'src/main.rs': 'fn main() { println!("{}", Alpha_Crate::a()); }\n'
    })
    const env = { ...process.env, CARGO_HOME: home, CARGO_TARGET_DIR: join(consumer, 'target'), CARGO_TERM_COLOR: 'never' }
    const out = await run('cargo', ['run', '--quiet'], { cwd: consumer, env })
    assert.equal(out.stdout.trim(), '2')
    const lock = await run('cargo', ['tree', '--prefix', 'none', '-e', 'normal'], { cwd: consumer, env })
    assert.match(lock.stdout, /Alpha_Crate v0\.1\.0-beta\.1\+meta/)
    assert.match(lock.stdout, /bee-lib v0\.2\.0/)
    assert.match(lock.stdout, /cee v1\.0\.0/)
  } finally {
    await cleanup()
  }
})

test('real cargo package: a dependency from another registry carries `registry`', async (t) => {
  if (!(await hasCommand('cargo'))) {
    t.skip('SKIPPED: `cargo` is not installed; install a Rust toolchain (cargo >= 1.84) to run the real-crate test')
    return
  }
  const { dir, cleanup } = await tempDir()
  try {
    const ws = join(dir, 'ws')
    await files(ws, {
      'Cargo.toml': '[workspace]\nmembers = ["d", "c"]\nresolver = "2"\n',
      'c/Cargo.toml': pkg('cee', '1.0.0'),
      'c/src/lib.rs': '',
      'd/Cargo.toml': pkg('dee', '1.0.0', '[dependencies]\ncee = { path = "../c", version = "1", registry = "other" }\n'),
      'd/src/lib.rs': ''
    })
    const home = join(dir, 'cargo-home')
    await files(home, { 'config.toml': '[registries.other]\nindex = "sparse+https://other.invalid/index/"\n' })
    await cargoPackage(ws, home)
    const draft = new MemoryDraft()
    await addCrates(join(ws, 'target', 'package'), draft)
    const line = Buffer.from((await draft.read(indexCatalogPath('dee'))) ?? []).toString()
    const cksum = await sha256File(join(ws, 'target', 'package', 'dee-1.0.0.crate'))
    assert.equal(line, `{"name":"dee","vers":"1.0.0","deps":[{"name":"cee","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":"sparse+https://other.invalid/index/"}],"cksum":"${cksum}","features":{},"yanked":false}\n`)
  } finally {
    await cleanup()
  }
})
