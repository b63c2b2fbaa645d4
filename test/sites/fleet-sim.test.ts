/**
 * The fleet simulation end to end at N = 5 (simulations/fleet, scenario `small`): real processes
 * on emulated 8 MiB/s links; every replica converges, the seed uploads less than a central mirror
 * would (N × payload), and the central-mirror baseline runs in the same harness.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { loadScenario } from '../../simulations/lib/scenario.ts'
import { runFleet } from '../../simulations/fleet/simulate.ts'

test('fleet simulation, N = 5: convergence, seed egress below N × payload, and the central-mirror baseline', async t => {
  const scenario = await loadScenario(fileURLToPath(new URL('../../simulations/fleet/scenarios/small.json', import.meta.url)))
  const result = await runFleet(scenario, { log: line => t.diagnostic(line) })
  t.diagnostic(`completion max ${result.completion.max} s, seed egress ${result.ratios.seedEgress}× payload, central mirror ${result.baseline?.completion.max} s`)
  assert.ok(result.converged, 'every replica holds the payload')
  assert.equal(result.completionTimes.length, scenario.nodes - 1)
  assert.ok(result.seedUploaded >= result.payload.bytes * 0.99, 'the seed uploads the payload at least once')
  assert.ok(result.seedUploaded < scenario.nodes * result.payload.bytes, `seed egress ${result.ratios.seedEgress}× is below N × payload`)
  // The link emulation charged (nearly) every byte to a known receiver: downloads add up to uploads.
  const up = result.perNode.reduce((s, n) => s + n.uploaded, 0)
  assert.ok(result.fleetFetched <= up && result.fleetFetched >= up * 0.99, `downloads ${result.fleetFetched} vs uploads ${up}`)
  assert.ok(result.baseline !== null && result.baseline.seedUploaded >= (scenario.nodes - 1) * result.payload.bytes * 0.99, 'the central mirror sends the payload to every node')
})
