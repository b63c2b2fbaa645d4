/**
 * Gateway miss → first byte (docs/performance.md, "Mesh", benchmark c).
 *
 * A loopback mesh of `--nodes` processes (default 20): a hub every node bootstraps to, and one
 * holder that imported a bundle of `--blobs` crates (default 25; sizes cycle 64 KiB … 16 MiB, so
 * both one-chunk blobs and blobs with signed chunk digests are covered). The other nodes hold
 * nothing. One request at a time, each blob is asked for once at a different non-holder (round
 * robin), alternately by its cargo URL and by `/blobs/{cid}`; measured: time from sending the
 * request to the first body byte (and to the last). So each request finds exactly one holder in the
 * mesh. Baseline, same run: the first byte of the same blob from the holder's own gateway (a hit).
 *
 *   node simulations/bench/mesh-first-byte.ts [--nodes 20] [--blobs 25] [--json FILE]
 *        [--checkout DIR]   (run the nodes from the checkout at DIR: before/after comparisons)
 *        [--log-dir DIR]    (debug logs of every node, MIRRORMESH_LOG=debug, in DIR)
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeCrateFile } from './lib/data.ts'
import { cidOfFile, cliOf, drain, makeBundle, newPublisher, prepareHome, seqOf, startMany, startNode, status, stopAll, waitFor, waitForRest, type BenchNode, type Drain, type NodeOptions } from './lib/mesh-fleet.ts'
import { ROOT } from './lib/proc.ts'
import { CHUNK_SIZE } from '../../src/store/hash.ts'
import { fixed, machine, median, quantile, table } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    blobs: { type: 'string', default: '25' },
    json: { type: 'string' },
    checkout: { type: 'string' },
    'log-dir': { type: 'string' }
  }
})
const NODES = Math.max(3, Number(flags.nodes))
const BLOBS = Math.max(1, Number(flags.blobs))
const SIZES = [64 << 10, 512 << 10, 2 << 20, 8 << 20, 16 << 20]
const log = (text: string): void => { process.stderr.write(`${text}\n`) }

interface Sample {
  blob: string
  size: number
  route: 'cargo' | 'cid'
  node: string
  connectedToHolder: boolean
  miss: Drain
  hit: Drain
}

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mirrormesh-bench-mesh-c-'))
  try {
    const crates = join(work, 'crates')
    await mkdir(crates, { recursive: true })
    const blobs: Array<{ name: string, size: number, cid: string }> = []
    for (let i = 0; i < BLOBS; i++) {
      const name = `fb-${i}`
      const file = await writeCrateFile(crates, name, '1.0.0', SIZES[i % SIZES.length] as number)
      blobs.push({ name, size: SIZES[i % SIZES.length] as number, cid: await cidOfFile(file) })
    }
    const pub = await newPublisher(work)
    await makeBundle(pub, crates, join(work, 'b.mmb'))
    log(`${BLOBS} crates, starting ${NODES} nodes`)
    await prepareHome(join(work, 'hub'), pub.publisher)
    const cli = cliOf(flags.checkout)
    const logs = flags['log-dir']
    const diagnostics = (name: string): NodeOptions => ({ cli, ...(logs === undefined ? {} : { env: { MIRRORMESH_LOG: 'debug' }, logFile: join(logs, `${name}.log`) }) })
    const hub = await startNode('hub', join(work, 'hub'), [], diagnostics('hub'))
    const boot = ['--bootstrap', hub.addrs[0] ?? '']
    await prepareHome(join(work, 'holder'), pub.publisher, join(work, 'b.mmb'))
    const holder = await startNode('holder', join(work, 'holder'), boot, diagnostics('holder'))
    const others = Array.from({ length: NODES - 2 }, (_, i) => ({ name: `n${i}`, home: join(work, `n${i}`), extra: boot, ...diagnostics(`n${i}`) }))
    await Promise.all(others.map(async o => await prepareHome(o.home, pub.publisher)))
    const rest = await startMany(others, 5)
    const nonHolders: BenchNode[] = [hub, ...rest]
    const started = performance.now()
    await waitFor('every node to adopt the head', async () => (await Promise.all(nonHolders.map(async n => await seqOf(n, pub.publisher)))).every(s => s === 1), 120_000, 250)
    // Let the DHT settle and the holder's batched announcements go out, and the mesh come to rest.
    await new Promise(resolve => setTimeout(resolve, 5_000))
    const restCores = await waitForRest([holder, ...nonHolders])
    log(`mesh ready ${fixed((performance.now() - started) / 1000, 1)} s after the last start, using ${fixed(restCores, 2)} cores at rest`)

    const samples: Sample[] = []
    for (const [i, blob] of blobs.entries()) {
      const node = nonHolders[i % nonHolders.length] as BenchNode
      const route = i % 2 === 0 ? 'cargo' : 'cid'
      const path = route === 'cargo' ? `/cargo/crates/${blob.name}/1.0.0/download` : `/blobs/${blob.cid}`
      const connectedToHolder = ((await status(node)).peers as string[]).includes(holder.peerId)
      const miss = await drain(`${node.gateway}${path}`)
      if (miss.status !== 200 || miss.bytes < blob.size) throw new Error(`${blob.name} at ${node.name}: ${miss.status}, ${miss.bytes} bytes`)
      const hit = await drain(`${holder.gateway}${path}`)
      samples.push({ blob: blob.name, size: blob.size, route, node: node.name, connectedToHolder, miss, hit })
      log(`${blob.name} (${blob.size >> 10} KiB) at ${node.name} by ${route}: first byte ${fixed(miss.firstByteMs)} ms (hit ${fixed(hit.firstByteMs)} ms), last ${fixed(miss.totalMs)} ms${connectedToHolder ? '' : ', not connected to the holder'}`)
    }
    const load = loadavg()[0] ?? 0
    await stopAll()

    const row = (label: string, list: Sample[]): Array<string | number> => list.length === 0
      ? [label, 0, '-', '-', '-', '-']
      : [label, list.length, fixed(median(list.map(s => s.miss.firstByteMs))), fixed(quantile(list.map(s => s.miss.firstByteMs), 0.95)), fixed(median(list.map(s => s.hit.firstByteMs))), fixed(median(list.map(s => s.miss.firstByteMs - s.hit.firstByteMs)))]
    const rows = [
      row('all', samples),
      row('by cargo URL', samples.filter(s => s.route === 'cargo')),
      row('by /blobs/{cid}', samples.filter(s => s.route === 'cid')),
      row(`one-chunk blobs (≤ ${CHUNK_SIZE >> 20} MiB)`, samples.filter(s => s.size <= CHUNK_SIZE)),
      row(`chunked blobs (> ${CHUNK_SIZE >> 20} MiB)`, samples.filter(s => s.size > CHUNK_SIZE)),
      row('requester not connected to the holder', samples.filter(s => !s.connectedToHolder))
    ]
    const report = `${NODES}-node loopback mesh, one holder, ${BLOBS} blobs each requested once at a non-holder (at rest the mesh used ${fixed(restCores, 2)} cores before the first request; load average ${fixed(load, 1)} after the last).\n\n` +
      table(['requests', 'n', 'miss first byte median ms', 'p95 ms', 'hit first byte median ms (baseline)', 'miss − hit median ms'], rows)
    process.stdout.write(`${report}\n`)
    const out = flags.json ?? join(ROOT, 'simulations', 'out', 'mesh-first-byte.json')
    await mkdir(join(out, '..'), { recursive: true })
    await writeFile(out, JSON.stringify({ machine: await machine(), date: new Date().toISOString(), nodes: NODES, restCores, checkout: flags.checkout ?? null, samples, report }, null, 2))
    log(`results: ${out}`)
  } finally {
    await stopAll()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
