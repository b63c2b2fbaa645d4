/**
 * Mesh benchmarks' plumbing: real `mirrormesh serve` processes on loopback (ephemeral ports, no
 * mDNS), a publisher that signs bundles of benchmark crates, and HTTP drains that time the first
 * and the last body byte. Every process started here is tracked and killed by `stopAll`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { get, type IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { cidFromSha256Hex } from '../../../src/store/cid.ts'
import { CLI, NODE, cpuOf, mirrormesh } from './proc.ts'

/** A running node process. */
export interface BenchNode {
  name: string
  home: string
  gateway: string
  peerId: string
  addrs: string[]
  child: ChildProcess
  output: () => string
}

const running = new Set<BenchNode>()

/** How to start a node: Node flags (e.g. `--cpu-prof`), extra env (e.g. `MIRRORMESH_LOG=debug`), where its output goes, and which checkout's CLI runs it (for before/after comparisons). */
export interface NodeOptions {
  nodeArgs?: string[]
  env?: Record<string, string>
  logFile?: string
  cli?: string
}

/** The CLI of another checkout (`--checkout DIR` of the benchmarks), or this one. */
export function cliOf (checkout?: string): string {
  return checkout === undefined ? CLI : join(checkout, 'bin', 'mirrormesh.js')
}

/** Start `mirrormesh serve` on `home`; resolves with its ready line. */
export async function startNode (name: string, home: string, extra: string[] = [], options: NodeOptions = {}): Promise<BenchNode> {
  const args = [...(options.nodeArgs ?? []), options.cli ?? CLI, '--home', home, '--json', 'serve', '--gateway', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-plane', '127.0.0.1:0', '--no-mdns', ...extra]
  const child = spawn(NODE, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MIRRORMESH_LOG: 'warn', ...options.env } })
  let output = ''
  let stdout = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-50_000) })
  if (options.logFile !== undefined) {
    const file = createWriteStream(options.logFile, { flags: 'a' })
    child.stderr.pipe(file)
    child.stdout.pipe(file)
  }
  const ready = await new Promise<{ gateway: string, peerId: string, addrs: string[] }>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} did not start in 60 s: ${output}`)) }, 60_000)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      const line = stdout.split('\n').find(l => l.startsWith('{"ready"'))
      if (line !== undefined) { clearTimeout(timer); resolve((JSON.parse(line) as { ready: { gateway: string, peerId: string, addrs: string[] } }).ready) }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`${name} exited with ${String(code)}: ${output}`)) })
  })
  const node: BenchNode = { name, home, gateway: ready.gateway, peerId: ready.peerId, addrs: ready.addrs, child, output: () => output }
  running.add(node)
  return node
}

/** Stop one node (SIGTERM, SIGKILL after 10 s) and wait for it to exit. */
export async function stopNode (node: BenchNode): Promise<void> {
  running.delete(node)
  const child = node.child
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

/** Stop every node started here. */
export async function stopAll (): Promise<void> {
  await Promise.all([...running].map(stopNode))
}

/** Start nodes `batch` at a time (each start costs ~1–2 s of CPU). */
export async function startMany (specs: Array<NodeOptions & { name: string, home: string, extra?: string[] }>, batch = 4): Promise<BenchNode[]> {
  const out: BenchNode[] = []
  for (let i = 0; i < specs.length; i += batch) {
    out.push(...await Promise.all(specs.slice(i, i + batch).map(async s => await startNode(s.name, s.home, s.extra, s))))
  }
  return out
}

/** A node's `/api/status`. */
export async function status (node: BenchNode): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${node.gateway}/api/status`)
  return await res.json() as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The seq a node holds for `publisher` (or null). */
export async function seqOf (node: BenchNode, publisher: string): Promise<number | null> {
  const s = await status(node)
  return (s.publishers as Array<{ publisher: string, seq: number | null }>).find(p => p.publisher === publisher)?.seq ?? null
}

/** Poll `check` every `everyMs` until true; throws after `timeoutMs`. */
export async function waitFor (what: string, check: () => Promise<boolean>, timeoutMs = 60_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`)
}

/**
 * Wait until `nodes` together use less than `cores` of CPU over a `windowMs` window (at most
 * `timeoutMs`): a mesh that just started spends its first seconds on DHT refreshes, identify and
 * announcements, and latencies measured then are the machine's run queue, not the mesh at rest.
 * Returns the cores used in the last window.
 */
export async function waitForRest (nodes: BenchNode[], cores = 0.6, windowMs = 2_000, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  const total = (): number => nodes.reduce((sum, n) => sum + (cpuOf(n.child.pid ?? 0) ?? 0), 0)
  let used = Infinity
  while (Date.now() < deadline) {
    const before = total()
    await new Promise(resolve => setTimeout(resolve, windowMs))
    used = (total() - before) / windowMs
    if (used < cores) break
  }
  return used
}

/** A publisher key, for signing bundles. */
export interface Publisher {
  key: string
  publisher: string
  home: string
}

/** Create a publisher key in `dir`. */
export async function newPublisher (dir: string): Promise<Publisher> {
  const key = join(dir, 'publisher.key')
  const r = await mirrormesh(join(dir, 'publisher'), ['key', 'new', '--out', key])
  const publisher = (JSON.parse(r.stdout) as { publisher: string }).publisher
  return { key, publisher, home: join(dir, 'publisher') }
}

/** Sign a bundle of the crates in `crates` (a delta on the bundle `base`, when given). */
export async function makeBundle (pub: Publisher, crates: string, out: string, base?: string): Promise<void> {
  await mirrormesh(pub.home, ['bundle', 'create', '--key', pub.key, '--crates', crates, '--out', out, ...(base === undefined ? [] : ['--base', base])])
}

/** Trust `publisher` in `home` (and import `bundle` when given): a seed or a peer, before it starts. */
export async function prepareHome (home: string, publisher: string, bundle?: string): Promise<void> {
  await mirrormesh(home, ['key', 'trust', publisher])
  if (bundle !== undefined) await mirrormesh(home, ['import', bundle])
}

/** The blob CID (string) of a file. */
export async function cidOfFile (file: string): Promise<string> {
  return cidFromSha256Hex(createHash('sha256').update(await readFile(file)).digest('hex')).toString()
}

/** What one HTTP GET took. */
export interface Drain {
  status: number
  bytes: number
  /** ms from sending the request to the response headers, the first body byte, the last one. */
  headersMs: number
  firstByteMs: number
  totalMs: number
  sha256?: string
}

/**
 * GET `url` and read the body to the end, timing it; `hash` also hashes it (costs CPU); `toFile`
 * writes it to that file as it comes and fsyncs it before the clock stops — what a client of a
 * plain HTTP mirror does to keep a blob (cargo and brew check its sha256 too).
 */
export async function drain (url: string, options: { hash?: boolean, timeoutMs?: number, toFile?: string } = {}): Promise<Drain> {
  const started = performance.now()
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = get(url, resolve)
    req.setTimeout(options.timeoutMs ?? 120_000, () => req.destroy(new Error(`GET ${url} timed out`)))
    req.on('error', reject)
  })
  const headersMs = performance.now() - started
  const hash = options.hash === true ? createHash('sha256') : undefined
  const out = options.toFile === undefined ? undefined : createWriteStream(options.toFile)
  let bytes = 0
  let firstByteMs = -1
  for await (const data of res) {
    if (firstByteMs < 0) firstByteMs = performance.now() - started
    bytes += (data as Buffer).length
    hash?.update(data as Buffer)
    if (out !== undefined && !out.write(data)) await once(out, 'drain')
  }
  if (out !== undefined && options.toFile !== undefined) {
    out.end()
    await once(out, 'close')
    const file = await open(options.toFile, 'r+')
    await file.sync() // the dirty pages of the inode, whichever descriptor wrote them
    await file.close()
  }
  const totalMs = performance.now() - started
  if (!res.complete) throw new Error(`GET ${url}: connection closed after ${bytes} bytes`)
  return { status: res.statusCode ?? 0, bytes, headersMs, firstByteMs, totalMs, sha256: hash?.digest('hex') }
}
