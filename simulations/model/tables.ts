/** Markdown tables of model results (printed by the scripts, pasted into docs/performance.md). */
import type { ScalePoint } from './scaling.ts'

/** A figure to `places` places; '—' when there is none. */
const fixed = (places: number) => (v: number | null | undefined): string => v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(places)
export const f1 = fixed(1)
/** Ratios against a target such as 1.5×, to two places. */
export const f2 = fixed(2)

/** The scaling table: completion against S/B and against a central mirror. */
export function scalingTable (points: ScalePoint[]): string {
  const rows = points.map(p => {
    const done = p.truncated ? `> ${f1(p.simulatedSeconds)} (${(p.doneFraction * 100).toFixed(0)} % done when the ${p.wallSeconds.toFixed(0)} s budget ran out)` : f1(p.completion.max)
    const ratio = p.truncated ? `> ${f2(p.simulatedSeconds / p.boundSeconds)}×` : `${f2(p.completion.max / p.boundSeconds)}×`
    const central = p.truncated ? '—' : `${f1(p.centralSeconds / p.completion.max)}×`
    return `| ${p.nodes.toLocaleString('en')} | ${f1(p.boundSeconds)} | ${f1(p.centralSeconds)} | ${f1(p.completion.p50)} | ${done} | ${ratio} | ${central} | ${f2(p.seedEgress)}× |`
  })
  return [
    '| N | S/B (s) | central mirror (N−1)·S/B (s) | mesh p50 (s) | mesh, last node (s) | last / (S/B) | central / mesh | seed egress (payloads) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows
  ].join('\n')
}
