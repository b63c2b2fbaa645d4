/**
 * The data plane alone (docs/performance.md, "Mesh"): one process serves a blob file through the
 * real `DataPlane` and pulls it back in chunk-sized ranges, 3 at a time (the fetcher's per-source limit),
 * hashing each range as the fetcher does. No libp2p, no other processes: the CPU cost per byte of
 * serving and receiving, which the mesh benchmarks' wall times on a shared machine blur.
 *   - client: `DataPlaneClient` (plain sockets) vs Node's `http.request` with a keep-alive agent;
 *   - server: this checkout's `DataPlane`, or (`--compare DIR`) the one of the checkout at DIR.
 *
 *   node simulations/bench/mesh-data-plane.ts [--size-mib 256] [--runs 5] [--compare DIR] [--json FILE]
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { Agent, request, type IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { DataPlaneClient } from '../../src/mesh/data-plane.ts'
import { Tickets } from '../../src/mesh/tickets.ts'
import { cidFromSha256Hex } from '../../src/store/cid.ts'
import { CHUNK_SIZE } from '../../src/store/hash.ts'
import { writeCrateFile } from './lib/data.ts'
import { ROOT } from './lib/proc.ts'
import { fixed, machine, mbps, median, table } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
    compare: { type: 'string' },
    json: { type: 'string' }
  }
})
const RUNS = Math.max(1, Number(flags.runs))
const CHUNK = CHUNK_SIZE
const PARALLEL = 3

/** The part of `DataPlane` this benchmark uses (both checkouts have it). */
interface Server { port: number, listen: (host: string, port: number) => Promise<void>, close: () => Promise<void> }
type ServerClass = new (sources: { store: unknown, tickets: Tickets, download: () => undefined }) => Server
type Get = (port: number, path: string, headers: Record<string, string>) => Promise<{ status: number, body: AsyncIterable<Buffer> }>

async function serverClass (checkout: string): Promise<ServerClass> {
  return (await import(pathToFileURL(join(checkout, 'src', 'mesh', 'data-plane.ts')).href) as { DataPlane: ServerClass }).DataPlane
}

/** Pull the whole blob in ranges; CPU ms of this process and wall ms. */
async function pull (get: Get, port: number, cid: string, ticket: string, size: number): Promise<{ wallMs: number, cpuMs: number }> {
  const started = performance.now()
  const cpu = process.cpuUsage()
  const count = Math.ceil(size / CHUNK)
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const start = i * CHUNK
      const end = Math.min(size, start + CHUNK) - 1
      const res = await get(port, `/p2p/blobs/${cid}`, { authorization: `Bearer ${ticket}`, range: `bytes=${start}-${end}` })
      if (res.status !== 206) throw new Error(`data plane answered ${res.status}`)
      const hash = createHash('sha256')
      let bytes = 0
      for await (const data of res.body) { hash.update(data); bytes += data.length }
      if (bytes !== end - start + 1) throw new Error(`range ${i}: ${bytes} bytes`)
      hash.digest()
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker))
  const used = process.cpuUsage(cpu)
  return { wallMs: performance.now() - started, cpuMs: (used.user + used.system) / 1000 }
}

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mirrormesh-bench-data-plane-'))
  try {
    await mkdir(join(work, 'crates'))
    const file = await writeCrateFile(join(work, 'crates'), 'dp', '1.0.0', Number(flags['size-mib']) << 20)
    const size = (await stat(file)).size
    const hex = createHash('sha256').update(await (await import('node:fs/promises')).readFile(file)).digest('hex')
    const cid = cidFromSha256Hex(hex).toString()
    const tickets = new Tickets()
    const ticket = tickets.issue(cid)
    const store = { size: async () => size, path: () => file }
    const agent = new Agent({ keepAlive: true, maxSockets: 16 })
    const client = new DataPlaneClient()
    const clients: Record<string, Get> = {
      DataPlaneClient: async (port, path, headers) => await client.get(`http://127.0.0.1:${port}`, path, headers),
      'http.request': async (port, path, headers) => await new Promise((resolve, reject) => {
        const req = request(`http://127.0.0.1:${port}${path}`, { agent, headers }, (res: IncomingMessage) => resolve({ status: res.statusCode ?? 0, body: res }))
        req.on('error', reject)
        req.end()
      })
    }
    const servers: Record<string, ServerClass> = { [ROOT]: await serverClass(ROOT) }
    if (flags.compare !== undefined) servers[flags.compare] = await serverClass(flags.compare)
    const results: Record<string, Array<{ wallMs: number, cpuMs: number }>> = {}
    const running: Record<string, Server> = {}
    for (const [name, Server] of Object.entries(servers)) {
      running[name] = new Server({ store, tickets, download: () => undefined })
      await running[name].listen('127.0.0.1', 0)
    }
    for (let r = 0; r < RUNS; r++) {
      for (const [serverName, server] of Object.entries(running)) {
        for (const [clientName, get] of Object.entries(clients)) {
          const key = `${serverName === ROOT ? 'this checkout' : serverName} server, ${clientName}`
          ;(results[key] ??= []).push(await pull(get, server.port, cid, ticket, size))
        }
      }
      process.stderr.write(`run ${r + 1}/${RUNS}\n`)
    }
    for (const server of Object.values(running)) await server.close()
    client.destroy()
    agent.destroy()
    const rows = Object.entries(results).map(([key, list]) => [key, fixed(median(list.map(x => mbps(size, x.wallMs)))), fixed(median(list.map(x => x.cpuMs)) / 1000, 2), fixed(median(list.map(x => x.cpuMs)) / (size / 2 ** 30) / 1000, 2)])
    const report = `Data plane alone: ${fixed(size / 2 ** 20, 0)} MiB in ${fixed(CHUNK / 2 ** 20, 0)} MiB ranges, ${PARALLEL} at a time, each hashed; server and client in one process; ${RUNS} runs, medians.\n\n` +
      table(['server, client', 'MB/s', 'CPU s (both ends)', 'CPU s per GiB'], rows)
    process.stdout.write(`${report}\n`)
    const out = flags.json ?? join(ROOT, 'simulations', 'out', 'mesh-data-plane.json')
    await mkdir(join(out, '..'), { recursive: true })
    await writeFile(out, JSON.stringify({ machine: await machine(), date: new Date().toISOString(), sizeBytes: size, results, report }, null, 2))
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

await main()
