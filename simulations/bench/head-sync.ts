/**
 * One hop of a head (docs/performance.md, "Where the N = 10 and N = 100 runs lose time"): the
 * time from a seed adopting an imported head to a directly connected peer adopting it — the push,
 * the exchange, the head's signature, the catalog diff and its nodes, the atomic adoption. The
 * flow model's `headSync` (simulations/model/params.ts) is this delay.
 *
 * Two `mirrormesh serve` processes on loopback, otherwise idle (`on-demand`: the peer fetches no
 * blob), a catalog the size of the fleet scenario's (`--crates`, default 28), then `--rounds`
 * imports at the running seed, each adding `--add` crates. Both nodes stamp their audit entries
 * with their own clock, the same machine's: the delay is the peer's `adopt-head` time minus the
 * seed's, per seq.
 *
 *   node simulations/bench/head-sync.ts [--crates 28] [--add 4] [--rounds 10] [--json FILE]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeCrateFile } from './lib/data.ts'
import { makeBundle, newPublisher, prepareHome, seqOf, startNode, stopAll, waitFor } from './lib/mesh-fleet.ts'
import { mirrormesh } from './lib/proc.ts'
import { fixed, machine, median, quantile, table } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    crates: { type: 'string', default: '28' },
    add: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '10' },
    json: { type: 'string' }
  }
})
const CRATES = Math.max(1, Number(flags.crates))
const ADD = Math.max(1, Number(flags.add))
const ROUNDS = Math.max(1, Number(flags.rounds))
const log = (text: string): void => { process.stderr.write(`${text}\n`) }

/** `adopt-head` times (ms since the epoch) by seq, from a node's audit log. */
async function adoptions (home: string): Promise<Map<number, number>> {
  const r = await mirrormesh(home, ['--json', 'audit'])
  const entries = JSON.parse(r.stdout) as Array<{ event: string, seq: number, time: number }>
  return new Map(entries.filter(e => e.event === 'adopt-head').map(e => [e.seq, e.time]))
}

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mirrormesh-bench-head-sync-'))
  try {
    const crates = join(work, 'crates')
    await mkdir(crates, { recursive: true })
    let written = 0
    const addCrates = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++, written++) await writeCrateFile(crates, `hs-${written}`, '1.0.0', 8 << 10)
    }
    await addCrates(CRATES)
    const pub = await newPublisher(work)
    await makeBundle(pub, crates, join(work, 'b1.mmb'))
    await prepareHome(join(work, 'seed'), pub.publisher, join(work, 'b1.mmb'))
    await prepareHome(join(work, 'peer'), pub.publisher)
    const seed = await startNode('seed', join(work, 'seed'))
    const peer = await startNode('peer', join(work, 'peer'), ['--bootstrap', seed.addrs[0] ?? ''])
    await waitFor('the peer to adopt seq 1', async () => await seqOf(peer, pub.publisher) === 1, 60_000, 20)
    for (let round = 2; round <= ROUNDS + 1; round++) {
      await addCrates(ADD)
      // A delta on the last bundle, as a publisher ships them: unchanged entries keep their mtime,
      // so the peer's Merkle diff skips the subtrees it holds.
      const bundle = join(work, `b${round}.mmb`)
      await makeBundle(pub, crates, bundle, join(work, `b${round - 1}.mmb`))
      await mirrormesh(seed.home, ['import', bundle])
      await waitFor(`the peer to adopt seq ${round}`, async () => await seqOf(peer, pub.publisher) === round, 60_000, 20)
      log(`seq ${round} adopted`)
    }
    const [atSeed, atPeer] = await Promise.all([adoptions(seed.home), adoptions(peer.home)])
    const delays: number[] = []
    for (let seq = 2; seq <= ROUNDS + 1; seq++) {
      const [s, p] = [atSeed.get(seq), atPeer.get(seq)]
      if (s === undefined || p === undefined) throw new Error(`seq ${seq} is missing from an audit log`)
      delays.push(p - s)
    }
    const result = {
      machine: await machine(),
      load: loadavg()[0],
      catalog: { crates: CRATES, addedPerRound: ADD, rounds: ROUNDS },
      hopMs: { p50: median(delays), p95: quantile(delays, 0.95), min: Math.min(...delays), max: Math.max(...delays), all: delays }
    }
    process.stdout.write(table(['one hop of a head (ms)', 'p50', 'p95', 'min', 'max'], [[`${ROUNDS} imports, ${CRATES} + ${ADD}/round crates`, fixed(result.hopMs.p50), fixed(result.hopMs.p95), fixed(result.hopMs.min), fixed(result.hopMs.max)]]) + '\n')
    if (flags.json !== undefined) await writeFile(flags.json, JSON.stringify(result, null, 2) + '\n')
  } finally {
    await stopAll()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
