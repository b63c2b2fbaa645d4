/**
 * Hand-written normalized manifests (test/fixtures/cargo/*.toml), each packed into a `.crate` and
 * compared with the exact index line crates.io would publish. The expected lines were written from
 * crates.io's source, not from this code's output:
 * - deps and features from the manifest: `src/controllers/krate/publish.rs` (`convert_dependencies`,
 *   `convert_dependency`: `req` through `semver::VersionReq::parse(..).to_string()`, renamed deps,
 *   `optional`/`default_features` defaults, target keys as written);
 * - index line: `src/index.rs` (`index_metadata`: Cargo.toml name → `name`, crate → `package`,
 *   `deps.sort()`, `split_features`, `v: 2` iff `features2`), `crates/crates_io_index/src/data.rs`
 *   (field order, `Ord for Dependency`), `src/ser.rs` (compact JSON);
 * - `registry`: cargo `src/cargo/ops/registry/publish.rs` (`prepare_transmit`).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readCrateFile } from '../../src/cargo/crate-file.ts'
import { serializeIndexEntry } from '../../src/cargo/index-entry.ts'
import { manifestEntry, parseManifest } from '../../src/cargo/manifest.ts'
import { manifestOf, sha256File, tempDir, writeCrate } from '../utils/cargo-fixtures.ts'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'cargo')

const cases: Array<[file: string, top: string, expected: string]> = [
  ['features.toml', 'feat-demo-1.2.3',
    '{"name":"feat-demo","vers":"1.2.3","deps":[{"name":"serde","req":"^1.0.100","features":[],"optional":false,"default_features":false,"target":null,"kind":"normal"},' +
    '{"name":"serde_derive","req":"=1.0.152","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal"}],' +
    '"cksum":"CKSUM","features":{"2018":[],"alloc":[],"default":["std"],"derive":["serde_derive"],"std":["serde/std"]},"yanked":false}'],
  // `default` names `std` and `all` names `json`, both in features2, so they move there too.
  ['namespaced.toml', 'ns-demo-0.4.0',
    '{"name":"ns-demo","vers":"0.4.0","deps":[{"name":"serde","req":"^1","features":[],"optional":true,"default_features":false,"target":null,"kind":"normal"},' +
    '{"name":"serde_json","req":"^1.0","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal"}],' +
    '"cksum":"CKSUM","features":{"alloc":[],"plain":["alloc"]},' +
    '"features2":{"all":["json","default"],"default":["std"],"json":["dep:serde_json","dep:serde"],"std":["alloc","serde?/std"]},"yanked":false,"v":2}'],
  ['renamed.toml', 'rename-demo-2.0.0',
    '{"name":"rename-demo","vers":"2.0.0","deps":[{"name":"futures","req":"^0.3","features":["thread-pool","compat"],"optional":false,"default_features":false,"target":null,"kind":"normal"},' +
    '{"name":"futures01","req":"^0.1.31","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal","package":"futures"},' +
    '{"name":"rand_old","req":"^0.7","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal","package":"rand"},' +
    '{"name":"tokio02","req":">=0.2.20, <0.3","features":["macros"],"optional":false,"default_features":true,"target":null,"kind":"dev","package":"tokio"}],' +
    '"cksum":"CKSUM","features":{},"yanked":false}'],
  ['targets.toml', 'target-demo-0.1.0',
    '{"name":"target-demo","vers":"0.1.0","deps":[{"name":"cc","req":"^1","features":[],"optional":false,"default_features":true,"target":"cfg(any(target_os = \\"linux\\", target_os = \\"android\\"))","kind":"build"},' +
    '{"name":"cfg-if","req":"^1.0","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"},' +
    '{"name":"libc","req":"^0.2.139","features":[],"optional":false,"default_features":false,"target":"cfg(unix)","kind":"normal"},' +
    '{"name":"wasm-bindgen-test","req":"^0.3","features":[],"optional":false,"default_features":true,"target":"cfg(target_arch = \\"wasm32\\")","kind":"dev"},' +
    '{"name":"winapi","req":"^0.3","features":["winbase","fileapi"],"optional":false,"default_features":true,"target":"cfg(windows)","kind":"normal"},' +
    '{"name":"winapi","req":"^0.3.9","features":[],"optional":true,"default_features":true,"target":"x86_64-pc-windows-gnu","kind":"normal"}],' +
    '"cksum":"CKSUM","features":{},"yanked":false}'],
  // Same name twice (normal and dev `log`): crates.io's Ord puts normal first.
  ['build-dev.toml', 'kinds-demo-0.9.0-rc.1',
    '{"name":"kinds-demo","vers":"0.9.0-rc.1","deps":[{"name":"cc","req":"^1.0.28","features":["parallel"],"optional":false,"default_features":true,"target":null,"kind":"build"},' +
    '{"name":"log","req":"^0.4","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"},' +
    '{"name":"log","req":"^0.4.17","features":["std"],"optional":false,"default_features":true,"target":null,"kind":"dev"},' +
    '{"name":"pkg-config","req":"^0.3.9","features":[],"optional":false,"default_features":true,"target":null,"kind":"build"},' +
    '{"name":"quickcheck","req":"^1","features":[],"optional":false,"default_features":false,"target":null,"kind":"dev"}],' +
    '"cksum":"CKSUM","features":{},"yanked":false}'],
  ['links.toml', 'libz-demo-sys-1.1.8',
    '{"name":"libz-demo-sys","vers":"1.1.8","deps":[{"name":"cc","req":"^1.0.18","features":[],"optional":false,"default_features":true,"target":null,"kind":"build"},' +
    '{"name":"libc","req":"^0.2.43","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"},' +
    '{"name":"pkg-config","req":"^0.3.9","features":[],"optional":true,"default_features":true,"target":null,"kind":"build"}],' +
    '"cksum":"CKSUM","features":{"default":["libc"],"static":[]},"yanked":false,"links":"z","rust_version":"1.63"}'],
  ['other-registry.toml', 'alt-demo-0.1.0',
    '{"name":"alt-demo","vers":"0.1.0","deps":[{"name":"company-utils","req":"^3.1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":"sparse+https://crates.internal.example/index/"},' +
    '{"name":"renamed-helper","req":"^0.2","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":"sparse+https://crates.internal.example/index/","package":"company-helper"},' +
    '{"name":"serde","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}],' +
    '"cksum":"CKSUM","features":{},"yanked":false}'],
  ['legacy-project.toml', 'Legacy_Demo-0.0.1',
    '{"name":"Legacy_Demo","vers":"0.0.1","deps":[{"name":"oldstyle","req":"1.0 || 2.0","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"},' +
    '{"name":"rustc-serialize","req":">=0.3, <0.4","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"},' +
    '{"name":"time","req":"0.1.*","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}],' +
    '"cksum":"CKSUM","features":{},"yanked":false}']
]

for (const [file, top, expected] of cases) {
  test(`index line for fixture ${file}`, async () => {
    const { dir, cleanup } = await tempDir()
    try {
      const crate = join(dir, `${top}.crate`)
      await writeCrate(crate, top, await readFile(join(FIXTURES, file), 'utf8'), { 'src/lib.rs': '' })
      const info = await readCrateFile(crate)
      const cksum = await sha256File(crate)
      assert.equal(info.sha256, cksum)
      assert.equal(serializeIndexEntry(info.entry), expected.replace('CKSUM', cksum))
      assert.equal(`${info.name}-${info.vers}`, top)
    } finally {
      await cleanup()
    }
  })
}

test('manifests that are not normalized or not a single package are refused', () => {
  const refused = [
    ['[workspace]\nmembers = ["a"]\n', /no \[package\]/],
    [manifestOf('x', '1.0.0', '[dependencies]\ny = { workspace = true }\n'), /workspace = true/],
    [manifestOf('x', '1.0.0', '[dependencies]\ny = { version = "1", registry = "mine" }\n'), /registry-index/],
    [manifestOf('x', '1.0.0', '[dependencies]\ny = { version = "1", default-features = false, default_features = false }\n'), /both/],
    [manifestOf('x', '1.0.0', '[dev-dependencies]\ny = "1"\n[dev_dependencies]\nz = "1"\n'), /both/],
    [manifestOf('x', '1.0.0', '[dependencies]\ny = 1\n'), /neither/],
    [manifestOf('x', '1.0.0', '[dependencies]\ny = { version = "1", optional = "yes" }\n'), /optional/],
    [manifestOf('x', '1.0.0', '[features]\nf = "g"\n'), /feature "f"/],
    [manifestOf('1x', '1.0.0'), /crate name/],
    [manifestOf('x', '1.0'), /semver/],
    ['[package]\nname = "x"\nversion = { workspace = true }\n', /workspace/]
  ] as const
  for (const [text, message] of refused) {
    assert.throws(() => manifestEntry(parseManifest(text, 'm'), 'm'), (err: Error) => err.name === 'BundleInputError' && message.test(err.message), text)
  }
  assert.throws(() => parseManifest('[package\nname=', 'm'), { name: 'BundleInputError' })
})
