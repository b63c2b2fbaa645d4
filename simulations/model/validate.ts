/**
 * `npm run sim:validate [-- --fleet FILE] [--scaling FILE] [--runs R]`: check the model against
 * the real fleet, then report the model at scale.
 *
 * 1. The fleet: `simulations/fleet/scenarios/default.json` on real processes (N = 20, emulated
 *    links) — or a result file of an earlier run (`--fleet`).
 * 2. The model on the same scenario: same payload (the blob sizes the fleet measured), same link
 *    caps, the product's protocol constants, this machine's loopback delays, and the head-adoption
 *    delay the fleet measured. R runs with different random seeds.
 * 3. Agreement: completion (median node, last node) and seed egress within 25 %.
 * 4. Scaling (N = 10 … 10,000 on 1 GbE): run now, or read `--scaling` (from `npm run sim:model`).
 * Prints markdown (pasted into docs/performance.md) and writes simulations/out/validate.{md,json}
 * and the figures.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { runFleet, type FleetResult } from '../fleet/simulate.ts'
import { loadScenario } from '../lib/scenario.ts'
import { quantile, round } from '../lib/stats.ts'
import { writeFigures } from './figures.ts'
import { fromScenario, LOOPBACK } from './params.ts'
import { scaling, type ScalePoint } from './scaling.ts'
import { Swarm } from './swarm.ts'
import { f1, f2, scalingTable } from './tables.ts'

const OUT = fileURLToPath(new URL('../out/', import.meta.url))
const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: fileURLToPath(new URL('../fleet/scenarios/default.json', import.meta.url)) },
    fleet: { type: 'string' },
    scaling: { type: 'string' },
    runs: { type: 'string', default: '5' },
    budget: { type: 'string', default: '900' }
  }
})
const log = (line: string): void => { console.error(`[validate] ${line}`) }
await mkdir(OUT, { recursive: true })
const scenario = await loadScenario(values.scenario)

// 1. The fleet.
let fleet: FleetResult
if (values.fleet !== undefined) {
  fleet = JSON.parse(await readFile(values.fleet, 'utf8')) as FleetResult
  log(`fleet result from ${values.fleet} (${fleet.date})`)
} else {
  log(`running the fleet: ${scenario.nodes} real processes`)
  fleet = await runFleet(scenario, { log })
  await writeFile(`${OUT}fleet-${scenario.name}-${scenario.nodes}.json`, JSON.stringify(fleet, null, 2) + '\n')
}

// 2. The model, same scenario.
const headSync = Number.isFinite(fleet.head.p50) ? fleet.head.p50 : LOOPBACK.headSync
// All the fleet's nodes share this machine's cores: what they can move together is bounded by
// the CPU time each byte moved cost them in this run (control traffic included).
const cpuSeconds = fleet.perNode.reduce((sum, n) => sum + n.cpuSeconds, 0)
const cpuBytesPerSecond = cpuSeconds > 0 ? fleet.machine.cpus * fleet.fleetFetched / cpuSeconds : undefined
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
const modelOf = (cpu: number | undefined): { p50: number, max: number, seedEgress: number, allDone: boolean, times: number[][] } => {
  const runs = Array.from({ length: Number(values.runs) }, (_, i) => {
    const p = fromScenario({ ...scenario, nodes: fleet.nodes }, { sizes: fleet.payload.sizes, env: { headSync, cpuBytesPerSecond: cpu }, seed: i + 1 })
    return new Swarm(p).run()
  })
  const times = runs.map(r => r.completion.filter(Number.isFinite))
  return {
    p50: mean(times.map(t => quantile(t, 0.5))),
    max: mean(times.map(t => Math.max(...t))),
    seedEgress: mean(runs.map(r => (r.uploaded[0] ?? 0) / r.payloadBytes)),
    allDone: runs.every(r => r.completion.every(Number.isFinite)),
    times
  }
}
const model = modelOf(cpuBytesPerSecond)
const linksOnly = modelOf(undefined)
const modelTimes = model.times
const runs = { length: Number(values.runs) }
const within = (m: number, f: number): { ratio: number, ok: boolean } => ({ ratio: round(m / f), ok: Math.abs(m / f - 1) <= 0.25 })
const agreement = {
  completionP50: within(model.p50, fleet.completion.p50),
  completionMax: within(model.max, fleet.completion.max),
  seedEgress: within(model.seedEgress, fleet.ratios.seedEgress)
}

// 3. Scaling.
let points: ScalePoint[]
if (values.scaling !== undefined) {
  points = JSON.parse(await readFile(values.scaling, 'utf8')) as ScalePoint[]
} else {
  log('running the model at N = 10, 100, 1,000, 10,000 (1 GbE)')
  points = await scaling(values.scenario, [10, 100, 1000, 10000], { wallBudget: () => Number(values.budget), log })
  await writeFile(`${OUT}model-scaling.json`, JSON.stringify(points, null, 2) + '\n')
}

// 4. Report.
const mark = (a: { ratio: number, ok: boolean }): string => `${a.ratio.toFixed(2)} ${a.ok ? '(within 25 %)' : '(**outside 25 %**)'}`
const thousand = points.find(p => p.nodes === 1000)
const md = [
  `Fleet run: ${fleet.date}, ${fleet.nodes} nodes, payload ${fleet.payload.blobs} blobs = ${(fleet.payload.bytes / 2 ** 20).toFixed(1)} MiB (largest ${(fleet.payload.largest / 2 ** 20).toFixed(0)} MiB), links ${fleet.links.upMiBps} MiB/s up and down per node, load average ${fleet.machine.loadBefore} on ${fleet.machine.cpus} cores before the run.`,
  '',
  `The nodes' CPU time in the run was ${f1(cpuSeconds)} s for ${(fleet.fleetFetched / 2 ** 20).toFixed(0)} MiB moved between them: on ${fleet.machine.cpus} cores they could move ${cpuBytesPerSecond === undefined ? '—' : (cpuBytesPerSecond / 2 ** 20).toFixed(1)} MiB/s together, whatever the links. The model is run with that shared CPU limit (the testbed as it is) and without it (links only, as on a LAN of separate machines).`,
  '',
  '| | fleet (real processes) | model: links + CPU (mean of ' + runs.length + ' runs) | model / fleet | model: links only |',
  '|---|---:|---:|---:|---:|',
  `| median node holds the payload (s) | ${f1(fleet.completion.p50)} | ${f1(model.p50)} | ${mark(agreement.completionP50)} | ${f1(linksOnly.p50)} |`,
  `| last node holds the payload (s) | ${f1(fleet.completion.max)} | ${f1(model.max)} | ${mark(agreement.completionMax)} | ${f1(linksOnly.max)} |`,
  `| seed upload (payloads) | ${f1(fleet.ratios.seedEgress)} | ${f1(model.seedEgress)} | ${mark(agreement.seedEgress)} | ${f1(linksOnly.seedEgress)} |`,
  '',
  `Same run, targets: seed upload ${f2(fleet.ratios.seedEgress)}× the payload (target ≤ 2×; central mirror ${fleet.nodes - 1}×); ` +
  `last node ${f1(fleet.completion.max)} s = ${f2(fleet.ratios.completionOverSingle)}× one node downloading the payload alone (${f1(fleet.baseline?.singleSeconds)} s; target ≤ 1.5×), ` +
  `${f1(fleet.ratios.completionOverBound)}× S/B (${f1(fleet.boundSeconds)} s); central mirror ${f1(fleet.baseline?.completion.max)} s${fleet.baseline?.extrapolatedFromSeconds == null ? '' : ` (extrapolated from a ${fleet.baseline.extrapolatedFromSeconds} s window)`}.`,
  '',
  'Model on a 1 GbE LAN (118 MB/s per node each way), same payload:',
  '',
  scalingTable(points),
  '',
  thousand === undefined ? '' : `At N = 1,000 the last node is done at ${thousand.truncated ? `> ${f1(thousand.simulatedSeconds)}` : f2(thousand.completion.max)} s = ${thousand.truncated ? '>' : ''}${f2((thousand.truncated ? thousand.simulatedSeconds : thousand.completion.max) / thousand.boundSeconds)}× S/B (target ≤ 1.5×).`
].join('\n')
console.log(md)
await writeFile(`${OUT}validate.md`, md + '\n')
await writeFile(`${OUT}validate.json`, JSON.stringify({ fleet: { date: fleet.date, completion: fleet.completion, seedEgress: fleet.ratios.seedEgress }, model: { ...model, times: undefined, headSync, cpuBytesPerSecond, runs: runs.length }, linksOnly: { ...linksOnly, times: undefined }, agreement, scaling: points }, null, 2) + '\n')
for (const file of await writeFigures({ fleet, model: modelTimes, scaling: points })) log(`figure: ${file}`)
