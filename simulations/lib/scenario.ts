/**
 * Scenarios: one JSON file drives both the real fleet (`simulations/fleet/`) and the model
 * (`simulations/model/`), so the two can be compared run for run. Node 0 is the seed.
 */
import { readFile } from 'node:fs/promises'

/** A group of similar blobs: `count` crates of log-uniformly random sizes in [minKiB, maxKiB]. */
export interface PayloadGroup {
  name: string
  count: number
  minKiB: number
  maxKiB: number
}

/** Link capacity of a node (MiB/s; absent = not limited). */
export interface LinkSpec {
  upMiBps?: number
  downMiBps?: number
}

/** Something that happens `at` seconds after the payload landed at the seed. */
export interface ScenarioEvent {
  at: number
  /**
   * crash: SIGKILL; leave: SIGTERM; join: first start (the node is absent before); restart: start
   * again after a crash or leave; cut: site `site` loses every link to the other sites; heal: one
   * link between `site` and the seed's site reappears (its first node bootstraps to the seed).
   */
  action: 'crash' | 'leave' | 'join' | 'restart' | 'cut' | 'heal'
  nodes?: number[]
  site?: string
}

/** A whole scenario. */
export interface Scenario {
  name: string
  description?: string
  /** Nodes including the seed. */
  nodes: number
  payload: { seed: number, groups: PayloadGroup[] }
  /**
   * Every node's link (the LAN), and optional per-node overrides by index. `emulation`: where the
   * caps apply — `node` (default): in each node's data plane (`serve --emulate-link`, no extra
   * hop); `proxy`: a proxy in the harness in front of each data plane, which also refuses
   * connections across a cut (used whenever the scenario has sites).
   */
  links?: LinkSpec & { perNode?: Record<string, LinkSpec>, emulation?: 'node' | 'proxy' }
  /** Replication policy of peers (the seed holds everything); per-node overrides by index. */
  policy?: 'full' | 'on-demand'
  policies?: Record<string, 'full' | 'on-demand'>
  events?: ScenarioEvent[]
  /** Site name → node indexes; nodes of one site bootstrap only to each other (the seed's site to the seed). */
  sites?: Record<string, number[]>
  /**
   * Also measure every node pulling the payload from the seed alone (the central mirror): `true`
   * to the end (N·S/B: long), or over a window whose rates are extrapolated.
   */
  baseline?: boolean | { windowSeconds: number }
  /** Give up after this many seconds without convergence. */
  timeoutSeconds?: number
}

/** One blob of the payload (sizes are payload bytes; the crate file adds ~1.5 KiB of tar/gzip framing). */
export interface PayloadItem {
  name: string
  version: string
  payload: number
}

/** Load and check a scenario file. */
export async function loadScenario (file: string): Promise<Scenario> {
  const scenario = JSON.parse(await readFile(file, 'utf8')) as Scenario
  checkScenario(scenario)
  return scenario
}

/** Throw a RangeError naming the first thing wrong with `s`. */
export function checkScenario (s: Scenario): void {
  if (!Number.isInteger(s.nodes) || s.nodes < 2) throw new RangeError('scenario.nodes must be an integer ≥ 2 (the seed and at least one peer)')
  if (!Array.isArray(s.payload?.groups) || s.payload.groups.length === 0) throw new RangeError('scenario.payload.groups must list at least one group')
  for (const g of s.payload.groups) {
    if (!/^[a-z][a-z0-9-]*$/.test(g.name) || !(g.count > 0) || !(g.minKiB > 0) || !(g.maxKiB >= g.minKiB)) throw new RangeError(`bad payload group ${JSON.stringify(g)}`)
  }
  for (const e of s.events ?? []) {
    if (!(e.at >= 0)) throw new RangeError(`event ${JSON.stringify(e)}: "at" must be ≥ 0 seconds`)
    for (const n of e.nodes ?? []) if (!Number.isInteger(n) || n < 1 || n >= s.nodes) throw new RangeError(`event ${JSON.stringify(e)}: nodes are 1..${s.nodes - 1} (0 is the seed)`)
    if ((e.action === 'cut' || e.action === 'heal') && (e.site === undefined || s.sites?.[e.site] === undefined)) throw new RangeError(`event ${JSON.stringify(e)} names no known site`)
  }
}

/** A small deterministic PRNG (mulberry32). */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** The scenario's blobs: deterministic names and sizes. */
export function payloadItems (s: Scenario): PayloadItem[] {
  const next = rng(s.payload.seed)
  const out: PayloadItem[] = []
  for (const g of s.payload.groups) {
    for (let i = 0; i < g.count; i++) {
      const kib = g.minKiB * (g.maxKiB / g.minKiB) ** next()
      out.push({ name: `sim-${g.name}`, version: `1.0.${i}`, payload: Math.round(kib * 1024) })
    }
  }
  return out
}

/** A node's link in bytes per second (undefined = not limited). */
export function linkOf (s: Scenario, node: number): { up?: number, down?: number } {
  const spec = { ...s.links, ...s.links?.perNode?.[String(node)] }
  const bps = (mib?: number): number | undefined => mib === undefined ? undefined : mib * 2 ** 20
  return { up: bps(spec.upMiBps), down: bps(spec.downMiBps) }
}

/** A node's replication policy. */
export function policyOf (s: Scenario, node: number): 'full' | 'on-demand' {
  return node === 0 ? 'full' : s.policies?.[String(node)] ?? s.policy ?? 'full'
}

/** The site a node belongs to (undefined: one LAN). */
export function siteOf (s: Scenario, node: number): string | undefined {
  for (const [name, members] of Object.entries(s.sites ?? {})) if (members.includes(node)) return name
  return undefined
}
