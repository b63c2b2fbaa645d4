import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { readCrateFile } from '../../src/cargo/crate-file.ts'
import type { TarEntry } from '../utils/cargo-fixtures.ts'
import { manifestOf, sha256File, tarGz, tempDir } from '../utils/cargo-fixtures.ts'

const MANIFEST = manifestOf('demo', '1.0.0')

async function withCrate (bytes: Uint8Array, check: (file: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir()
  try {
    const file = join(dir, 'demo-1.0.0.crate')
    await writeFile(file, bytes)
    await check(file)
  } finally {
    await cleanup()
  }
}

async function rejects (bytes: Uint8Array, message: RegExp): Promise<void> {
  await withCrate(bytes, async (file) => {
    await assert.rejects(readCrateFile(file), (err: Error) => {
      assert.equal(err.name, 'BundleInputError')
      assert.match(err.message, message)
      assert.ok(err.message.includes(file), 'the message names the file')
      return true
    })
  })
}

test('a well-formed crate: name, version, sha256 of the file, entry; directory entries allowed', async () => {
  const bytes = await tarGz([
    { name: 'demo-1.0.0/', type: 'directory' },
    { name: 'demo-1.0.0/src/lib.rs', content: 'pub fn f() {}' },
    { name: 'demo-1.0.0/Cargo.toml', content: MANIFEST },
    { name: 'demo-1.0.0/Cargo.toml.orig', content: 'junk' }
  ])
  await withCrate(bytes, async (file) => {
    const info = await readCrateFile(file)
    assert.equal(info.name, 'demo')
    assert.equal(info.vers, '1.0.0')
    assert.equal(info.sha256, await sha256File(file))
    assert.equal(info.size, bytes.length)
    assert.equal(info.entry.cksum, info.sha256)
    assert.equal(info.manifest, MANIFEST)
  })
})

test('the deprecated lowercase cargo.toml is accepted, as crates.io does', async () => {
  await withCrate(await tarGz([{ name: 'demo-1.0.0/cargo.toml', content: MANIFEST }]), async (file) => {
    assert.equal((await readCrateFile(file)).vers, '1.0.0')
  })
})

test('corrupt, truncated or non-gzip data is a BundleInputError', async () => {
  const good = await tarGz([{ name: 'demo-1.0.0/Cargo.toml', content: MANIFEST }])
  const flipped = Buffer.from(good)
  flipped[20] = (flipped[20] ?? 0) ^ 0xff
  await rejects(flipped, /not a readable \.crate/)
  await rejects(good.subarray(0, good.length - 12), /not a readable \.crate/)
  await rejects(Buffer.from('this is not gzip at all'), /not a readable \.crate/)
  await rejects(gzipSync(Buffer.alloc(1024, 7)), /not a readable \.crate/)
  await rejects(Buffer.alloc(0), /not a readable \.crate|no .*Cargo\.toml/)
})

test('a crate without a root Cargo.toml is refused', async () => {
  await rejects(await tarGz([{ name: 'demo-1.0.0/src/lib.rs', content: '' }]), /no demo-1\.0\.0\/Cargo\.toml/)
  await rejects(await tarGz([{ name: 'demo-1.0.0/sub/Cargo.toml', content: MANIFEST }]), /no demo-1\.0\.0\/Cargo\.toml/)
  await rejects(gzipSync(Buffer.alloc(1024)), /no \{name\}-\{version\}\/Cargo\.toml/) // an empty tar
})

test('the top directory must be {name}-{version} of the manifest', async () => {
  await rejects(await tarGz([{ name: 'demo-1.0.1/Cargo.toml', content: MANIFEST }]), /"demo-1\.0\.1".*expected "demo-1\.0\.0"/)
  await rejects(await tarGz([{ name: 'Demo-1.0.0/Cargo.toml', content: MANIFEST }]), /expected "demo-1\.0\.0"/)
  await rejects(await tarGz([
    { name: 'demo-1.0.0/Cargo.toml', content: MANIFEST },
    { name: 'other-1.0.0/src/lib.rs', content: '' }
  ]), /"other-1\.0\.0\/src\/lib\.rs" is not under "demo-1\.0\.0\/"/)
  await rejects(await tarGz([{ name: 'Cargo.toml', content: MANIFEST }]), /not under/)
  await rejects(await tarGz([{ name: './demo-1.0.0/Cargo.toml', content: MANIFEST }]), /expected "demo-1\.0\.0"|not under/)
})

test('path traversal, absolute paths and links are refused', async () => {
  const withManifest = (bad: TarEntry): TarEntry[] => [{ name: 'demo-1.0.0/Cargo.toml', content: MANIFEST }, bad]
  await rejects(await tarGz(withManifest({ name: 'demo-1.0.0/../../etc/passwd', content: 'x' })), /escapes/)
  await rejects(await tarGz(withManifest({ name: '/etc/passwd', content: 'x' })), /escapes/)
  await rejects(await tarGz([{ name: '../demo-1.0.0/Cargo.toml', content: MANIFEST }]), /escapes/)
  await rejects(await tarGz(withManifest({ name: 'demo-1.0.0/link', type: 'symlink', linkname: '/etc/passwd' })), /link/)
  await rejects(await tarGz(withManifest({ name: 'demo-1.0.0/hard', type: 'link', linkname: 'demo-1.0.0/Cargo.toml' })), /link/)
})

test('two manifests, or a wrongly cased one, are refused (crates.io process_tarball)', async () => {
  await rejects(await tarGz([
    { name: 'demo-1.0.0/Cargo.toml', content: MANIFEST },
    { name: 'demo-1.0.0/cargo.toml', content: MANIFEST }
  ]), /more than one Cargo\.toml/)
  await rejects(await tarGz([{ name: 'demo-1.0.0/CARGO.TOML', content: MANIFEST }]), /spelled "CARGO\.TOML"/)
})

test('a manifest that is not UTF-8 or not TOML is refused', async () => {
  await rejects(await tarGz([{ name: 'demo-1.0.0/Cargo.toml', content: Buffer.from([0x5b, 0xff, 0xfe, 0x5d]) }]), /UTF-8/)
  await rejects(await tarGz([{ name: 'demo-1.0.0/Cargo.toml', content: '[package\nname = ' }]), /not valid TOML/)
})

test('a missing file is reported as such, not as a bad crate', async () => {
  await assert.rejects(readCrateFile('/nonexistent/demo-1.0.0.crate'), { code: 'ENOENT' })
})

test('an aborted read stops with the abort reason', async () => {
  await withCrate(await tarGz([{ name: 'demo-1.0.0/Cargo.toml', content: MANIFEST }]), async (file) => {
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await assert.rejects(readCrateFile(file, { signal: controller.signal }), /stop|abort/i)
  })
})
