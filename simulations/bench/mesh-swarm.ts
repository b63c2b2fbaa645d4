/**
 * Swarm pull (docs/performance.md, "Mesh", benchmark d): N peers (default 10) pull the same big
 * blob (default 256 MiB) at the same instant, each through its own gateway (a client's miss, read
 * in order), as a fleet does when one bottle is installed everywhere at once.
 *
 * Per repeat: a seed holding the blob and N fresh on-demand peers bootstrapped to it, given time to
 * find each other; then
 *   - swarm: all N clients GET `/cargo/crates/…/download` from their own peer at once; measured:
 *     what the seed uploaded to peers (its `/api/status` `bytesServedToPeers`) as a multiple of the
 *     blob, and each peer's completion time;
 *   - baseline (the central mirror): N clients GET the blob from the seed's gateway at once.
 * Bounds: at 1 GbE (118 MB/s of goodput) a swarm cannot finish before S/B and a central mirror not
 * before N·S/B (BRIEF §6); on loopback every byte also costs CPU on this machine's 2 cores, so the
 * measured central-mirror time is the practical reference.
 *
 *   node simulations/bench/mesh-swarm.ts [--peers 10] [--size-mib 256] [--runs 3] [--json FILE]
 *        [--cpu-prof DIR]   (profile the seed and the peers; .cpuprofile files land in DIR)
 *        [--log-dir DIR]    (debug logs of every node, MIRRORMESH_LOG=debug, in DIR)
 *        [--checkout DIR]   (run the nodes from the checkout at DIR: before/after comparisons)
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeCrateFile } from './lib/data.ts'
import { cliOf, drain, makeBundle, newPublisher, prepareHome, seqOf, startMany, startNode, status, stopAll, stopNode, waitFor, type BenchNode, type NodeOptions } from './lib/mesh-fleet.ts'
import { ROOT } from './lib/proc.ts'
import { fixed, machine, mbps, median, quantile, table } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    peers: { type: 'string', default: '10' },
    'size-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'log-dir': { type: 'string' },
    checkout: { type: 'string' }
  }
})
const PEERS = Number(flags.peers)
const SIZE_MIB = Number(flags['size-mib'])
const RUNS = Math.max(1, Number(flags.runs))
const GBE = 118e6
const log = (text: string): void => { process.stderr.write(`${text}\n`) }

/** Profiling and logging options for a node, from the flags. */
function diagnostics (name: string): NodeOptions {
  const prof = flags['cpu-prof']
  const logs = flags['log-dir']
  return {
    nodeArgs: prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`, `--cpu-prof-name=${name}.cpuprofile`],
    env: logs === undefined ? {} : { MIRRORMESH_LOG: 'debug' },
    logFile: logs === undefined ? undefined : join(logs, `${name}.log`),
    cli: cliOf(flags.checkout)
  }
}

interface Repeat {
  /** Connections each peer had when the pull started. */
  peerConnections: number[]
  swarmMs: number[]
  seedUploaded: number
  /** What each peer uploaded to other peers. */
  peerUploaded: number[]
  baselineMs: number[]
  load: number
}

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mirrormesh-bench-mesh-d-'))
  try {
    log(`writing a ${SIZE_MIB} MiB crate`)
    const crates = join(work, 'crates')
    await mkdir(crates, { recursive: true })
    const file = await writeCrateFile(crates, 'swarm-big', '1.0.0', SIZE_MIB << 20)
    const size = (await stat(file)).size
    const pub = await newPublisher(work)
    await makeBundle(pub, crates, join(work, 'b.mmb'))
    await prepareHome(join(work, 'seed'), pub.publisher, join(work, 'b.mmb'))
    const seed = await startNode('seed', join(work, 'seed'), [], diagnostics('seed'))
    const path = '/cargo/crates/swarm-big/1.0.0/download'
    const repeats: Repeat[] = []
    for (let r = 0; r < RUNS; r++) {
      const homes = Array.from({ length: PEERS }, (_, i) => join(work, `r${r}-peer${i}`))
      await Promise.all(homes.map(async home => await prepareHome(home, pub.publisher)))
      const peers: BenchNode[] = await startMany(homes.map((home, i) => ({ name: `r${r}-peer${i}`, home, extra: ['--bootstrap', seed.addrs[0] ?? ''], ...diagnostics(`r${r}-peer${i}`) })))
      await waitFor('every peer to adopt the head', async () => (await Promise.all(peers.map(async p => await seqOf(p, pub.publisher)))).every(s => s === 1), 120_000)
      // Peers find each other through the DHT's own lookups; give them time to connect.
      const connections = async (): Promise<number[]> => await Promise.all(peers.map(async p => ((await status(p)).peers as string[]).length))
      await waitFor('peers to connect to each other', async () => (await connections()).every(n => n >= PEERS), 20_000, 500).catch(() => {})
      const peerConnections = await connections()
      const load = loadavg()[0] ?? 0

      const before = (await status(seed)).bytesServedToPeers as number
      const swarm = await Promise.all(peers.map(async p => await drain(`${p.gateway}${path}`, { timeoutMs: 300_000 })))
      for (const d of swarm) if (d.status !== 200 || d.bytes !== size) throw new Error(`swarm pull: ${d.status}, ${d.bytes} bytes`)
      const seedUploaded = ((await status(seed)).bytesServedToPeers as number) - before
      const peerUploaded = await Promise.all(peers.map(async p => (await status(p)).bytesServedToPeers as number))
      await Promise.all(peers.map(stopNode))
      await Promise.all(homes.map(async home => await rm(home, { recursive: true, force: true })))

      const base = await Promise.all(peers.map(async () => await drain(`${seed.gateway}${path}`, { timeoutMs: 300_000 })))
      for (const d of base) if (d.status !== 200 || d.bytes !== size) throw new Error(`baseline pull: ${d.status}, ${d.bytes} bytes`)
      const rep: Repeat = { peerConnections, swarmMs: swarm.map(d => d.totalMs), seedUploaded, peerUploaded, baselineMs: base.map(d => d.totalMs), load }
      repeats.push(rep)
      log(`run ${r + 1}/${RUNS}: seed uploaded ${fixed(seedUploaded / size, 2)}× the blob; swarm median ${fixed(median(rep.swarmMs) / 1000, 2)} s, last ${fixed(Math.max(...rep.swarmMs) / 1000, 2)} s; central mirror median ${fixed(median(rep.baselineMs) / 1000, 2)} s, last ${fixed(Math.max(...rep.baselineMs) / 1000, 2)} s; connections ${peerConnections.join(',')}; load ${fixed(load, 2)}`)
    }
    await stopNode(seed)

    const med = (pick: (r: Repeat) => number): number => median(repeats.map(pick))
    const lastSwarm = med(r => Math.max(...r.swarmMs))
    const lastBase = med(r => Math.max(...r.baselineMs))
    const rows = [
      ['seed upload, × blob size', fixed(med(r => r.seedUploaded / size), 2), fixed(PEERS, 2), '1.00 (at least once)'],
      ['peer completion, median s', fixed(med(r => median(r.swarmMs)) / 1000, 2), fixed(med(r => median(r.baselineMs)) / 1000, 2), fixed(size / GBE, 2)],
      ['peer completion, p90 s', fixed(med(r => quantile(r.swarmMs, 0.9)) / 1000, 2), fixed(med(r => quantile(r.baselineMs, 0.9)) / 1000, 2), fixed(size / GBE, 2)],
      ['fleet completion (last peer) s', fixed(lastSwarm / 1000, 2), fixed(lastBase / 1000, 2), `${fixed(size / GBE, 2)} (swarm), ${fixed(PEERS * size / GBE, 2)} (central)`],
      ['fleet goodput MB/s', fixed(mbps(PEERS * size, lastSwarm)), fixed(mbps(PEERS * size, lastBase)), '-'],
      ['swarm time / central-mirror time (fleet)', fixed(med(r => Math.max(...r.swarmMs) / Math.max(...r.baselineMs)), 2), '1.00', '-']
    ]
    const report = `${PEERS} peers pull one ${SIZE_MIB} MiB blob (${size} bytes) at once, ${RUNS} repeats, medians.\n\n` +
      table(['measure', 'mesh swarm', `central mirror (${PEERS} × HTTP from the seed)`, 'bound at 1 GbE'], rows)
    process.stdout.write(`${report}\n`)
    const out = flags.json ?? join(ROOT, 'simulations', 'out', 'mesh-swarm.json')
    await mkdir(join(out, '..'), { recursive: true })
    await writeFile(out, JSON.stringify({ machine: await machine(), date: new Date().toISOString(), sizeBytes: size, peers: PEERS, runs: RUNS, checkout: flags.checkout ?? null, repeats, report }, null, 2))
    log(`results: ${out}`)
  } finally {
    await stopAll()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
