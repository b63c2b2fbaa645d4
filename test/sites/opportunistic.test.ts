/**
 * Disconnected sites, opportunistic links (real processes on loopback). Site B (three full
 * replicas at seq 1) is cut off while bundles land at site A. Then a link appears between one node
 * pair only — a1, a full replica of A whose data plane sits behind a 2 MiB/s link, dials b3 — and
 * drops again mid-transfer (a1 is killed). Site B adopts the newest head at once, keeps what it
 * verified, and when the link comes back it finishes the interrupted transfer instead of starting
 * over — also after an outage longer than a download waits for a source (its verified chunks wait
 * in the partial file); site B's other nodes converge over their LAN.
 *
 * The seed is stopped before the link appears, so a1 is the only way into site A; a node's peer
 * store lives in memory, so no B node knows an A address except through the link.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { TokenBucket } from '../../src/util/token-bucket.ts'
import { ThrottleProxy } from '../../simulations/lib/throttle-proxy.ts'
import { cli } from '../utils/cli.ts'
import { status, waitFor, type FleetNode } from '../utils/fleet.ts'
import { tempDir } from '../utils/home.ts'
import { assertAuditTrail, assertHolds, headOf, homes, makeChain, start, waitConverged, type Chain } from './sites.ts'

let dir: string
let cleanup: () => Promise<void>
let chain: Chain
let proxy: ThrottleProxy
const running: FleetNode[] = []
const f = (name: string): string => join(dir, name)
const BIG_MIB = 24
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

before(async () => {
  ({ dir, cleanup } = await tempDir('mirrormesh-opportunistic-'))
  chain = await makeChain(dir, BIG_MIB, true)
  await homes(dir, ['seed', 'a1', 'b1', 'b2', 'b3'], chain.publisher)
  for (const home of ['seed', 'b1']) assert.equal((await cli(['--home', f(home), 'import', chain.bundles[0] as string])).code, 0)
  // a1's uploads cross a 2 MiB/s link: the big crate takes 12 s, long enough to cut the link mid-way.
  proxy = new ThrottleProxy(0, { pids: () => new Map(), link: () => ({ up: new TokenBucket(2 << 20) }), count: () => {} })
  await proxy.listen()
})

after(async () => {
  await Promise.all(running.map(async n => await n.stop().catch(() => null)))
  await proxy.close()
  await cleanup()
})

let seed: FleetNode
let siteB: FleetNode[]

/** Start a1 (site A's full replica) behind the throttled link; `boot` is whom it dials. */
async function startA1 (boot: FleetNode[]): Promise<FleetNode> {
  const a1 = await start(f('a1'), boot, ['--replicate', 'full', '--data-plane', `127.0.0.2:${proxy.port}`])
  running.push(a1)
  return a1
}

/** Bytes fetched from peers, per B node (product counters). */
async function fetchedB (): Promise<number[]> {
  return await Promise.all(siteB.map(async b => Number((await status(b)).bytesFetchedFromPeers)))
}

test('a brief link between one node pair brings site B to the newest head; an interrupted transfer resumes', async () => {
  seed = await start(f('seed'), [])
  running.push(seed)
  const b1 = await start(f('b1'), [], ['--replicate', 'full'])
  const b2 = await start(f('b2'), [b1], ['--replicate', 'full'])
  const b3 = await start(f('b3'), [b1, b2], ['--replicate', 'full'])
  siteB = [b1, b2, b3]
  running.push(...siteB)
  let a1 = await startA1([seed])
  await waitConverged(siteB, chain.publisher, 1, 'site B at seq 1')

  // Bundles 2..4 land at the seed while B is cut off; a1 replicates them; then the seed goes away.
  assert.equal((await cli(['--home', seed.home, 'import', ...chain.bundles.slice(1, 4)])).code, 0)
  await waitConverged([a1], chain.publisher, 4, 'a1 at seq 4')
  for (const b of siteB) assert.equal((await headOf(b, chain.publisher)).seq, 1)
  await seed.stop()
  await a1.stop()

  // The link appears: a1 dials b3. B learns seq 4 at once and starts pulling the big crate.
  a1 = await startA1([b3])
  await waitFor('site B adopts seq 4 through the link', async () => (await Promise.all(siteB.map(async b => (await headOf(b, chain.publisher)).seq))).every(s => s === 4), 30_000)
  const small = (chain.bytes[1] ?? 0) + (chain.bytes[2] ?? 0) + (chain.bytes[3] ?? 0) - (BIG_MIB << 20)
  await waitFor('part of the big crate to arrive', async () => Math.max(...await fetchedB()) > small + (4 << 20), 30_000)
  const before = await fetchedB()
  assert.ok(before.every(b => b < small + (BIG_MIB << 20)), `the link drops mid-transfer (fetched ${before.join(', ')} bytes; the delta without the big crate is ${small})`)
  a1.kill() // the link drops
  running.splice(running.indexOf(a1), 1) // (stop() of test/utils waits forever on a killed process)

  // Cut off again, B keeps the head and what it verified; a few seconds later the link is back.
  await sleep(2_000)
  for (const b of siteB) assert.equal((await headOf(b, chain.publisher)).seq, 4, 'site B serves the newest head while cut off')
  a1 = await startA1([b3])
  await waitConverged(siteB, chain.publisher, 4, 'site B to hold every blob of seq 4', 90_000)
  const after = await fetchedB()
  // Resumed: no node fetched more than the delta (plus chunks that were in flight at the cut).
  const delta = (chain.bytes[1] ?? 0) + (chain.bytes[2] ?? 0) + (chain.bytes[3] ?? 0)
  for (const [i, total] of after.entries()) assert.ok(total <= delta + (8 << 20), `b${i + 1} fetched ${total} bytes for a ${delta}-byte delta: the transfer restarted instead of resuming`)
  for (const [i, b] of siteB.entries()) {
    await assertHolds(b.home, chain, 4, `b${i + 1}`)
    await assertAuditTrail(b, chain.publisher, `b${i + 1}`)
  }
  await a1.stop()
})

test('a link that stays down longer than the fetcher waits for a source (20 s): the transfer still resumes from the verified chunks', {
  timeout: 150_000
}, async () => {
  const [b1, , b3] = siteB as [FleetNode, FleetNode, FleetNode]
  // a1 (still site A's only node) gets seq 5, one more big crate, and pushes it over the link.
  const a1 = await startA1([b3])
  assert.equal((await cli(['--home', a1.home, 'import', chain.bundles[4] as string])).code, 0)
  await waitFor('site B adopts seq 5', async () => (await Promise.all(siteB.map(async b => (await headOf(b, chain.publisher)).seq))).every(s => s === 5), 30_000)
  const start = await fetchedB()
  await waitFor('part of the new crate to arrive', async () => (await fetchedB()).some((v, i) => v - (start[i] ?? 0) > (8 << 20)), 30_000)
  a1.kill()
  running.splice(running.indexOf(a1), 1)
  await sleep(25_000) // longer than the fetcher waits for a source
  await startA1([b3])
  await waitConverged(siteB, chain.publisher, 5, 'site B to hold every blob of seq 5', 90_000)
  const end = await fetchedB()
  for (const [i, total] of end.entries()) {
    const fetched = total - (start[i] ?? 0)
    assert.ok(fetched <= (BIG_MIB << 20) + (8 << 20), `b${i + 1} fetched ${fetched} bytes for a ${BIG_MIB} MiB crate after a long outage: it started over`)
  }
  await assertHolds(b1.home, chain, 5, 'b1')
})
