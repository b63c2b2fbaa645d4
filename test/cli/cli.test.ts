/** The real `mirrormesh` binary on temp homes: every command, --json, exit codes, and the serving-node path. */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { access, copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { Repo } from '../../src/node/repo.ts'
import { cidFromSha256Hex } from '../../src/store/cid.ts'
import { cli, startServe } from '../utils/cli.ts'
import { tempDir, writeCrates } from '../utils/home.ts'

let dir: string
let cleanup: () => Promise<void>
let publisher: string
const f = (name: string): string => join(dir, name)

before(async () => {
  ({ dir, cleanup } = await tempDir('mirrormesh-cli-'))
  await writeCrates(f('crates'), 'clitest', 3)
  await writeCrates(f('crates2'), 'second', 2)
})
after(async () => await cleanup())

test('--help works on every command', async () => {
  const commands = [[], ['serve'], ['key'], ['key', 'new'], ['key', 'trust'], ['key', 'list'], ['key', 'untrust'], ['key', 'swarm'], ['bundle'], ['bundle', 'create'], ['bundle', 'verify'], ['import'], ['export'], ['status'], ['gc'], ['fsck'], ['audit'], ['setup']]
  const results = await Promise.all(commands.map(async args => await cli([...args, '--help'])))
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, `${commands[i]!.join(' ')} --help`)
    assert.match(r.stdout, /Usage: mirrormesh/)
  }
  const bad = await cli(['bogus'])
  assert.equal(bad.code, 2)
})

test('key new, trust, list with --json', async () => {
  const made = await cli(['--json', 'key', 'new', '--out', f('pub.key')])
  assert.equal(made.code, 0, made.stderr)
  publisher = (made.json as { publisher: string }).publisher
  assert.match(publisher, /^ed25519:[0-9a-f]{64}$/)
  assert.equal(((await stat(f('pub.key'))).mode & 0o777), 0o600)
  assert.equal((await cli(['key', 'new', '--out', f('pub.key')])).code, 1, 'never overwrites a key')
  const trusted = await cli(['--home', f('seed'), '--json', 'key', 'trust', f('pub.key'), '--name', 'ci'])
  assert.equal(trusted.code, 0, trusted.stderr)
  assert.equal((trusted.json as { publisher: string }).publisher, publisher)
  const list = await cli(['--home', f('seed'), '--json', 'key', 'list'])
  assert.deepEqual((list.json as Array<{ publisher: string, name: string }>).map(k => [k.publisher, k.name]), [[publisher, 'ci']])
  const bad = await cli(['--home', f('seed'), 'key', 'trust', 'ed25519:nothex'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /not a public key/)
})

test('bundle create, verify, import, status, export, fsck, gc, audit', async () => {
  const created = await cli(['--home', f('pubhome'), '--json', 'bundle', 'create', '--key', f('pub.key'), '--crates', f('crates'), '--out', f('b1.mmb')])
  assert.equal(created.code, 0, created.stderr)
  assert.equal((created.json as { seq: number }).seq, 1)
  const verified = await cli(['--home', f('seed'), '--json', 'bundle', 'verify', f('b1.mmb')])
  assert.equal(verified.code, 0, verified.stderr)
  assert.equal((verified.json as { trusted: boolean }).trusted, true)
  const imported = await cli(['--home', f('seed'), '--json', 'import', f('b1.mmb')])
  assert.equal(imported.code, 0, imported.stderr)
  assert.equal((imported.json as Array<{ seq: number }>)[0]?.seq, 1)
  const status = await cli(['--home', f('seed'), '--json', 'status'])
  const pubs = (status.json as { publishers: Array<{ seq: number, blobFiles: number, blobsHeld: number }> }).publishers
  assert.deepEqual(pubs.map(p => [p.seq, p.blobFiles, p.blobsHeld]), [[1, 3, 3]])
  const created2 = await cli(['--home', f('pubhome'), '--json', 'bundle', 'create', '--key', f('pub.key'), '--crates', f('crates2'), '--base', f('b1.mmb'), '--out', f('b2.mmb')])
  assert.equal(created2.code, 0, created2.stderr)
  assert.equal((await cli(['--home', f('seed'), 'import', f('b2.mmb')])).code, 0)
  const exported = await cli(['--home', f('seed'), '--json', 'export', '--since', '1', '--out', f('e.mmb')])
  assert.equal(exported.code, 0, exported.stderr)
  assert.equal((exported.json as { blobs: number }).blobs, 3, '2 crates and their index file')
  const fsck = await cli(['--home', f('seed'), '--json', 'fsck'])
  assert.equal(fsck.code, 0)
  assert.equal((fsck.json as { blobs: number }).blobs, 7)
  const gc = await cli(['--home', f('seed'), '--json', 'gc'])
  assert.equal((gc.json as { removed: number }).removed, 0, 'everything is referenced')
  const audit = await cli(['--home', f('seed'), '--json', 'audit'])
  assert.deepEqual((audit.json as Array<{ event: string }>).map(e => e.event), ['trust', 'adopt-head', 'import', 'adopt-head', 'import'])
})

test('gc removes unreferenced blobs and the partly fetched files of unreferenced blobs, and nothing else', async () => {
  const home = f('seed')
  const repo = await Repo.open(home)
  const exists = async (file: string): Promise<boolean> => await access(file).then(() => true, () => false)
  let referencedPartial: string, strayPartial: string, stray: string
  try {
    const first = await repo.blobs.list().next()
    assert.equal(first.done, false)
    referencedPartial = repo.blobs.partialPath(cidFromSha256Hex(first.value.hex)) // a referenced blob being fetched again
    strayPartial = repo.blobs.partialPath(cidFromSha256Hex('c'.repeat(64)))
    await writeFile(referencedPartial, Buffer.alloc(1000))
    await writeFile(strayPartial, Buffer.alloc(3000))
    stray = repo.blobs.path((await repo.blobs.put(Readable.from([Buffer.from('referenced by no head')]))).cid)
  } finally {
    await repo.close()
  }
  const dry = await cli(['--home', home, '--json', 'gc', '--dry-run'])
  assert.equal(dry.code, 0, dry.stderr)
  assert.deepEqual(dry.json, { removed: 1, partialsRemoved: 1, freedBytes: 3021, kept: 7, dryRun: true })
  assert.ok(await exists(stray) && await exists(strayPartial), 'a dry run deletes nothing')
  const gc = await cli(['--home', home, 'gc'])
  assert.equal(gc.code, 0, gc.stderr)
  assert.match(gc.stdout, /removed 1 blobs and 1 partly fetched ones \(3\.0 KiB\), kept 7/)
  assert.deepEqual([await exists(stray), await exists(strayPartial), await exists(referencedPartial)], [false, false, true])
  assert.equal((await cli(['--home', home, 'fsck'])).code, 0, 'every referenced blob is intact')
  const audit = await cli(['--home', home, '--json', 'audit'])
  assert.deepEqual((audit.json as Array<Record<string, unknown>>).at(-1), { ...(audit.json as Array<Record<string, unknown>>).at(-1), event: 'gc', removed: 1, partialsRemoved: 1, freedBytes: 3021 })
})

test('import takes bundles oldest first, whatever order they are given in', async () => {
  const home = f('ordered')
  assert.equal((await cli(['--home', home, 'key', 'trust', publisher])).code, 0)
  const r = await cli(['--home', home, '--json', 'import', f('b2.mmb'), f('b1.mmb')])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual((r.json as Array<{ seq: number }>).map(x => x.seq), [1, 2])
})

test('refusals exit 1 with a message that says what is wrong', async () => {
  const r = await cli(['--home', f('seed'), 'import', f('b1.mmb')])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /older than the held head 2: refusing to roll back/)
  const missing = await cli(['--home', f('seed'), 'import', f('nope.mmb')])
  assert.equal(missing.code, 1)
  const json = await cli(['--home', f('seed'), '--json', 'import', f('b1.mmb')])
  assert.equal((json.json as { error: { name: string } }).error.name, 'RollbackError')
})

test('fsck finds a corrupted blob and --repair removes it', async () => {
  await writeCrates(f('crates3'), 'fscktest', 1)
  const home = f('fsckhome')
  assert.equal((await cli(['--home', home, 'key', 'trust', publisher])).code, 0)
  assert.equal((await cli(['--home', home, 'import', f('b1.mmb')])).code, 0)
  const blobsRoot = join(home, 'blobs')
  const shard = (await readdir(blobsRoot)).find(n => /^[0-9a-f]{2}$/.test(n))!
  const sub = (await readdir(join(blobsRoot, shard)))[0]!
  const victim = join(blobsRoot, shard, sub, (await readdir(join(blobsRoot, shard, sub)))[0]!)
  const bytes = await readFile(victim)
  bytes[0] = (bytes[0] ?? 0) ^ 0xff
  await writeFile(victim, bytes)
  const bad = await cli(['--home', home, '--json', 'fsck'])
  assert.equal(bad.code, 3)
  assert.equal((bad.json as { problems: Array<{ kind: string }> }).problems[0]?.kind, 'corrupt-blob')
  const repaired = await cli(['--home', home, '--json', 'fsck', '--repair'])
  assert.equal((repaired.json as { repaired: number }).repaired, 1)
})

test('while serve runs, the CLI goes through it; --watch imports dropped bundles', async () => {
  const home = f('served')
  assert.equal((await cli(['--home', home, 'key', 'trust', publisher])).code, 0)
  await mkdir(f('inbox'))
  const node = await startServe(['--home', home, '--gateway', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-plane', '127.0.0.1:0', '--no-mdns', '--watch', f('inbox')])
  try {
    const status = await cli(['--home', home, '--json', 'status'])
    assert.equal(status.code, 0, status.stderr)
    const imported = await cli(['--home', home, '--json', 'import', f('b1.mmb')])
    assert.equal(imported.code, 0, imported.stderr)
    const index = await fetch(`${node.ready.gateway}/cargo/index/cl/it/clitest`)
    assert.equal(index.status, 200, 'an import through the running node is served at once')
    await copyFile(f('b2.mmb'), f('inbox/b2.mmb'))
    await writeFile(f('inbox/garbage.mmb'), 'not a bundle')
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline && (await readdir(f('inbox/done'))).length + (await readdir(f('inbox/failed'))).length < 3) await new Promise(resolve => setTimeout(resolve, 200))
    assert.deepEqual(await readdir(f('inbox/done')), ['b2.mmb'])
    assert.deepEqual((await readdir(f('inbox/failed'))).sort(), ['garbage.mmb', 'garbage.mmb.reason.txt'])
    assert.match(await readFile(f('inbox/failed/garbage.mmb.reason.txt'), 'utf8'), /BundleFormatError/)
    assert.equal((await fetch(`${node.ready.gateway}/cargo/index/se/co/second`)).status, 200)
  } finally {
    assert.equal(await node.stop(), 0, 'graceful exit')
  }
  // After the node stops, the CLI opens the store itself again.
  const after = await cli(['--home', home, '--json', 'status'])
  assert.equal((after.json as { publishers: Array<{ seq: number }> }).publishers[0]?.seq, 2)
})
