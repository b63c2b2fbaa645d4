/**
 * `npm run sim:fleet [-- --scenario FILE] [--nodes N] [--no-baseline] [--keep]`: run a scenario on
 * a fleet of real mirrormesh processes on loopback, print the table, and write the result as JSON
 * under `simulations/out/` (`fleet-<scenario>-<N>.json`).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadScenario } from '../lib/scenario.ts'
import { renderFleet } from './report.ts'
import { runFleet } from './simulate.ts'

const OUT = fileURLToPath(new URL('../out/', import.meta.url))

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: fileURLToPath(new URL('scenarios/default.json', import.meta.url)) },
    nodes: { type: 'string' },
    'no-baseline': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    out: { type: 'string' }
  }
})
const scenario = await loadScenario(values.scenario)
if (values.nodes !== undefined) scenario.nodes = Number(values.nodes)
const started = performance.now()
// Ctrl-C stops the fleet (every node process) and removes the temp dir before exiting.
const abort = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { console.error(`${signal}: stopping the fleet`); abort.abort() })
const result = await runFleet(scenario, {
  signal: abort.signal,
  log: line => console.error(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`),
  baseline: values['no-baseline'] ? false : undefined,
  keep: values.keep
})
console.log(renderFleet(result))
await mkdir(OUT, { recursive: true })
const file = values.out ?? `${OUT}fleet-${scenario.name}-${scenario.nodes}.json`
await writeFile(file, JSON.stringify(result, null, 2) + '\n')
console.log(`\nresult: ${file} (whole run ${((performance.now() - started) / 1000).toFixed(0)} s)`)
process.exitCode = result.converged ? 0 : 1
