/**
 * Mesh fault tests, real processes on loopback: a peer serving tampered bytes, a peer killed
 * mid-transfer, a node offline during two imports, heads from an untrusted publisher, and a
 * non-member without the swarm key.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cli } from '../utils/cli.ts'
import { manifestOf, tarGz } from '../utils/cargo-fixtures.ts'
import { startNode, seqOf, status, trust, waitFor, type FleetNode } from '../utils/fleet.ts'
import { newKey, tempDir, writeCrates } from '../utils/home.ts'
import { CHUNK_SIZE } from '../../src/store/hash.ts'

let dir: string
let cleanup: () => Promise<void>
let publisher: string
let stranger: string
const running: FleetNode[] = []
const f = (name: string): string => join(dir, name)
const bigSha: Record<string, string> = {}

/** A crate of incompressible bytes, so the blob really is `mib` MiB. */
async function bigCrate (out: string, name: string, mib: number): Promise<void> {
  const bytes = await tarGz([
    { name: `${name}-1.0.0/Cargo.toml`, content: manifestOf(name, '1.0.0') },
    { name: `${name}-1.0.0/data.bin`, content: randomBytes(mib << 20) }
  ])
  await mkdir(join(out, '..'), { recursive: true })
  await writeFile(out, bytes)
  bigSha[name] = createHash('sha256').update(bytes).digest('hex')
}

async function create (out: string, crates: string, base?: string, key = 'pub.key', home = 'publisher'): Promise<void> {
  const r = await cli(['--home', f(home), 'bundle', 'create', '--key', f(key), '--crates', f(crates), '--out', f(out), ...(base === undefined ? [] : ['--base', f(base)])])
  assert.equal(r.code, 0, r.stderr)
}

async function node (name: string, extra: string[] = []): Promise<FleetNode> {
  const n = await startNode(f(name), extra)
  running.push(n)
  return n
}

/** GET a crate through a gateway; `cut`: the connection was aborted mid-body. */
async function download (n: FleetNode, crate: string): Promise<{ status: number, sha: string, cut: boolean }> {
  const res = await fetch(`${n.gateway}/cargo/crates/${crate}/1.0.0/download`)
  try {
    return { status: res.status, sha: createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'), cut: false }
  } catch {
    return { status: res.status, sha: '', cut: true }
  }
}

/** Flip one byte in every chunk of the blob file a node holds (it then serves bad bytes). */
async function corruptHeldBlob (home: string, sha: string): Promise<void> {
  const file = join(home, 'blobs', sha.slice(0, 2), sha.slice(2, 4), sha)
  const handle = await open(file, 'r+')
  try {
    const { size } = await handle.stat()
    for (let at = 1000; at < size; at += CHUNK_SIZE) {
      const byte = Buffer.alloc(1)
      await handle.read(byte, 0, 1, at)
      byte[0] = (byte[0] ?? 0) ^ 0xff
      await handle.write(byte, 0, 1, at)
    }
  } finally {
    await handle.close()
  }
}

before(async () => {
  ({ dir, cleanup } = await tempDir('mirrormesh-faults-'))
  publisher = (await newKey(f('pub.key'))).publisher
  stranger = (await newKey(f('stranger.key'))).publisher
  await bigCrate(f('c1/bigone-1.0.0.crate'), 'bigone', 24)
  await bigCrate(f('c1/bigtwo-1.0.0.crate'), 'bigtwo', 48)
  await writeCrates(f('c1'), 'small', 2)
  await writeCrates(f('c2'), 'later', 1)
  await writeCrates(f('c3'), 'latest', 1)
  await writeCrates(f('s1'), 'strange', 1)
  await create('b1.mmb', 'c1')
  await create('b2.mmb', 'c2', 'b1.mmb')
  await create('b3.mmb', 'c3', 'b2.mmb')
  await create('s1.mmb', 's1', undefined, 'stranger.key', 'stranger-home')
})

after(async () => {
  await Promise.all(running.map(async n => await n.stop().catch(() => null)))
  await cleanup()
})

test('bad bytes from one peer: it is dropped, the fetch completes from another; a peer killed mid-transfer is routed around', async () => {
  for (const name of ['seed', 'good', 'bad', 'lazy']) await trust(f(name), publisher)
  assert.equal((await cli(['--home', f('seed'), 'import', f('b1.mmb')])).code, 0)
  const seed = await node('seed')
  const boot = ['--bootstrap', seed.addrs[0] ?? '']
  const good = await node('good', [...boot, '--replicate', 'full'])
  const bad = await node('bad', [...boot, '--replicate', 'full'])
  await waitFor('both replicas', async () => (await Promise.all([good, bad].map(status))).every(s => s.replication.held === 4 && s.replication.wanted === 4), 180_000)
  await seed.stop() // from here on the replicas are the only sources
  await corruptHeldBlob(f('bad'), bigSha.bigone ?? '')
  const lazy = await node('lazy', ['--bootstrap', good.addrs[0] ?? '', '--bootstrap', bad.addrs[0] ?? ''])
  await waitFor('the lazy peer to adopt the head', async () => await seqOf(lazy, publisher) === 1)
  await waitFor('the lazy peer to see both replicas', async () => (await status(lazy)).peers.length >= 2)
  // The gateway passes bytes on as they arrive: if some came from the bad peer, the client's
  // connection is cut (never a whole body with a wrong byte) and, like cargo, it tries again.
  let got = await download(lazy, 'bigone')
  for (let retry = 0; got.cut && retry < 3; retry++) got = await download(lazy, 'bigone')
  assert.equal(got.status, 200)
  assert.equal(got.cut, false)
  assert.equal(got.sha, bigSha.bigone, 'the client received exactly the upstream bytes')
  assert.ok((await status(lazy)).badPeersDropped >= 1, 'the peer that sent bad bytes was dropped')

  // A third replica joins; kill one replica while the 48 MiB blob is in flight: the download
  // completes from the other (the bad peer stays avoided).
  await trust(f('good2'), publisher)
  const good2 = await node('good2', ['--bootstrap', good.addrs[0] ?? '', '--bootstrap', lazy.addrs[0] ?? '', '--replicate', 'full'])
  await waitFor('the third replica', async () => (await status(good2)).replication.held === 4, 180_000)
  await waitFor('the lazy peer to be connected to it', async () => ((await status(lazy)).peers as string[]).includes(good2.peerId))
  const res = await fetch(`${lazy.gateway}/cargo/crates/bigtwo/1.0.0/download`)
  assert.equal(res.status, 200)
  const reader = res.body!.getReader()
  const hash = createHash('sha256')
  const first = await reader.read()
  hash.update(first.value ?? new Uint8Array())
  good.kill()
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) hash.update(chunk.value)
  assert.equal(hash.digest('hex'), bigSha.bigtwo)
})

test('a node offline during two imports catches up when it reconnects', async () => {
  for (const name of ['seed2', 'sleeper']) await trust(f(name), publisher)
  assert.equal((await cli(['--home', f('seed2'), 'import', f('b1.mmb')])).code, 0)
  const seed = await node('seed2')
  const boot = ['--bootstrap', seed.addrs[0] ?? '']
  let sleeper = await node('sleeper', boot)
  await waitFor('seq 1', async () => await seqOf(sleeper, publisher) === 1)
  await sleeper.stop()
  for (const b of ['b2.mmb', 'b3.mmb']) assert.equal((await cli(['--home', f('seed2'), 'import', f(b)])).code, 0)
  sleeper = await node('sleeper', boot)
  await waitFor('the sleeper to catch up to seq 3', async () => await seqOf(sleeper, publisher) === 3)
  for (const crate of ['later', 'latest', 'small']) assert.equal((await fetch(`${sleeper.gateway}/cargo/index/${crate.length > 3 ? `${crate.slice(0, 2)}/${crate.slice(2, 4)}` : '3/' + crate[0]}/${crate}`)).status, 200, crate)
  await sleeper.stop()
  const audit = await cli(['--home', f('sleeper'), '--json', 'audit'])
  assert.deepEqual((audit.json as Array<{ event: string, seq: number }>).filter(e => e.event === 'adopt-head').map(e => e.seq), [1, 3])
})

test('heads of an untrusted publisher are refused; a node without the swarm key cannot join', async () => {
  // The seed trusts both publishers; the peer trusts only one.
  for (const p of [publisher, stranger]) await trust(f('seed3'), p)
  await trust(f('picky'), publisher)
  for (const b of ['b1.mmb', 's1.mmb']) assert.equal((await cli(['--home', f('seed3'), 'import', f(b)])).code, 0)
  const seed = await node('seed3')
  const picky = await node('picky', ['--bootstrap', seed.addrs[0] ?? ''])
  await waitFor('the trusted head', async () => await seqOf(picky, publisher) === 1)
  await new Promise(resolve => setTimeout(resolve, 1500))
  const s = await status(picky)
  assert.deepEqual((s.publishers as Array<{ publisher: string }>).map(p => p.publisher), [publisher], 'only the trusted publisher is followed')
  assert.equal((await fetch(`${picky.gateway}/cargo/index/st/ra/strange`)).status, 404)

  // Private mesh.
  assert.equal((await cli(['key', 'swarm', '--out', f('swarm.key')])).code, 0)
  for (const name of ['pseed', 'member', 'outsider']) await trust(f(name), publisher)
  assert.equal((await cli(['--home', f('pseed'), 'import', f('b1.mmb')])).code, 0)
  const pseed = await node('pseed', ['--swarm-key', f('swarm.key')])
  const member = await node('member', ['--swarm-key', f('swarm.key'), '--bootstrap', pseed.addrs[0] ?? ''])
  const outsider = await node('outsider', ['--bootstrap', pseed.addrs[0] ?? ''])
  await waitFor('the member to adopt the head', async () => await seqOf(member, publisher) === 1)
  assert.equal((await download(member, 'small')).status, 200, 'members fetch from each other')
  await new Promise(resolve => setTimeout(resolve, 2000))
  const o = await status(outsider)
  assert.equal(o.peers.length, 0, 'the outsider has no connection')
  assert.equal(await seqOf(outsider, publisher), null, 'the outsider learned no head')
  assert.equal((await readdir(join(f('outsider'), 'blobs'))).filter(n => /^[0-9a-f]{2}$/.test(n)).length, 0, 'and holds no blob')
})
