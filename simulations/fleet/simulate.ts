/**
 * One fleet run: build the payload, start the fleet, import the payload at the seed, play the
 * scenario's events, watch every node until it holds the payload, then (optionally) measure the
 * central-mirror baseline with the same links. Returns everything as one JSON-able result.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliOk } from '../lib/node-process.ts'
import { linkOf, type Scenario, type ScenarioEvent } from '../lib/scenario.ts'
import { round, spread, type Spread } from '../lib/stats.ts'
import { centralMirror } from './baseline.ts'
import { Fleet } from './fleet.ts'
import { buildPayload, type Blob } from './payload.ts'

/** Per-node outcome. */
export interface NodeResult {
  index: number
  site: string | null
  policy: 'full' | 'on-demand'
  starts: number
  running: boolean
  /** Seconds after the import until the node adopted the head / held every blob (null: never). */
  headAt: number | null
  completeAt: number | null
  uploaded: number
  downloaded: number
  /** CPU seconds the node's processes used between the import and convergence. */
  cpuSeconds: number
  /** Control traffic of the node's current process (its status's `control`): asks, lookups, … */
  control: Record<string, number> | null
}

/** A fleet run's result. */
export interface FleetResult {
  scenario: string
  nodes: number
  date: string
  machine: { cpus: number, loadBefore: number }
  payload: { blobs: number, bytes: number, largest: number, sizes: number[] }
  links: { upMiBps: number | null, downMiBps: number | null, emulated: boolean }
  importSeconds: number
  converged: boolean
  head: Spread
  completion: Spread
  /** Completion times of the nodes that converged, sorted (for the CDF). */
  completionTimes: number[]
  seedUploaded: number
  fleetFetched: number
  perNode: NodeResult[]
  baseline: null | { singleSeconds: number, completion: Spread, completionTimes: number[], seedUploaded: number, extrapolatedFromSeconds: number | null }
  ratios: { seedEgress: number, completionOverSingle: number | null, completionOverBound: number | null, centralOverMesh: number | null }
  /**
   * The share of the machine's cores the nodes used from the import until the last node held the
   * payload. Near 1, the testbed's CPU, not the emulated links, sets the pace: the run then measures
   * this machine more than the protocol.
   */
  hostCpuBusy: number | null
  /** S/B: the payload over the slowest emulated link (null without caps). */
  boundSeconds: number | null
}

/** Options for `runFleet`. */
export interface RunOptions {
  log?: (line: string) => void
  /** Keep the temp dir (for debugging). */
  keep?: boolean
  baseline?: Scenario['baseline']
  /** Abort the run (the fleet is stopped and the temp dir removed). */
  signal?: AbortSignal
}

const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
  signal?.throwIfAborted()
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Which nodes are running once every event has happened. */
function finalRunning (scenario: Scenario): Set<number> {
  const running = new Set<number>()
  const joins = new Set((scenario.events ?? []).filter(e => e.action === 'join').flatMap(e => e.nodes ?? []))
  for (let i = 0; i < scenario.nodes; i++) if (!joins.has(i)) running.add(i)
  for (const e of [...scenario.events ?? []].sort((a, b) => a.at - b.at)) {
    for (const n of e.nodes ?? []) {
      if (e.action === 'crash' || e.action === 'leave') running.delete(n)
      if (e.action === 'join' || e.action === 'restart') running.add(n)
    }
  }
  return running
}

/** Run a scenario on real processes. */
export async function runFleet (scenario: Scenario, options: RunOptions = {}): Promise<FleetResult> {
  const log = options.log ?? (() => {})
  const dir = await mkdtemp(join(tmpdir(), 'mirrormesh-fleet-sim-'))
  const fleet = new Fleet(scenario, dir, log)
  const loadBefore = loadavg()[0] ?? 0
  try {
    log(`building the payload in ${dir}`)
    const payload = await buildPayload(scenario, dir)
    log(`payload: ${payload.blobs.length} blobs, ${(payload.bytes / 2 ** 20).toFixed(1)} MiB`)
    await fleet.prepare(payload.publisher)

    // Form the fleet: the seed, then the peers a few at a time (each start costs a second of CPU).
    const joiners = new Set((scenario.events ?? []).filter(e => e.action === 'join').flatMap(e => e.nodes ?? []))
    await fleet.start(0)
    const first = fleet.members.filter(m => m.index !== 0 && !joiners.has(m.index))
    for (let i = 0; i < first.length; i += 4) await Promise.all(first.slice(i, i + 4).map(async m => await fleet.start(m.index)))
    await connectAll(fleet, first.map(m => m.index), log)
    await sleep(2_000) // let the DHT routing tables fill

    // The payload lands at the seed: t0 is when the seed holds the new head.
    const importStart = performance.now()
    await cliOk(['--home', fleet.seed.home, 'import', payload.bundle])
    const t0 = Date.now()
    const importSeconds = (performance.now() - importStart) / 1000
    fleet.sampleCpu()
    const cpuAtImport = fleet.members.map(m => fleet.cpuOf(m.index))
    log(`imported at the seed in ${importSeconds.toFixed(1)} s; watching the fleet`)

    // Events run one after another, each at its time.
    const events = [...scenario.events ?? []].sort((a, b) => a.at - b.at)
    let eventsDone = events.length === 0
    const play = (async () => {
      for (const e of events) {
        const wait = t0 + e.at * 1000 - Date.now()
        if (wait > 0) await sleep(wait, options.signal)
        await apply(fleet, e).catch(err => log(`event ${JSON.stringify(e)} failed: ${(err as Error).message}`))
      }
      eventsDone = true
    })()
    play.catch(() => {}) // awaited below; an abort must not surface as an unhandled rejection first

    const expected = [...finalRunning(scenario)].filter(i => i !== 0 && fleet.members[i]?.policy === 'full')
    const headAt = new Map<number, number>()
    const completeAt = new Map<number, number>()
    const deadline = t0 + (scenario.timeoutSeconds ?? 300) * 1000
    const wanted = payload.blobs.length
    while (Date.now() < deadline) {
      const now = Date.now()
      await Promise.all(fleet.members.map(async m => {
        if (m.index === 0 || m.state !== 'running' || (completeAt.has(m.index) && headAt.has(m.index))) return
        const s = await fleet.status(m.index)
        const p = (s?.publishers as Array<{ seq: number | null, blobsHeld: number, blobFiles: number }> | undefined)?.[0]
        if (p === undefined || p.seq === null) return
        if (!headAt.has(m.index)) {
          const adopted = (s?.recentAudit as Array<{ event: string, seq: number, time: number }> | undefined)?.find(a => a.event === 'adopt-head' && a.seq === p.seq)
          headAt.set(m.index, Math.max(0, ((adopted?.time ?? now) - t0) / 1000))
        }
        if (p.blobFiles === wanted && p.blobsHeld === wanted && !completeAt.has(m.index)) completeAt.set(m.index, (now - t0) / 1000)
      }))
      if (eventsDone && expected.every(i => completeAt.has(i))) break
      // Once a second: each status walks the catalog and lists the store (CPU the nodes need).
      await sleep(1000, options.signal)
    }
    await play
    const converged = expected.every(i => completeAt.has(i))
    log(converged ? `converged: ${expected.length} nodes hold the payload` : `NOT converged: ${expected.filter(i => !completeAt.has(i)).join(', ')} still missing blobs`)
    const control = new Map<number, Record<string, number>>()
    for (const m of fleet.members) { // final byte counters
      const s = await fleet.status(m.index)
      if (s?.control !== undefined) control.set(m.index, s.control as Record<string, number>)
    }
    fleet.sampleCpu()

    const perNode: NodeResult[] = fleet.members.map(m => ({
      index: m.index,
      site: m.site ?? null,
      policy: m.policy,
      starts: m.starts,
      running: m.state === 'running',
      headAt: m.index === 0 ? 0 : headAt.has(m.index) ? round(headAt.get(m.index) as number) : null,
      completeAt: m.index === 0 ? 0 : completeAt.has(m.index) ? round(completeAt.get(m.index) as number) : null,
      uploaded: fleet.uploaded(m.index),
      downloaded: fleet.downloaded(m.index),
      cpuSeconds: round(fleet.cpuOf(m.index) - (cpuAtImport[m.index] ?? 0), 1),
      control: control.get(m.index) ?? null
    }))
    const completionTimes = expected.flatMap(i => completeAt.has(i) ? [completeAt.get(i) as number] : []).sort((a, b) => a - b)
    const seedUploaded = fleet.uploaded(0)
    const fleetFetched = perNode.reduce((s, n) => s + n.downloaded, 0)

    // The central mirror, same links: first one client alone, then every peer at once.
    let baseline: FleetResult['baseline'] = null
    const gateway = fleet.seed.process?.gateway
    const wantBaseline = options.baseline ?? scenario.baseline ?? true
    if (wantBaseline !== false && gateway !== undefined && fleet.seed.state === 'running') {
      await Promise.all(fleet.members.filter(m => m.index !== 0).map(async m => await fleet.down(m.index, 'leave')))
      log('central-mirror baseline: one client alone')
      const single = await centralMirror(gateway, payload.blobs, [{ index: 1, down: fleet.links[1]?.down }], fleet.links[0]?.up)
      const clients = fleet.members.filter(m => m.index !== 0).map(m => ({ index: m.index, down: fleet.links[m.index]?.down }))
      const windowSeconds = typeof wantBaseline === 'object' ? wantBaseline.windowSeconds : undefined
      log(`central-mirror baseline: ${clients.length} clients at once${windowSeconds === undefined ? '' : ` for ${windowSeconds} s`}`)
      const all = await centralMirror(gateway, payload.blobs, clients, fleet.links[0]?.up, { windowSeconds })
      baseline = {
        singleSeconds: round(single.seconds[0] ?? Number.NaN),
        completion: roundSpread(spread(all.seconds)),
        completionTimes: all.seconds.map(s => round(s)).sort((a, b) => a - b),
        seedUploaded: all.extrapolated ? clients.length * payload.bytes : all.bytes,
        extrapolatedFromSeconds: windowSeconds ?? null
      }
    }

    const link = linkOf(scenario, 1)
    const slowest = Math.min(...fleet.members.map(m => Math.min(linkOf(scenario, m.index).up ?? Infinity, linkOf(scenario, m.index).down ?? Infinity)))
    const boundSeconds = Number.isFinite(slowest) ? round(payload.bytes / slowest) : null
    const completion = roundSpread(spread(completionTimes))
    return {
      scenario: scenario.name,
      nodes: scenario.nodes,
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, loadBefore: round(loadBefore, 2) },
      payload: { blobs: payload.blobs.length, bytes: payload.bytes, largest: Math.max(...payload.blobs.map((b: Blob) => b.size)), sizes: payload.blobs.map(b => b.size) },
      links: { upMiBps: link.up === undefined ? null : link.up / 2 ** 20, downMiBps: link.down === undefined ? null : link.down / 2 ** 20, emulated: fleet.seed.proxy !== undefined },
      importSeconds: round(importSeconds),
      converged,
      head: roundSpread(spread(expected.flatMap(i => headAt.has(i) ? [headAt.get(i) as number] : []))),
      completion,
      completionTimes: completionTimes.map(t => round(t)),
      seedUploaded,
      fleetFetched,
      perNode,
      baseline,
      ratios: {
        seedEgress: round(seedUploaded / payload.bytes),
        completionOverSingle: baseline === null ? null : round(completion.max / baseline.singleSeconds),
        completionOverBound: boundSeconds === null ? null : round(completion.max / boundSeconds),
        centralOverMesh: baseline === null ? null : round(baseline.completion.max / completion.max)
      },
      boundSeconds,
      hostCpuBusy: completion.max > 0 ? round(perNode.reduce((sum, n) => sum + n.cpuSeconds, 0) / (completion.max * cpus().length), 2) : null
    }
  } finally {
    await fleet.close()
    if (options.keep !== true) await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Wait until every node has a connection. A node whose bootstrap dial failed stays alone for good
 * (libp2p's bootstrap module dials once and never retries): restart it, at most twice.
 */
async function connectAll (fleet: Fleet, indexes: number[], log: (line: string) => void): Promise<void> {
  for (let round = 0; round < 3; round++) {
    let alone: number[] = []
    for (let tries = 0; tries < 40; tries++) {
      const peers = await Promise.all(indexes.map(async i => ((await fleet.status(i))?.peers as string[] | undefined)?.length ?? 0))
      alone = indexes.filter((_, k) => peers[k] === 0)
      if (alone.length === 0) return
      await sleep(250)
    }
    log(`nodes ${alone.join(', ')} have no connection 10 s after start (bootstrap dial failed, never retried): restarting them`)
    for (const i of alone) {
      await fleet.down(i, 'leave')
      await fleet.start(i)
    }
  }
}

function roundSpread (s: Spread): Spread {
  return { p50: round(s.p50), p95: round(s.p95), max: round(s.max) }
}

async function apply (fleet: Fleet, e: ScenarioEvent): Promise<void> {
  switch (e.action) {
    case 'crash':
    case 'leave':
      for (const n of e.nodes ?? []) await fleet.down(n, e.action)
      break
    case 'join':
    case 'restart':
      for (const n of e.nodes ?? []) await fleet.start(n)
      break
    case 'cut':
      await fleet.cut(e.site as string)
      break
    case 'heal':
      await fleet.heal(e.site as string)
      break
  }
}
