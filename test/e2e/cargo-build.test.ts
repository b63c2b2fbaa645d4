/**
 * End to end with real cargo: real `.crate` files from `cargo package` (a graph with features, an
 * optional dependency behind a feature, a renamed dependency, a dev-dependency, and two versions of
 * one crate), bundled, imported and served by `mirrormesh serve`; then real `cargo build` of a project
 * that uses them, with a fresh CARGO_HOME whose config replaces crates.io with the gateway. Never
 * `--offline`: every index file and crate goes over HTTP. Skips loudly without cargo.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { cargoPackage, hasCommand, sha256File, tempDir } from '../utils/cargo-fixtures.ts'
import { cli, startServe } from '../utils/cli.ts'
import { requestCount } from '../gateway/helpers.ts'

const run = promisify(execFile)

async function files (root: string, tree: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(tree)) {
    await mkdir(dirname(join(root, rel)), { recursive: true })
    await writeFile(join(root, rel), text)
  }
}

const pkg = (name: string, version: string, more = ''): string =>
  `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\ndescription = "mirrormesh e2e"\nlicense = "MIT"\n${more}`

// The library graph. `mm-core` renames `mm-color` to `paint` with default features off and `blue`
// on, pulls `mm-extra` only through its `fancy` feature, and has a dev-dependency on `mm-devtool`.
const WORKSPACE = {
  'Cargo.toml': '[workspace]\nmembers = ["color", "extra", "devtool", "core"]\nresolver = "2"\n',
  'color/Cargo.toml': pkg('mm-color', '1.2.0', '[features]\ndefault = ["red"]\nred = []\nblue = []\n'),
  'color/src/lib.rs': 'pub fn name() -> String {\n    let mut v: Vec<&str> = Vec::new();\n    if cfg!(feature = "red") { v.push("red") }\n    if cfg!(feature = "blue") { v.push("blue") }\n    v.join("+")\n}\n',
  'extra/Cargo.toml': pkg('mm-extra', '0.3.1'),
  'extra/src/lib.rs': 'pub fn extra() -> &\'static str { "extra" }\n',
  'devtool/Cargo.toml': pkg('mm-devtool', '0.1.0'),
  'devtool/src/lib.rs': 'pub fn check() -> bool { true }\n',
  'core/Cargo.toml': pkg('mm-core', '0.5.0', `
[dependencies]
paint = { package = "mm-color", path = "../color", version = "1.2", default-features = false, features = ["blue"] }
mm-extra = { path = "../extra", version = "0.3", optional = true }

[dev-dependencies]
mm-devtool = { path = "../devtool", version = "0.1" }

[features]
fancy = ["dep:mm-extra"]
`),
  'core/src/lib.rs': `pub fn describe() -> String {
    #[cfg(feature = "fancy")]
    let extra = mm_extra::extra();
    #[cfg(not(feature = "fancy"))]
    let extra = "none";
    format!("color={} extra={}", paint::name(), extra)
}
`
}

// One crate in two versions, packaged from two directories.
const VERSION = (version: string): Record<string, string> => ({
  'Cargo.toml': pkg('mm-ver', version),
  'src/lib.rs': `pub fn version() -> &'static str { "${version}" }\n`
})

// The project built against the gateway: `mm-ver` 1 by its own name and 2 renamed.
const PROJECT = {
  'Cargo.toml': pkg('consumer', '0.0.0', `
[dependencies]
mm-core = { version = "0.5", features = ["fancy"] }
mm-ver = "1"
ver_two = { package = "mm-ver", version = "2" }

[dev-dependencies]
mm-devtool = "0.1"
`),
  'src/main.rs': 'fn main() {\n    println!("{} v1={} v2={}", mm_core::describe(), mm_ver::version(), ver_two::version());\n}\n'
}

const EXPECTED_OUTPUT = 'color=blue extra=extra v1=1.0.4 v2=2.1.0'

test('real cargo builds a project through the gateway, then revalidates the index with 304s', { timeout: 300_000 }, async (t) => {
  if (!(await hasCommand('cargo'))) {
    t.skip('SKIPPED: cargo not installed: install a Rust toolchain (cargo >= 1.84) to run the real-cargo end-to-end test')
    return
  }
  const { dir, cleanup } = await tempDir('mirrormesh-e2e-cargo-')
  try {
    // 1. Real .crate files from real `cargo package` (no registry contacted).
    const crates = join(dir, 'crates')
    await mkdir(crates)
    for (const [ws, tree] of [['ws', WORKSPACE], ['ver1', VERSION('1.0.4')], ['ver2', VERSION('2.1.0')]] as const) {
      await files(join(dir, ws), ws === 'ws' ? tree : { ...tree, 'Cargo.toml': `${tree['Cargo.toml'] ?? ''}\n[workspace]\n` })
      await cargoPackage(join(dir, ws), join(dir, 'package-home'))
      for (const f of await readdir(join(dir, ws, 'target', 'package'))) {
        if (f.endsWith('.crate')) await copyFile(join(dir, ws, 'target', 'package', f), join(crates, f))
      }
    }
    const made = (await readdir(crates)).sort()
    assert.deepEqual(made, ['mm-color-1.2.0.crate', 'mm-core-0.5.0.crate', 'mm-devtool-0.1.0.crate', 'mm-extra-0.3.1.crate', 'mm-ver-1.0.4.crate', 'mm-ver-2.1.0.crate'])

    // 2. Bundle, trust, import, serve: all through the CLI.
    const ok = async (args: string[]): Promise<unknown> => {
      const r = await cli(args)
      assert.equal(r.code, 0, `mirrormesh ${args.join(' ')}: ${r.stderr}`)
      return r.json
    }
    const key = join(dir, 'pub.key')
    const { publisher } = await ok(['--json', 'key', 'new', '--out', key]) as { publisher: string }
    await ok(['--home', join(dir, 'pubhome'), 'bundle', 'create', '--key', key, '--crates', crates, '--out', join(dir, 'crates.mmb')])
    const home = join(dir, 'seed')
    await ok(['--home', home, 'key', 'trust', publisher])
    await ok(['--home', home, 'import', join(dir, 'crates.mmb')])
    // The gateway alone (`--no-mesh`): no peers, no mDNS, no data-plane port shared with other tests.
    const node = await startServe(['--home', home, '--no-mesh', '--gateway', '127.0.0.1:0'])
    try {
      const gateway = node.ready.gateway
      const metrics = async (): Promise<string> => await (await fetch(`${gateway}/metrics`)).text()

      // 3. A fresh CARGO_HOME that replaces crates.io with the gateway; real `cargo build` and run.
      const cargoHome = join(dir, 'cargo-home')
      await files(cargoHome, { 'config.toml': `[source.crates-io]\nreplace-with = "mirrormesh"\n\n[source.mirrormesh]\nregistry = "sparse+${gateway}/cargo/index/"\n\n[net]\nretry = 0\n` })
      const project = join(dir, 'project')
      await files(project, PROJECT)
      const env: Record<string, string | undefined> = { ...process.env, CARGO_HOME: cargoHome, CARGO_TARGET_DIR: join(project, 'target'), CARGO_TERM_COLOR: 'never' }
      for (const name of Object.keys(env)) if (name === 'CARGO_NET_OFFLINE' || name.startsWith('CARGO_REGISTRIES_') || name.startsWith('CARGO_SOURCE_')) delete env[name]
      const cargo = async (...args: string[]): Promise<{ stdout: string, stderr: string }> => {
        try {
          return await run('cargo', args, { cwd: project, env, timeout: 120_000 })
        } catch (err) {
          const e = err as Error & { stderr?: string }
          throw new Error(`cargo ${args.join(' ')} failed: ${e.stderr ?? e.message}\ngateway stderr: ${node.stderr()}`, { cause: err })
        }
      }

      await cargo('build')
      const out = await run(join(project, 'target', 'debug', 'consumer'), [])
      assert.equal(out.stdout.trim(), EXPECTED_OUTPUT, 'features, the optional dependency, the rename and both versions resolved')

      // The lock file records crates.io as the source, with the checksums of the files we packaged.
      const lock = await readFile(join(project, 'Cargo.lock'), 'utf8')
      for (const f of made) {
        const [, name, version] = /^(.+)-(\d+\.\d+\.\d+)\.crate$/.exec(f) ?? []
        const block = lock.split('[[package]]').find(b => b.includes(`name = "${name}"`) && b.includes(`version = "${version}"`))
        assert.ok(block !== undefined, `${f} is in Cargo.lock (dev-dependencies resolve too)`)
        assert.match(block, /source = "registry\+https:\/\/github\.com\/rust-lang\/crates\.io-index"/)
        assert.match(block, new RegExp(`checksum = "${await sha256File(join(crates, f))}"`))
      }
      const first = await metrics()
      assert.equal(requestCount(first, 'cargo-config', 200), 1, 'cargo read config.json')
      assert.equal(requestCount(first, 'cargo-index', 200), 5, 'the five index files (mm-ver holds both versions) came from the gateway')
      assert.equal(requestCount(first, 'cargo-crate', 200), 5, 'the five crates the build needs were downloaded (not the dev-only mm-devtool)')

      // 4. After `cargo clean`, a rebuild that resolves again revalidates every index file: 304s, no
      // bodies. (With Cargo.lock intact, cargo 1.95 trusts its cached index and sends no request at
      // all, so the lock file goes too.)
      await cargo('clean')
      await rm(join(project, 'Cargo.lock'))
      await cargo('build')
      const again = await run(join(project, 'target', 'debug', 'consumer'), [])
      assert.equal(again.stdout.trim(), EXPECTED_OUTPUT)
      const second = await metrics()
      const revalidated = requestCount(second, 'cargo-index', 304) - requestCount(first, 'cargo-index', 304)
      assert.equal(revalidated, 5, 'every index file was revalidated with a 304')
      assert.equal(requestCount(second, 'cargo-index', 200), requestCount(first, 'cargo-index', 200), 'no index file was sent again')
      assert.equal(requestCount(second, 'cargo-crate', 200), 5, 'no crate was downloaded again')
    } finally {
      assert.equal(await node.stop(), 0, `serve exits cleanly: ${node.stderr()}`)
    }
  } finally {
    await cleanup()
  }
})
