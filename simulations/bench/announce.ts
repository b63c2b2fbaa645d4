/**
 * DHT announcement benchmark (docs/performance.md, "DHT announcements").
 *
 * Starts `--nodes` libp2p hosts on loopback in this process (the real `createHost` configuration,
 * each running the sweeping announcer with its defaults), bootstrapped to the first one. Once the
 * mesh has settled, the last node (the one that knows the fewest peers) announces `--cids` CIDs:
 *   - time until `flush()` resolves (every record stored on its K closest peers, acknowledged);
 *   - time until a random sample of `--sample` CIDs is findable with plain DHT lookups from
 *     `--finders` other nodes (each lookup retried until it finds the announcer);
 *   - baseline, same mesh: kad-dht's own `contentRouting.provide()` for `--baseline` fresh CIDs, one
 *     after another and all at once, extrapolated to `--cids`.
 *
 *   node simulations/bench/announce.ts [--nodes 20] [--cids 10000] [--sample 100] [--finders 5] [--baseline 20] [--runs 1] [--json FILE]
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import { MemoryDatastore } from 'datastore-core'
import { Key, type Datastore } from 'interface-datastore'
import { createAnnouncer, type Announcer, type AnnouncerStats } from '../../src/mesh/announcer.ts'
import { createHost, type Host } from '../../src/mesh/host.ts'
import { OrderedMemoryDatastore } from '../../src/mesh/provide/datastore.ts'
import { cidFromSha256, type CID } from '../../src/store/cid.ts'
import { fixed, machine, median, quantile, table } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    cids: { type: 'string', default: '10000' },
    sample: { type: 'string', default: '100' },
    finders: { type: 'string', default: '5' },
    baseline: { type: 'string', default: '20' },
    runs: { type: 'string', default: '1' },
    json: { type: 'string' }
  }
})
const N = Number(flags.nodes)
const COUNT = Number(flags.cids)
const SAMPLE = Number(flags.sample)
const FINDERS = Number(flags.finders)
const BASELINE = Number(flags.baseline)
const RUNS = Math.max(1, Number(flags.runs))

interface RunResult {
  settleMs: number
  flushMs: number
  findableMs: number
  lookupMs: number[]
  lookups: number
  retries: number
  baselineSeqMs: number[]
  baselineParMs: number
  stats: AnnouncerStats
  /** Most records any node received (its share of the fleet's records). */
  maxRecords: number
  load: number[]
}

const log = (text: string): void => { process.stderr.write(`${text}\n`) }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const randomCid = (): CID => cidFromSha256(randomBytes(32))
const tableSize = (host: Host): number => (host.services.dht as unknown as SingleKadDHT).routingTable.size

async function lookup (announcer: Announcer, cid: CID, provider: Host): Promise<boolean> {
  for await (const peer of announcer.findProviders(cid, { signal: AbortSignal.timeout(20_000) })) {
    if (peer.equals(provider.peerId)) return true
  }
  return false
}

async function run (index: number): Promise<RunResult> {
  const hosts: Host[] = []
  const announcers: Announcer[] = []
  const start = async (bootstrap: string[]): Promise<void> => {
    const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, mdns: false })
    const announcer = createAnnouncer(host)
    await announcer.start()
    hosts.push(host)
    announcers.push(announcer)
  }
  try {
    const t0 = performance.now()
    await start([])
    const boot = (hosts[0] as Host).getMultiaddrs().map(String)
    for (let i = 1; i < N; i++) await start(boot)
    // Settled: the bootstrap node's routing table holds the fleet and every node has a DHT peer.
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline && (tableSize(hosts[0] as Host) < N - 1 || hosts.some(host => tableSize(host) === 0))) await sleep(100)
    const settleMs = performance.now() - t0
    log(`[run ${index}] ${N} nodes settled in ${fixed(settleMs / 1000)} s`)

    const provider = hosts[N - 1] as Host
    const announcer = announcers[N - 1] as Announcer
    const cids = Array.from({ length: COUNT }, randomCid)
    const t1 = performance.now()
    announcer.provide(cids)
    await announcer.flush()
    const flushMs = performance.now() - t1
    log(`[run ${index}] flush: ${fixed(flushMs / 1000, 2)} s ${JSON.stringify(announcer.stats())}`)

    const finders = announcers.slice(0, N - 1).sort(() => Math.random() - 0.5).slice(0, FINDERS)
    const sample = [...cids].sort(() => Math.random() - 0.5).slice(0, SAMPLE)
    const lookupMs: number[] = []
    let retries = 0
    const t2 = performance.now()
    // Each finder looks its sample up one CID at a time, the finders in parallel: a DHT lookup asks
    // ~20 peers, and 20 nodes share this process's CPU, so more concurrency only queues the CPU.
    await Promise.all(finders.map(async finder => {
      for (const cid of sample) {
        for (;;) {
          const t = performance.now()
          const found = await lookup(finder, cid, provider).catch(() => false)
          lookupMs.push(performance.now() - t)
          if (found) break
          if (performance.now() - t2 > 300_000) throw new Error(`${cid.toString()} not findable after 300 s`)
          retries++
          await sleep(200)
        }
      }
    }))
    const findableMs = performance.now() - t2
    log(`[run ${index}] ${lookupMs.length} lookups, all ${FINDERS}×${SAMPLE} findable after ${fixed(findableMs / 1000, 2)} s`)

    // Baseline on the same mesh, from another node so its records do not mix with ours.
    const plain = hosts[N - 2] as Host
    const baselineSeqMs: number[] = []
    for (const cid of Array.from({ length: BASELINE }, randomCid)) {
      const t = performance.now()
      await plain.contentRouting.provide(cid)
      baselineSeqMs.push(performance.now() - t)
    }
    const t3 = performance.now()
    await Promise.all(Array.from({ length: BASELINE }, randomCid).map(async cid => { await plain.contentRouting.provide(cid) }))
    const baselineParMs = performance.now() - t3
    log(`[run ${index}] baseline: ${BASELINE} sequential provides, median ${fixed(median(baselineSeqMs))} ms; ${BASELINE} in parallel ${fixed(baselineParMs)} ms`)
    const maxRecords = Math.max(...announcers.map(a => a.stats().inbound.recordsAdded))
    return { settleMs, flushMs, findableMs, lookupMs, lookups: lookupMs.length, retries, baselineSeqMs, baselineParMs, stats: announcer.stats(), maxRecords, load: loadavg() }
  } finally {
    await Promise.all(announcers.map(async announcer => { await announcer.stop() }))
    await Promise.all(hosts.map(async host => { await host.stop() }))
  }
}

/**
 * What one GET_PROVIDERS costs the answering node's datastore: kad-dht loads a CID's providers with
 * a prefix query, which libp2p's default MemoryDatastore answers by scanning every key.
 */
async function prefixQueryMs (datastore: Datastore, records: number): Promise<number> {
  const keys: string[] = []
  for (let i = 0; i < records; i++) {
    const key = `/dht/provider/${randomBytes(34).toString('base64url').toUpperCase()}`
    keys.push(key)
    await datastore.put(new Key(`${key}/12D3KooW${randomBytes(22).toString('base64url')}`), new Uint8Array(6))
  }
  const rounds = 200
  const t = performance.now()
  for (let i = 0; i < rounds; i++) for await (const _ of datastore.query({ prefix: keys[i % keys.length] as string })) { /* drain */ }
  return (performance.now() - t) / rounds
}

function report (results: RunResult[]): string {
  const med = (pick: (r: RunResult) => number): number => median(results.map(pick))
  const flush = med(r => r.flushMs)
  const findable = med(r => r.findableMs)
  const lookups = results.flatMap(r => r.lookupMs)
  const seqPerCid = med(r => median(r.baselineSeqMs))
  const seqTotal = seqPerCid * COUNT
  const parTotal = med(r => r.baselineParMs) * COUNT / BASELINE
  const s = (ms: number): string => `${fixed(ms / 1000, 1)} s`
  const h = (ms: number): string => `${fixed(ms / 3600_000, 1)} h`
  const rows: Array<Array<string | number>> = [
    [`sweeping announcer: provide(${COUNT}) → flush()`, s(flush), '1×', `${med(r => r.stats.messagesSent)} messages, ${med(r => r.stats.recordsSent)} records (K = 8), ${results.reduce((n, r) => n + r.stats.sendFailures, 0)} sends failed and were re-routed; runs: ${results.map(r => fixed(r.flushMs / 1000)).join(', ')} s`],
    [`… then ${FINDERS} nodes look up ${SAMPLE} sampled CIDs each`, s(findable), '', `all found; ${results.reduce((n, r) => n + r.retries, 0)} of ${results.reduce((n, r) => n + r.lookups, 0)} lookups had to be retried; lookup p50 ${fixed(quantile(lookups, 0.5))} ms, p95 ${fixed(quantile(lookups, 0.95))} ms`],
    [`provide() → all sampled CIDs found`, s(flush + findable), '', ''],
    [`baseline: dht provide, sequential (${BASELINE} measured, × ${COUNT / BASELINE})`, `${h(seqTotal)} (${s(seqTotal)})`, `${fixed(seqTotal / flush, 0)}×`, `median ${fixed(seqPerCid)} ms per CID`],
    [`baseline: dht provide, ${BASELINE} in parallel (× ${COUNT / BASELINE} batches)`, `${h(parTotal)} (${s(parTotal)})`, `${fixed(parTotal / flush, 0)}×`, `${fixed(med(r => r.baselineParMs))} ms per batch of ${BASELINE}`]
  ]
  return table(['step', 'time (median)', 'vs flush', 'notes'], rows)
}

const results: RunResult[] = []
for (let i = 1; i <= RUNS; i++) results.push(await run(i))
const load = results.map(r => r.load.map(l => fixed(l, 1)).join('/')).join(', ')
console.log(`${await machine()}, ${new Date().toISOString().slice(0, 10)}, ${N} nodes in one process, K = 8, ${RUNS} run(s); load average after each run ${load}\n`)
console.log(report(results))
const share = Math.round(median(results.map(r => r.maxRecords)))
const rows: Array<Array<string | number>> = []
for (const records of [share, 50_000]) {
  rows.push([records, `${fixed(await prefixQueryMs(new MemoryDatastore(), records), 2)} ms`, `${fixed(await prefixQueryMs(new OrderedMemoryDatastore(), records), 3)} ms`])
}
console.log(`\nOne GET_PROVIDERS' provider-store query on a node holding N records (${share} = the busiest node's share above):\n`)
console.log(table(['records on the node', 'libp2p MemoryDatastore (default)', 'OrderedMemoryDatastore'], rows))
if (flags.json !== undefined) await writeFile(flags.json, JSON.stringify(results, null, 2))
