/**
 * Disconnected sites, sneakernet (real processes on loopback). Site A: the seed and a full
 * replica. Site B: three full replicas that only know each other, at seq 1. Three bundles land at
 * the seed; site B learns nothing. A node of site A (not the seed) exports what B lacks
 * (`export --since 1`), one node of B imports it, and B's other nodes converge over their LAN.
 * Then: nothing held was lost, every adopted head is in the audit logs, and an older bundle
 * carried in later is refused while the gateway keeps serving the newer catalog.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { cli } from '../utils/cli.ts'
import { status, waitFor, type FleetNode } from '../utils/fleet.ts'
import { tempDir } from '../utils/home.ts'
import { adoptedSeqs, assertAuditTrail, assertHolds, audit, blobSet, headOf, homes, indexPath, makeChain, start, waitConverged, type Chain } from './sites.ts'

let dir: string
let cleanup: () => Promise<void>
let chain: Chain
const running: FleetNode[] = []
const f = (name: string): string => join(dir, name)

before(async () => {
  ({ dir, cleanup } = await tempDir('mirrormesh-sneakernet-'))
  chain = await makeChain(dir, 12)
  await homes(dir, ['seed', 'a1', 'b1', 'b2', 'b3'], chain.publisher)
  // Both sites start at seq 1: the seed imported it, and so did one node of B (a bundle carried earlier).
  for (const home of ['seed', 'b1']) assert.equal((await cli(['--home', f(home), 'import', chain.bundles[0] as string])).code, 0)
})

after(async () => {
  await Promise.all(running.map(async n => await n.stop().catch(() => null)))
  await cleanup()
})

test('sneakernet: a site-A node exports the delta, a site-B node imports it, site B converges over its LAN; stale bundles are refused', async () => {
  const node = async (name: string, boot: FleetNode[]): Promise<FleetNode> => {
    const n = await start(f(name), boot, ['--replicate', 'full'])
    running.push(n)
    return n
  }
  const seed = await node('seed', [])
  const a1 = await node('a1', [seed])
  const b1 = await node('b1', [])
  const b2 = await node('b2', [b1])
  const b3 = await node('b3', [b1, b2])
  const siteB = [b1, b2, b3]
  await waitConverged([a1], chain.publisher, 1, 'site A at seq 1')
  await waitConverged(siteB, chain.publisher, 1, 'site B at seq 1 over its LAN')

  // Three bundles land at the running seed; site A follows, site B (cut off) does not.
  const imported = await cli(['--home', seed.home, 'import', ...chain.bundles.slice(1)])
  assert.equal(imported.code, 0, imported.stderr)
  await waitConverged([a1], chain.publisher, 4, 'site A at seq 4')
  for (const b of siteB) assert.equal((await headOf(b, chain.publisher)).seq, 1, 'site B is cut off: still seq 1')
  assert.ok((await status(b1)).peers.every((p: string) => ![seed.peerId, a1.peerId].includes(p)), 'no connection between the sites')

  // (a) Sneakernet: a1 — any node of A, not the seed — exports what B lacks; b2 imports it.
  const delta = f('delta-since-1.mmb')
  const exported = await cli(['--home', a1.home, '--json', 'export', '--since', '1', '--out', delta])
  assert.equal(exported.code, 0, exported.stderr)
  assert.deepEqual({ seq: (exported.json as { seq: number }).seq, notCarried: (exported.json as { notCarried: number }).notCarried }, { seq: 4, notCarried: 0 })
  const verified = await cli(['--home', b2.home, '--json', 'bundle', 'verify', delta])
  assert.equal(verified.code, 0, `a B node checks the carried bundle offline first: ${verified.stderr}`)
  const into = await cli(['--home', b2.home, '--json', 'import', delta])
  assert.equal(into.code, 0, into.stderr)
  await waitConverged(siteB, chain.publisher, 4, 'site B at seq 4 over its LAN', 90_000)
  const seedHead = (await headOf(seed, chain.publisher)).head
  for (const b of siteB) assert.equal((await headOf(b, chain.publisher)).head, seedHead, 'site B serves exactly the seed\'s head')

  // (c) Nothing held is lost: every B node holds every crate of seqs 1..4, on disk.
  for (const [i, b] of siteB.entries()) await assertHolds(b.home, chain, 4, `b${i + 1}`)
  // Every head adopted is in the audit log: b2 imported seq 4; b1 and b3 adopted it from a peer.
  for (const [i, b] of siteB.entries()) await assertAuditTrail(b, chain.publisher, `b${i + 1}`)
  const b2Log = await audit(b2.home)
  assert.ok(b2Log.some(e => e.event === 'adopt-head' && e.seq === 4 && e.source === 'import'), 'b2 adopted seq 4 by import')
  assert.ok(b2Log.some(e => e.event === 'import' && e.seq === 4 && e.verdict === 'adopt'), 'b2 logged the import')
  for (const b of [b1, b3]) {
    const log = await audit(b.home)
    assert.ok(log.some(e => e.event === 'adopt-head' && e.seq === 4 && (e.source ?? '').startsWith('peer:')), 'seq 4 came over the LAN')
  }

  // A stale site never serves an older head: an old bundle carried in later is refused...
  const before = await blobSet(b1.home)
  const stale = await cli(['--home', b1.home, '--json', 'import', chain.bundles[1] as string])
  assert.notEqual(stale.code, 0, 'importing seq 2 over seq 4 must fail')
  assert.match(stale.stderr + stale.stdout, /RollbackError|older|rollback/i)
  assert.equal((await headOf(b1, chain.publisher)).seq, 4)
  assert.ok(!(await adoptedSeqs(b1.home)).includes(2), 'the refused head is not in the audit log')
  assert.deepEqual(await blobSet(b1.home), before, 'a refused bundle changes nothing on disk')
  // ...and the gateway keeps serving the newer catalog: index files of seq 4 and of seq 1.
  for (const name of ['delta', 'echo', 'alpha']) {
    const res = await fetch(`${b1.gateway}/cargo/index/${indexPath(name)}`)
    assert.equal(res.status, 200, `index of ${name}`)
    await res.arrayBuffer()
  }
  // The same delta imported again anywhere in B is a no-op, not a fork.
  const again = await cli(['--home', b3.home, '--json', 'import', delta])
  assert.equal(again.code, 0, again.stderr)
  await waitFor('b3 still at seq 4', async () => (await headOf(b3, chain.publisher)).seq === 4)
  assert.deepEqual((await status(b3)).forks, [], 'no fork recorded')
})
