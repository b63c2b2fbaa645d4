/**
 * `npm run sim:model [-- --nodes 10,100,1000,10000] [--budget SECONDS] [--protocol JSON]`: the
 * swarm model on a 1 GbE LAN at each fleet size; prints a table, writes
 * `simulations/out/model-scaling.json` and the scaling figures. `--protocol '{"push":false}'`
 * overrides protocol parameters (simulations/model/params.ts) for a what-if run, which only prints.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { FleetResult } from '../fleet/simulate.ts'
import { writeFigures } from './figures.ts'
import type { Protocol } from './params.ts'
import { scaling } from './scaling.ts'
import { scalingTable } from './tables.ts'

const OUT = fileURLToPath(new URL('../out/', import.meta.url))
const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: fileURLToPath(new URL('../fleet/scenarios/default.json', import.meta.url)) },
    nodes: { type: 'string', default: '10,100,1000,10000' },
    budget: { type: 'string', default: '900' },
    protocol: { type: 'string' }
  }
})
const sizes = values.nodes.split(',').map(Number)
const protocol = values.protocol === undefined ? undefined : JSON.parse(values.protocol) as Partial<Protocol>
const points = await scaling(values.scenario, sizes, { wallBudget: () => Number(values.budget), log: line => console.error(line), protocol })
console.log(scalingTable(points))
if (protocol !== undefined) process.exit(0) // a what-if: the documented results stay as they are
await mkdir(OUT, { recursive: true })
await writeFile(`${OUT}model-scaling.json`, JSON.stringify(points, null, 2) + '\n')
const fleet = await readFile(`${OUT}fleet-default-20.json`, 'utf8').then(t => JSON.parse(t) as FleetResult, () => undefined)
for (const file of await writeFigures({ scaling: points, fleet })) console.log(`figure: ${file}`)
