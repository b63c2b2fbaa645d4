/**
 * A fleet of real `mirrormesh serve` processes on loopback, driven by a scenario: node 0 is the
 * seed, the others replicate from it and from each other. When the scenario caps bandwidth, each
 * node's data plane paces itself (`serve --emulate-link`); scenarios with sites use `ThrottleProxy`
 * instead (one per node, in front of its data plane), which can also refuse a connection across a cut.
 *
 * Partitions between sites are made the honest way a loopback fleet allows: a node's peer store
 * lives in memory, so restarting every node of a site with `--bootstrap` only to its own site
 * drops every connection to the others and forgets their addresses (and the data-plane proxies
 * refuse connections across a cut, in case an address leaks). Healing restarts one node of the
 * site with `--bootstrap` to the seed as well: one link between the sites reappears.
 */
import { readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { TokenBucket } from '../../src/util/token-bucket.ts'
import { nodeStatus, startNode, type NodeProcess } from '../lib/node-process.ts'
import { linkOf, policyOf, siteOf, type Scenario } from '../lib/scenario.ts'
import { ThrottleProxy, type Link } from '../lib/throttle-proxy.ts'
import { trustIn } from './payload.ts'

/** One node of the fleet, across its restarts. */
export interface Member {
  index: number
  home: string
  site: string | undefined
  policy: 'full' | 'on-demand'
  proxy: ThrottleProxy | undefined
  process: NodeProcess | undefined
  state: 'absent' | 'running' | 'down'
  starts: number
  /** Product counters (bytes served to / fetched from peers) of earlier incarnations, and the last seen. */
  served: number
  fetched: number
  lastServed: number
  lastFetched: number
  /** CPU seconds of earlier incarnations, and of the current one when last sampled. */
  cpu: number
  lastCpu: number
}

/** User + system CPU seconds of a live process (Linux /proc; USER_HZ = 100). */
function cpuSeconds (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

/** `serve --emulate-link` for a link (bytes/s), or nothing when it is not capped. */
function emulatedLink (link: { up?: number, down?: number }): string[] {
  if (link.up === undefined && link.down === undefined) return []
  const mib = (v: number | undefined): string => v === undefined ? '' : String(v / 2 ** 20)
  return ['--emulate-link', `${mib(link.up)}:${mib(link.down)}`]
}

/** The fleet. */
export class Fleet {
  readonly scenario: Scenario
  readonly dir: string
  readonly members: Member[]
  readonly links: Link[]
  /** bytes[from][to]: bytes `from` uploaded to `to` through the link emulation (to = N: an outside process). */
  readonly bytes: number[][]
  readonly #cut = new Set<string>()
  readonly #log: (line: string) => void

  constructor (scenario: Scenario, dir: string, log: (line: string) => void = () => {}) {
    this.scenario = scenario
    this.dir = dir
    this.#log = log
    const n = scenario.nodes
    this.links = Array.from({ length: n }, (_, i) => {
      const { up, down } = linkOf(scenario, i)
      return { up: up === undefined ? undefined : new TokenBucket(up), down: down === undefined ? undefined : new TokenBucket(down) }
    })
    this.bytes = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0))
    // A site without the seed starts cut off: its nodes know only each other until a `heal`.
    const seedSite = siteOf(scenario, 0)
    for (const site of Object.keys(scenario.sites ?? {})) if (site !== seedSite) this.#cut.add(site)
    const limited = this.links.some(l => l.up !== undefined || l.down !== undefined)
    // The proxy costs the harness a copy of every byte (half a core at N = 20): only where cuts need it.
    const proxied = limited && (scenario.links?.emulation === 'proxy' || scenario.sites !== undefined)
    const table = {
      pids: () => new Map(this.members.flatMap(m => m.state === 'running' && m.process !== undefined ? [[m.process.pid, m.index] as [number, number]] : [])),
      link: (i: number) => this.links[i] ?? {},
      reachable: (from: number, to: number) => this.reachable(from, to),
      count: (from: number, to: number, bytes: number) => {
        const row = this.bytes[from] as number[]
        const col = to < 0 ? n : to
        row[col] = (row[col] ?? 0) + bytes
      }
    }
    this.members = Array.from({ length: n }, (_, index) => ({
      index,
      home: join(dir, `node-${index}`),
      site: siteOf(scenario, index),
      policy: policyOf(scenario, index),
      proxy: proxied ? new ThrottleProxy(index, table) : undefined,
      process: undefined,
      state: 'absent',
      starts: 0,
      served: 0,
      fetched: 0,
      lastServed: 0,
      lastFetched: 0,
      cpu: 0,
      lastCpu: 0
    }))
  }

  get seed (): Member { return this.members[0] as Member }

  /** Whether bytes may flow between two nodes now (not across a cut between sites). */
  reachable (a: number, b: number): boolean {
    const [sa, sb] = [this.members[a]?.site, this.members[b]?.site]
    if (sa === sb) return true
    return !(sa !== undefined && this.#cut.has(sa)) && !(sb !== undefined && this.#cut.has(sb))
  }

  /** Create every home, trusting `publisher`; listen the link proxies. */
  async prepare (publisher: string): Promise<void> {
    for (const m of this.members) {
      await mkdir(m.home, { recursive: true })
      await trustIn(m.home, publisher)
      await m.proxy?.listen()
    }
  }

  /** Addresses a (re)starting node bootstraps to: the seed if in its site, plus two running peers of its site. */
  #bootstrapFor (m: Member, extra: Member[] = []): string[] {
    const sameSite = this.members.filter(o => o !== m && o.state === 'running' && o.site === m.site && this.reachable(o.index, m.index))
    const seed = this.seed.state === 'running' && this.seed !== m && this.seed.site === m.site ? [this.seed] : []
    const peers = sameSite.filter(o => o.index !== 0).sort(() => Math.random() - 0.5).slice(0, 2)
    return [...new Set([...seed, ...peers, ...extra])].flatMap(o => o.process?.addrs.slice(0, 1) ?? [])
  }

  /** Start (or restart) a node. */
  async start (index: number, extra: Member[] = []): Promise<void> {
    const m = this.members[index] as Member
    if (m.state === 'running') return
    const bootstrap = this.#bootstrapFor(m, extra)
    m.process = await startNode(m.home, {
      bootstrap,
      replicate: index === 0 ? undefined : m.policy,
      dataPlane: m.proxy === undefined ? '127.0.0.1:0' : `127.0.0.2:${m.proxy.port}`,
      extra: m.proxy === undefined ? emulatedLink(linkOf(this.scenario, index)) : [],
      logFile: `${m.home}.log`
    })
    m.state = 'running'
    m.starts++
    m.lastServed = 0
    m.lastFetched = 0
    m.lastCpu = 0
    this.#log(`node ${index} ${m.starts > 1 ? 're' : ''}started (bootstrap to ${bootstrap.length})`)
  }

  /** Stop a node: SIGTERM (leave) or SIGKILL (crash). */
  async down (index: number, how: 'leave' | 'crash'): Promise<void> {
    const m = this.members[index] as Member
    if (m.state !== 'running' || m.process === undefined) return
    await this.#sample(m)
    if (how === 'crash') await m.process.kill()
    else await m.process.stop()
    m.proxy?.dropAll()
    m.served += m.lastServed
    m.fetched += m.lastFetched
    m.cpu += m.lastCpu
    m.lastServed = m.lastFetched = m.lastCpu = 0
    m.state = 'down'
    this.#log(`node ${index} ${how === 'crash' ? 'crashed' : 'left'}`)
  }

  /** Cut `site` off: every one of its running nodes restarts knowing only its own site. */
  async cut (site: string): Promise<void> {
    this.#cut.add(site)
    const members = this.members.filter(m => m.site === site && m.state === 'running')
    for (const m of members) await this.down(m.index, 'leave')
    for (const m of this.members) if (m.site !== site) m.proxy?.dropAll()
    for (const m of members) await this.start(m.index)
    this.#log(`site ${site} cut off`)
  }

  /** One link between `site` and the seed reappears: its first running node restarts with the seed as well. */
  async heal (site: string): Promise<void> {
    this.#cut.delete(site)
    const bridge = this.members.find(m => m.site === site && m.state === 'running')
    if (bridge === undefined) return
    await this.down(bridge.index, 'leave')
    await this.start(bridge.index, this.seed.state === 'running' ? [this.seed] : [])
    this.#log(`site ${site} linked again through node ${bridge.index}`)
  }

  /** Poll a running node's status, remembering its byte counters. */
  async #sample (m: Member): Promise<Record<string, any> | undefined> { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (m.state !== 'running' || m.process === undefined) return undefined
    m.lastCpu = cpuSeconds(m.process.pid) ?? m.lastCpu
    try {
      const s = await nodeStatus(m.process.gateway)
      m.lastServed = Number(s.bytesServedToPeers ?? 0)
      m.lastFetched = Number(s.bytesFetchedFromPeers ?? 0)
      return s
    } catch {
      return undefined
    }
  }

  /** Status of a running node (undefined when down or not answering). */
  async status (index: number): Promise<Record<string, any> | undefined> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return await this.#sample(this.members[index] as Member)
  }

  /** Bytes a node uploaded: measured at its link if emulated, else the node's own counter. */
  uploaded (index: number): number {
    const m = this.members[index] as Member
    return m.proxy === undefined ? m.served + m.lastServed : (this.bytes[index] as number[]).reduce((a, b) => a + b, 0)
  }

  /** Bytes a node downloaded from peers (same sources as `uploaded`). */
  downloaded (index: number): number {
    const m = this.members[index] as Member
    return m.proxy === undefined ? m.fetched + m.lastFetched : this.bytes.reduce((sum, row) => sum + (row[index] ?? 0), 0)
  }

  /** CPU seconds a node's processes used so far (as last sampled). */
  cpuOf (index: number): number {
    const m = this.members[index] as Member
    return m.cpu + m.lastCpu
  }

  /** Sample every running node's CPU time now. */
  sampleCpu (): void {
    for (const m of this.members) if (m.state === 'running' && m.process !== undefined) m.lastCpu = cpuSeconds(m.process.pid) ?? m.lastCpu
  }

  /** Stop every node and proxy (each process is one we started). */
  async close (): Promise<void> {
    await Promise.all(this.members.map(async m => {
      if (m.state === 'running') await m.process?.stop().catch(async () => await m.process?.kill())
      m.state = 'down'
      await m.proxy?.close()
    }))
  }
}
