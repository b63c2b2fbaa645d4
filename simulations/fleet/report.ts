/** The fleet run as a text table (what `npm run sim:fleet` prints). */
import { mib, table } from '../lib/stats.ts'
import type { FleetResult } from './simulate.ts'

const s = (v: number | null | undefined): string => v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(1)
const x = (v: number | null | undefined): string => v === null || v === undefined || Number.isNaN(v) ? '—' : `${v.toFixed(2)}×`

/** Render a result. */
export function renderFleet (r: FleetResult): string {
  const links = r.links.upMiBps === null && r.links.downMiBps === null ? 'links not limited (loopback, CPU-bound)' : `links ${r.links.upMiBps ?? '∞'} MiB/s up, ${r.links.downMiBps ?? '∞'} MiB/s down per node`
  const lines = [
    `fleet "${r.scenario}": ${r.nodes} nodes (1 seed), payload ${r.payload.blobs} blobs = ${mib(r.payload.bytes)} (largest ${mib(r.payload.largest)}), ${links}`,
    `machine: ${r.machine.cpus} cores, load ${r.machine.loadBefore} before the run; import at the seed took ${r.importSeconds.toFixed(1)} s; the nodes kept ${r.hostCpuBusy === null || r.hostCpuBusy === undefined ? '—' : `${Math.round(r.hostCpuBusy * 100)} %`} of the cores busy until the last node was done`,
    '',
    table([
      ['seconds after the import', 'p50', 'p95', 'max'],
      ['head adopted', s(r.head.p50), s(r.head.p95), s(r.head.max)],
      ['mesh: node holds the payload', s(r.completion.p50), s(r.completion.p95), s(r.completion.max)],
      ...(r.baseline === null ? [] : [[`central mirror: node holds it${r.baseline.extrapolatedFromSeconds === null ? '' : ` (rate of a ${r.baseline.extrapolatedFromSeconds} s window)`}`, s(r.baseline.completion.p50), s(r.baseline.completion.p95), s(r.baseline.completion.max)]])
    ]),
    '',
    table([
      ['', 'value', 'ratio'],
      ['single node alone (central, no contention)', r.baseline === null ? '—' : `${s(r.baseline.singleSeconds)} s`, ''],
      ['physical bound S/B', r.boundSeconds === null ? '—' : `${s(r.boundSeconds)} s`, ''],
      ['mesh completion / single node alone', '', x(r.ratios.completionOverSingle)],
      ['mesh completion / S/B', '', x(r.ratios.completionOverBound)],
      ['central mirror / mesh completion', '', x(r.ratios.centralOverMesh)],
      ['seed uploaded (mesh)', mib(r.seedUploaded), `${x(r.ratios.seedEgress)} payload`],
      ['seed uploaded (central mirror)', r.baseline === null ? '—' : mib(r.baseline.seedUploaded), r.baseline === null ? '' : `${x(r.baseline.seedUploaded / r.payload.bytes)} payload`],
      ['fleet fetched from peers (total)', mib(r.fleetFetched), `${x(r.fleetFetched / r.payload.bytes)} payload`]
    ]),
    '',
    table([
      ['node', 'site', 'policy', 'starts', 'head s', 'done s', 'uploaded', 'downloaded', 'CPU s', 'asks', 'lookups'],
      ...r.perNode.map(n => [n.index === 0 ? '0 (seed)' : String(n.index), n.site ?? '', n.policy, n.starts, s(n.headAt), s(n.completeAt), mib(n.uploaded), mib(n.downloaded), s(n.cpuSeconds), n.control?.asked ?? '—', n.control?.lookups ?? '—'])
    ]),
    '',
    r.converged ? 'every node holds the payload' : 'NOT CONVERGED within the timeout'
  ]
  return lines.join('\n')
}
