/**
 * The figures of `docs/performance.md` ("Fleet and model"), drawn from the runs' JSON: the
 * completion-time CDF (fleet, model, central mirror), the seed's egress against N, and mesh
 * against central mirror against the physical bound.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FleetResult } from '../fleet/simulate.ts'
import { cdf, lineChart, type Series } from '../lib/svg.ts'
import type { ScalePoint } from './scaling.ts'

/** Where the figures go. */
export const FIGURES = fileURLToPath(new URL('../../docs/figures/', import.meta.url))

/** What the figures are drawn from (any part may be missing). */
export interface FigureData {
  fleet?: FleetResult
  /** Model completion times (s) for the fleet's scenario, one array per model run. */
  model?: number[][]
  scaling?: ScalePoint[]
}

/** Write every figure the data allow; returns the files written. */
export async function writeFigures (d: FigureData): Promise<string[]> {
  await mkdir(FIGURES, { recursive: true })
  const written: string[] = []
  const write = async (name: string, svg: string): Promise<void> => {
    await writeFile(FIGURES + name, svg)
    written.push(`docs/figures/${name}`)
  }
  if (d.fleet !== undefined) {
    const series: Series[] = [{ name: `fleet, mesh (N = ${d.fleet.nodes}, real processes)`, points: cdf(d.fleet.completionTimes), step: true }]
    for (const [i, run] of (d.model ?? []).entries()) series.push({ name: i === 0 ? 'model, same scenario' : '', points: cdf(run), step: true, dashed: true, color: '#2ca02c' })
    if (d.fleet.baseline !== null) series.push({ name: `central mirror${d.fleet.baseline.extrapolatedFromSeconds === null ? '' : ' (rates of a window, extrapolated)'}`, points: cdf(d.fleet.baseline.completionTimes), step: true, color: '#d62728' })
    if (d.fleet.boundSeconds !== null) series.push({ name: 'physical bound S/B', points: [[d.fleet.boundSeconds, 0], [d.fleet.boundSeconds, 1]], color: '#7f7f7f', dashed: true })
    await write('fleet-completion-cdf.svg', lineChart({
      title: `Time until a node holds the payload (${(d.fleet.payload.bytes / 2 ** 20).toFixed(0)} MiB, ${d.fleet.links.upMiBps ?? '∞'} MiB/s links)`,
      xLabel: 'seconds after the payload landed at the seed',
      yLabel: 'fraction of nodes',
      series: series.filter(s => s.name !== '' || s.points.length > 0),
      yMin: 0,
      yMax: 1,
      xMin: 0
    }))
  }
  if (d.scaling !== undefined && d.scaling.length > 0) {
    const ok = d.scaling.filter(p => !p.truncated)
    const egress: Series[] = [
      { name: 'model, mesh (1 GbE)', points: d.scaling.map(p => [p.nodes, p.seedEgress]), markers: true },
      { name: 'central mirror (N − 1)', points: d.scaling.map(p => [p.nodes, p.nodes - 1]), dashed: true, color: '#d62728' },
      { name: 'target: 2 × payload', points: d.scaling.map(p => [p.nodes, 2]), dashed: true, color: '#7f7f7f' }
    ]
    if (d.fleet !== undefined) egress.push({ name: `fleet, real processes (N = ${d.fleet.nodes})`, points: [[d.fleet.nodes, d.fleet.ratios.seedEgress]], markers: true, line: false, color: '#ff7f0e' })
    await write('seed-egress-vs-n.svg', lineChart({
      title: 'Bytes the seed uploads, in payloads',
      xLabel: 'nodes N (log)',
      yLabel: 'seed upload / payload (log)',
      xLog: true,
      yLog: true,
      series: egress
    }))
    const time: Series[] = [
      { name: 'model, mesh: last node done', points: ok.map(p => [p.nodes, p.completion.max]), markers: true },
      { name: 'model, mesh: median node', points: ok.map(p => [p.nodes, p.completion.p50]), markers: true, dashed: true, color: '#2ca02c' },
      { name: 'central mirror (N − 1)·S/B', points: d.scaling.map(p => [p.nodes, p.centralSeconds]), dashed: true, color: '#d62728' },
      { name: 'physical bound S/B', points: d.scaling.map(p => [p.nodes, p.boundSeconds]), dashed: true, color: '#7f7f7f' }
    ]
    const cut = d.scaling.filter(p => p.truncated)
    if (cut.length > 0) time.push({ name: 'model ran out of time: completion above this', points: cut.map(p => [p.nodes, p.simulatedSeconds]), markers: true, line: false, color: '#9467bd' })
    await write('mesh-vs-central.svg', lineChart({
      title: 'Fleet completion time on a 1 GbE LAN (model)',
      xLabel: 'nodes N (log)',
      yLabel: 'seconds (log)',
      xLog: true,
      yLog: true,
      series: time
    }))
  }
  return written
}
