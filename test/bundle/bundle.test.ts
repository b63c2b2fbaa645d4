import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { cp, readdir, readFile, rm, truncate, writeFile, copyFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { createBundle } from '../../src/bundle/create.ts'
import { exportDelta } from '../../src/bundle/export.ts'
import { importBundle } from '../../src/bundle/import.ts'
import { verifyBundle } from '../../src/bundle/verify.ts'
import { Repo } from '../../src/node/repo.ts'
import { readKeyFile } from '../../src/trust/keys.ts'
import { cidFromSha256Hex, sha256Hex } from '../../src/store/cid.ts'
import { newKey, snapshot, tempDir, trustIn, writeCrates } from '../utils/home.ts'
import { flipByte, readEntries, writeEntries } from '../utils/tar-edit.ts'

let dir: string
let cleanup: () => Promise<void>
let publisher: string
const file = (name: string): string => join(dir, name)

/** Build a bundle in the publisher's home `pub`. */
async function build (pubHome: string, out: string, options: { crates: string, base?: string, keyFile?: string }): Promise<void> {
  const repo = await Repo.open(pubHome)
  try {
    await createBundle(repo, { key: await readKeyFile(options.keyFile ?? file('pub.key')), out, crates: options.crates, base: options.base })
  } finally {
    await repo.close()
  }
}

async function withRepo<T> (home: string, fn: (repo: Repo) => Promise<T>): Promise<T> {
  const repo = await Repo.open(home)
  try { return await fn(repo) } finally { await repo.close() }
}

/** Import must fail with `name`, leaving `home` exactly as it was. */
async function assertRefused (home: string, bundle: string, name: string): Promise<void> {
  const before = await snapshot(home)
  await assert.rejects(withRepo(home, async repo => await importBundle(repo, bundle)), { name })
  assert.deepEqual(await snapshot(home), before, `store changed after a refused import (${name})`)
}

before(async () => {
  ({ dir, cleanup } = await tempDir())
  publisher = (await newKey(file('pub.key'))).publisher
  await newKey(file('stranger.key'))
  await writeCrates(file('crates1'), 'alpha', 4, 2000)
  await writeCrates(file('crates2'), 'beta', 3, 2000)
  await writeCrates(file('crates3'), 'gamma', 2, 2000)
  await build(file('pub'), file('b1.mmb'), { crates: file('crates1') })
  await cp(file('pub'), file('pub-fork'), { recursive: true })
  await build(file('pub'), file('b2.mmb'), { crates: file('crates2'), base: file('b1.mmb') })
  await build(file('pub-fork'), file('b2-fork.mmb'), { crates: file('crates3'), base: '1' })
  await build(file('stranger'), file('stranger.mmb'), { crates: file('crates1'), keyFile: file('stranger.key') })
})
after(async () => await cleanup())

test('a full bundle verifies offline and imports; index lines match the crate files', async () => {
  const report = await verifyBundle(file('b1.mmb'))
  assert.equal(report.seq, 1)
  assert.equal(report.publisher, publisher)
  assert.equal(report.base, null)
  assert.equal(report.blobs, 5, '4 crates + 1 index file')
  const home = file('seed')
  await trustIn(home, publisher)
  const result = await withRepo(home, async repo => await importBundle(repo, file('b1.mmb')))
  assert.equal(result.verdict, 'adopt')
  assert.equal(result.seq, 1)
  await withRepo(home, async repo => {
    const index = await repo.lookup('cargo/index/al/ph/alpha')
    assert.ok(index)
    const lines = Buffer.from(await repo.blobs.read(index.entry.cid)).toString('utf8').trim().split('\n').map(l => JSON.parse(l) as { vers: string, cksum: string })
    assert.deepEqual(lines.map(l => l.vers), ['1.0.0', '1.0.1', '1.0.2', '1.0.3'])
    for (const line of lines) {
      const crate = await repo.lookup(`cargo/crates/alpha/${line.vers}`)
      assert.ok(crate)
      assert.equal(sha256Hex(crate.entry.cid), line.cksum)
      const bytes = await readFile(file(`crates1/alpha-${line.vers}.crate`))
      assert.equal((await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'), line.cksum)
    }
  })
  // The same bundle again changes nothing but the audit log.
  const again = await withRepo(home, async repo => await importBundle(repo, file('b1.mmb')))
  assert.equal(again.verdict, 'same')
  assert.equal(again.alreadyHeld, 5)
})

test('a delta carries only what the base lacks, and imports on top of it', async () => {
  const delta = await verifyBundle(file('b2.mmb'))
  assert.equal(delta.seq, 2)
  assert.ok(delta.base !== null)
  assert.equal(delta.blobs, 4, '3 new crates + 1 new index file, none of seq 1')
  assert.ok(delta.externalNodes > 0, 'unchanged subtrees are left to the base')
  assert.ok((await stat(file('b2.mmb'))).size < (await stat(file('b1.mmb'))).size * 1.2)
  const home = file('seed')
  const result = await withRepo(home, async repo => await importBundle(repo, file('b2.mmb')))
  assert.equal(result.previousSeq, 1)
  await withRepo(home, async repo => {
    assert.ok(await repo.lookup('cargo/crates/alpha/1.0.0'), 'seq 1 content is kept')
    assert.ok(await repo.lookup('cargo/crates/beta/1.0.2'))
    assert.equal((await repo.head(publisher))?.seq, 2)
  })
})

test('a delta whose base this node lacks is refused with advice, store unchanged', async () => {
  const home = file('fresh')
  await trustIn(home, publisher)
  await assertRefused(home, file('b2.mmb'), 'BundleFormatError')
})

test('rollback, fork and unknown keys are refused, store unchanged', async () => {
  const home = file('seed')
  await assertRefused(home, file('b1.mmb').replace('b1', 'b1'), 'RollbackError')
  await assertRefused(home, file('b2-fork.mmb'), 'ForkError')
  await assertRefused(home, file('stranger.mmb'), 'UntrustedKeyError')
  const forks = await withRepo(home, async repo => { const out = []; for await (const f of repo.db.forks.values()) out.push(f); return out })
  assert.equal(forks.length, 1, 'the fork is recorded')
})

test('one flipped byte in a blob is refused, store unchanged', async () => {
  const home = file('tamper')
  await trustIn(home, publisher)
  const bytes = await readFile(file('b1.mmb'))
  const crate = await readFile(file('crates1/alpha-1.0.2.crate'))
  const at = bytes.indexOf(crate)
  assert.ok(at > 0)
  flipByte(bytes, at + Math.floor(crate.length / 2))
  await writeFile(file('tampered.mmb'), bytes)
  await assert.rejects(verifyBundle(file('tampered.mmb')), { name: 'IntegrityError' })
  await assertRefused(home, file('tampered.mmb'), 'IntegrityError')
})

test('a bundle truncated anywhere is refused, store unchanged', async () => {
  const home = file('trunc')
  await trustIn(home, publisher)
  const size = (await stat(file('b1.mmb'))).size
  for (const at of [0, 100, 512, 1500, Math.floor(size / 3), Math.floor(size / 2), size - 2048, size - 1]) {
    await copyFile(file('b1.mmb'), file('cut.mmb'))
    await truncate(file('cut.mmb'), at)
    await assert.rejects(verifyBundle(file('cut.mmb')), (err: Error) => ['BundleFormatError', 'IntegrityError'].includes(err.name), `cut at ${at}`)
    const before = await snapshot(home)
    await assert.rejects(withRepo(home, async repo => await importBundle(repo, file('cut.mmb'))), (err: Error) => ['BundleFormatError', 'IntegrityError'].includes(err.name))
    assert.deepEqual(await snapshot(home), before, `store changed after truncation at ${at}`)
  }
})

test('a bad signature, path traversal, links, stray and unreferenced entries are refused', async () => {
  const home = file('hostile')
  await trustIn(home, publisher)
  const entries = await readEntries(file('b1.mmb'))
  const manifest = JSON.parse(entries[0]!.body.toString()) as { head: string }
  const head = Buffer.from(manifest.head, 'base64')
  flipByte(head, head.length - 3, 0x40) // inside the signature
  const badSig = entries.map((e, i) => i === 0 ? { ...e, body: Buffer.from(JSON.stringify({ ...manifest, head: head.toString('base64') })) } : e)
  await writeEntries(file('badsig.mmb'), badSig)
  await assertRefused(home, file('badsig.mmb'), 'SignatureError')

  const cases: Array<[string, typeof entries]> = [
    ['traversal', [...entries.slice(0, 2), { name: '../evil', type: 'file', body: Buffer.from('x') }, ...entries.slice(2)]],
    ['nested traversal', [...entries.slice(0, 2), { name: 'blobs/../../evil', type: 'file', body: Buffer.from('x') }, ...entries.slice(2)]],
    ['absolute', [...entries.slice(0, 2), { name: '/etc/passwd', type: 'file', body: Buffer.from('x') }, ...entries.slice(2)]],
    ['symlink', [...entries.slice(0, 2), { name: 'blobs/link', type: 'symlink', body: Buffer.alloc(0) }, ...entries.slice(2)]],
    ['no manifest first', entries.slice(1)],
    ['unreferenced blob', [...entries, { name: 'blobs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', type: 'file', body: Buffer.from('hello world') }]],
    ['unreferenced node', [entries[0]!, ...entries.slice(2, 3), ...entries.slice(1, 2), ...entries.slice(3)]]
  ]
  for (const [label, list] of cases) {
    await writeEntries(file(`${label}.mmb`), list)
    await assert.rejects(verifyBundle(file(`${label}.mmb`)), { name: 'BundleFormatError' }, label)
    await assertRefused(home, file(`${label}.mmb`), 'BundleFormatError')
  }
  // Metadata entries really are gzipped in the file.
  const meta = entries.find(e => e.name.endsWith('.gz'))
  assert.ok(meta)
  assert.match(gunzipSync(meta.body).toString(), /"name":"alpha"/)
})

test('export --since gives a delta another node can import; 0 gives everything', async () => {
  const home = file('seed')
  await withRepo(home, async repo => {
    const delta = await exportDelta(repo, { since: 1, out: file('export-1.mmb') })
    assert.equal(delta.seq, 2)
    assert.equal(delta.notCarried, 0)
    const full = await exportDelta(repo, { since: 0, out: file('export-0.mmb') })
    assert.equal(full.blobs, 4 + 1 + 3 + 1, 'all crates and both index files')
    await assert.rejects(exportDelta(repo, { since: 2, out: file('x.mmb') }), { name: 'UsageError' })
  })
  const other = file('other')
  await trustIn(other, publisher)
  await withRepo(other, async repo => {
    await importBundle(repo, file('b1.mmb'))
    const r = await importBundle(repo, file('export-1.mmb'))
    assert.equal(r.seq, 2)
  })
  assert.deepEqual((await snapshot(other)).blobs, (await snapshot(home)).blobs)
  const third = file('third')
  await trustIn(third, publisher)
  await withRepo(third, async repo => { await importBundle(repo, file('export-0.mmb')) })
  assert.deepEqual((await snapshot(third)).blobs, (await snapshot(home)).blobs)
})

test('moves that fail after the commit keep the staged blobs; the next open finishes them', async () => {
  const home = file('eio')
  await trustIn(home, publisher)
  const crate = join(file('crates1'), (await readdir(file('crates1'))).find(name => name.endsWith('.crate')) as string)
  const hex = createHash('sha256').update(await readFile(crate)).digest('hex')
  const shard = await withRepo(home, async repo => join(repo.blobs.root, hex.slice(0, 2)))
  // A file where the blob's shard directory must go: the rename into place fails (as on EIO).
  await writeFile(shard, 'in the way')
  await assert.rejects(withRepo(home, async repo => await importBundle(repo, file('b1.mmb'))), (err: Error) => {
    assert.equal(err.name, 'MirrormeshError')
    assert.match(err.message, /the import is committed, but moving its blobs into the store failed .*finishes the moves when it next opens this home/)
    return true
  })
  await rm(shard)
  await withRepo(home, async repo => {
    assert.equal((await repo.head(publisher))?.seq, 1, 'the head stayed adopted')
    assert.equal(await repo.blobs.has(cidFromSha256Hex(hex)), true, 'recovery moved the staged blob into place')
    assert.deepEqual(await repo.blobs.stagingDirs(), [], 'and cleaned up')
    for await (const { hex: held } of repo.blobs.list()) assert.equal(createHash('sha256').update(await readFile(repo.blobs.path(cidFromSha256Hex(held)))).digest('hex'), held)
  })
})
