/**
 * The model at fleet sizes the loopback fleet cannot reach: the default scenario's payload on a
 * 1 GbE LAN (every node 118 MB/s up and down), N = 10 … 10,000, against the physical bound S/B
 * and a central mirror's N·S/B.
 */
import { loadScenario, type Scenario } from '../lib/scenario.ts'
import { quantile, round } from '../lib/stats.ts'
import { fromScenario, GBE, LAN, PROTOCOL, type Protocol } from './params.ts'
import { Swarm } from './swarm.ts'

/** One fleet size. */
export interface ScalePoint {
  nodes: number
  payloadBytes: number
  linkBytesPerSecond: number
  /** S/B and N·S/B (the central mirror: the seed's link carries the payload to every other node). */
  boundSeconds: number
  centralSeconds: number
  completion: { p50: number, p95: number, max: number }
  /** Nodes done when the run ended (< 1 when truncated). */
  doneFraction: number
  seedEgress: number
  truncated: boolean
  simulatedSeconds: number
  wallSeconds: number
}

/** Run the model for each N (each within `wallBudget` seconds). */
export async function scaling (scenarioFile: string, sizes: number[], options: { wallBudget?: (n: number) => number, log?: (line: string) => void, protocol?: Partial<Protocol> } = {}): Promise<ScalePoint[]> {
  const base: Scenario = await loadScenario(scenarioFile)
  const lan: Scenario = { ...base, links: { upMiBps: GBE / 2 ** 20, downMiBps: GBE / 2 ** 20 }, events: [], sites: undefined }
  const out: ScalePoint[] = []
  for (const n of sizes) {
    const p = fromScenario({ ...lan, nodes: n }, { env: LAN })
    p.maxWallSeconds = options.wallBudget?.(n) ?? 900
    p.protocol = { ...PROTOCOL, ...options.protocol }
    const r = new Swarm(p).run()
    const done = r.completion.filter(Number.isFinite)
    const S = r.payloadBytes
    const point: ScalePoint = {
      nodes: n,
      payloadBytes: S,
      linkBytesPerSecond: GBE,
      boundSeconds: round(S / GBE),
      centralSeconds: round((n - 1) * S / GBE),
      completion: { p50: round(quantile(done, 0.5)), p95: round(quantile(done, 0.95)), max: r.truncated || done.length < r.completion.length ? Number.NaN : round(Math.max(...done)) },
      doneFraction: round(done.length / Math.max(1, r.completion.length)),
      seedEgress: round((r.uploaded[0] ?? 0) / S),
      truncated: r.truncated,
      simulatedSeconds: round(r.simulatedSeconds),
      wallSeconds: round(r.wallSeconds, 1)
    }
    options.log?.(`N = ${n}: ${point.truncated ? `stopped after ${point.wallSeconds} s of wall time at t = ${point.simulatedSeconds} s, ${(point.doneFraction * 100).toFixed(0)} % of nodes done` : `completion ${point.completion.max} s = ${(point.completion.max / point.boundSeconds).toFixed(1)} × S/B`}; seed egress ${point.seedEgress}×`)
    out.push(point)
  }
  return out
}
