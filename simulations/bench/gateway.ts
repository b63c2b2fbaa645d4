/**
 * Gateway benchmark (docs/performance.md, "Gateway"): the mirrormesh gateway against nginx
 * (`sendfile on`) serving the same bytes at the same URLs on loopback, same load generators, same run.
 *
 *   (a) a 256 MiB blob: 3 sequential downloads, and 4 in parallel (curl) → MB/s
 *   (b) a small cargo index file at 100, 500 and 1000 connections (wrk, keep-alive) → req/s, p99
 *   (c) the gateway's RSS after each phase and its peak (VmHWM)
 *   (d) 30 s at 1000 connections on a mix of index files and .crate blobs → errors, and the
 *       gateway's open file descriptors before and after
 * and, for every run, the CPU time each server spent (nginx: master + workers) per GiB or per
 * request: on a shared, noisy machine throughput swings with the neighbours' load, CPU cost per
 * unit of work much less, and on loopback (where the load generator shares the cores) it is what
 * bounds throughput.
 *
 * Installs nginx, wrk and curl with apt-get if they are missing (as root). Everything listens on
 * 127.0.0.1 only; the node runs with --no-mesh when the CLI has it (no libp2p, no mDNS).
 *
 *   node simulations/bench/gateway.ts [--seconds 10] [--mix-seconds 30] [--rounds 3] [--nginx-workers auto,1] [--dir /tmp] [--json FILE] [--keep]
 *                                     [--compare DIR]   (also run the gateway of the checkout at DIR, e.g. a prototype, as a fourth server)
 */
import { cp, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { sparseIndexPath } from '../../src/cargo/index-path.ts'
import { writeCrateFile } from './lib/data.ts'
import { download, ensureTools, startNginx, waitForHttp, wrk, wrkPathsScript, type WrkResult } from './lib/http.ts'
import { CLI, NODE, cpuOfTree, fdCount, memoryOf, mirrormesh, runOk, sampler, start, stop } from './lib/proc.ts'
import { fixed, machine, mbps, median, mib, table } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'mix-seconds': { type: 'string', default: '30' },
    rounds: { type: 'string', default: '3' },
    'nginx-workers': { type: 'string', default: 'auto,1' },
    dir: { type: 'string', default: tmpdir() },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    compare: { type: 'string' }
  }
})
const seconds = Number(flags.seconds)
const mixSeconds = Number(flags['mix-seconds'])
const rounds = Math.max(1, Number(flags.rounds))
const LEVELS = [100, 500, 1000]
const BLOB_MIB = 256
const log = (text: string): void => { process.stderr.write(`${text}\n`) }

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** The crates: one big blob, one small index file to hammer, and a mix of small and medium crates. */
async function writeInputs (dir: string): Promise<{ crates: Array<{ name: string, version: string, file: string }>, blob: string, index: string }> {
  const crates: Array<{ name: string, version: string, file: string }> = []
  await mkdir(dir, { recursive: true })
  const add = async (name: string, version: string, size: number): Promise<void> => {
    crates.push({ name, version, file: await writeCrateFile(dir, name, version, size) })
  }
  await add('bench-blob', '1.0.0', BLOB_MIB << 20)
  for (let v = 0; v < 8; v++) await add('bench-index', `1.0.${v}`, 2048)
  for (let i = 0; i < 200; i++) for (let v = 0; v < 1 + (i % 3); v++) await add(`bench-mix-${i}`, `0.${v}.0`, 4096 + ((i * 7919 + v * 104729) % (60 << 10)))
  for (let i = 0; i < 10; i++) await add(`bench-mid-${i}`, '1.0.0', (1 + (i % 4)) << 20)
  return { crates, blob: '/cargo/crates/bench-blob/1.0.0/download', index: `/cargo/index/${sparseIndexPath('bench-index')}` }
}

interface Server { name: string, url: string, pid: number }
interface Gateway extends Server { sampler: ReturnType<typeof sampler>, rss: Array<[string, number]>, fds: number[], settleSeconds?: number }

async function main (): Promise<void> {
  const tools = await ensureTools()
  const work = await mkdtemp(join(flags.dir ?? tmpdir(), 'mm-bench-gateway-'))
  const children: Array<{ child: import('node:child_process').ChildProcess }> = []
  try {
    log('writing crates and importing them')
    const inputs = await writeInputs(join(work, 'crates'))
    const key = join(work, 'publisher.key')
    const publisher = (JSON.parse((await mirrormesh(join(work, 'pub'), ['key', 'new', '--out', key])).stdout) as { publisher: string }).publisher
    await mirrormesh(join(work, 'pub'), ['bundle', 'create', '--key', key, '--crates', join(work, 'crates'), '--out', join(work, 'b.mmb')])
    const home = join(work, 'home')
    await mirrormesh(home, ['key', 'trust', publisher])
    await mirrormesh(home, ['import', join(work, 'b.mmb')])
    await rm(join(work, 'pub'), { recursive: true, force: true })
    await rm(join(work, 'b.mmb'))

    // The gateway(s): this checkout's, and with --compare another checkout's on a copy of the home.
    const gateways: Gateway[] = []
    const startGateway = async (name: string, cli: string, gwHome: string): Promise<void> => {
      const help = (await runOk(NODE, [cli, 'serve', '--help'])).stdout
      const port = await freePort()
      const node = start(NODE, [cli, '--home', gwHome, 'serve', '--gateway', `127.0.0.1:${port}`, ...(help.includes('--no-mesh') ? ['--no-mesh'] : []), ...(help.includes('--no-mdns') ? ['--no-mdns'] : [])], { env: { ...process.env, MIRRORMESH_LOG: 'warn' } })
      children.push(node)
      const url = `http://127.0.0.1:${port}`
      await waitForHttp(`${url}/api/status`)
      const pid = node.child.pid as number
      gateways.push({ name, url, pid, sampler: sampler(pid, 50), rss: [['started', memoryOf(pid)?.rss ?? 0]], fds: [] })
    }
    if (flags.compare !== undefined) {
      await cp(home, `${home}-compare`, { recursive: true })
      await startGateway(`gateway (${flags.compare})`, join(flags.compare, 'bin', 'mirrormesh.js'), `${home}-compare`)
    }
    await startGateway('mirrormesh gateway', CLI, home)
    const gwUrl = (gateways.at(-1) as Gateway).url
    const noteRss = (when: string): void => { for (const g of gateways) g.rss.push([when, memoryOf(g.pid)?.rss ?? 0]) }

    // nginx's root: the same bytes at the same URL paths (index files as the gateway serves them).
    const root = join(work, 'www')
    const paths: string[] = []
    const names = new Set(inputs.crates.map(c => c.name))
    for (const name of names) {
      const path = `/cargo/index/${sparseIndexPath(name)}`
      const res = await fetch(gwUrl + path)
      if (res.status !== 200) throw new Error(`gateway answered ${res.status} for ${path}`)
      await mkdir(dirname(join(root, path)), { recursive: true })
      await writeFile(join(root, path), Buffer.from(await res.arrayBuffer()))
      paths.push(path)
    }
    for (const crate of inputs.crates) {
      const path = `/cargo/crates/${crate.name}/${crate.version}/download`
      await mkdir(dirname(join(root, path)), { recursive: true })
      await link(crate.file, join(root, path))
      if (crate.name !== 'bench-blob') paths.push(path)
    }
    const nginxes: Server[] = []
    for (const workers of (flags['nginx-workers'] ?? 'auto').split(',')) {
      const port = await freePort()
      const dir = join(work, `nginx-${workers}`)
      await mkdir(dir)
      const nginx = await startNginx(tools.nginx, dir, root, port, workers === 'auto' ? 'auto' : Number(workers))
      children.push(nginx)
      await waitForHttp(`http://127.0.0.1:${port}/`)
      nginxes.push({ name: `nginx (${workers === 'auto' ? 'auto: 2 workers' : `${workers} worker`})`, url: `http://127.0.0.1:${port}`, pid: nginx.child.pid as number })
    }
    const servers: Server[] = [...nginxes, ...gateways]

    log('(a) 256 MiB blob')
    for (const s of servers) await download(tools.curl, s.url + inputs.blob, 1) // warm the page cache
    const blob = new Map<string, { seq: number[], par: number[] }>(servers.map(s => [s.name, { seq: [], par: [] }]))
    const blobCpu = new Map<string, number[]>(servers.map(s => [s.name, []])) // CPU ms per GiB sent
    for (let r = 0; r < rounds; r++) {
      for (const s of servers) {
        const cpu0 = cpuOfTree(s.pid)
        const seq = await download(tools.curl, s.url + inputs.blob, 1, 3)
        const par = await download(tools.curl, s.url + inputs.blob, 4, 1)
        blob.get(s.name)?.seq.push(mbps(seq.bytes, seq.ms))
        blob.get(s.name)?.par.push(mbps(par.bytes, par.ms))
        blobCpu.get(s.name)?.push((cpuOfTree(s.pid) - cpu0) / ((seq.bytes + par.bytes) / 2 ** 30))
        log(`  ${s.name}: sequential ${fixed(mbps(seq.bytes, seq.ms))} MB/s, 4 parallel ${fixed(mbps(par.bytes, par.ms))} MB/s`)
      }
    }
    noteRss('after (a)')

    log('(b) small index file')
    const index = new Map<string, WrkResult[]>(servers.map(s => [s.name, []]))
    for (const s of servers) await wrk(tools.wrk, s.url + inputs.index, { connections: 100, seconds: 2 }) // warm-up (JIT, caches)
    for (const connections of LEVELS) {
      for (const s of servers) {
        const cpu0 = cpuOfTree(s.pid)
        const result = await wrk(tools.wrk, s.url + inputs.index, { connections, seconds })
        result.cpuPerRequest = (cpuOfTree(s.pid) - cpu0) * 1000 / Math.max(1, result.requests)
        index.get(s.name)?.push(result)
        log(`  ${s.name} c=${connections}: ${fixed(result.rps, 0)} req/s, p99 ${fixed(result.p99, 2)} ms, errors ${result.errors}`)
      }
      noteRss(`after (b) c=${connections}`)
    }

    log('(d) mixed load')
    const script = await wrkPathsScript(join(work, 'mix.lua'), paths)
    const mix = new Map<string, WrkResult>()
    const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 2000)) } // let connections close
    await settle()
    for (const g of gateways) g.fds.push(fdCount(g.pid))
    for (const s of [nginxes[0] as Server, ...gateways]) {
      const cpu0 = cpuOfTree(s.pid)
      const result = await wrk(tools.wrk, `${s.url}/`, { connections: 1000, seconds: mixSeconds, script, timeout: '30s' })
      result.cpuPerRequest = (cpuOfTree(s.pid) - cpu0) * 1000 / Math.max(1, result.requests)
      mix.set(s.name, result)
      log(`  ${s.name}: ${fixed(result.rps, 0)} req/s, ${mib(result.bytesPerSec)}/s, p99 ${fixed(result.p99, 1)} ms, errors ${result.errors}`)
      const g = gateways.find(g => g.pid === s.pid)
      if (g === undefined) continue
      // Wait (up to 60 s) for the descriptors to come back: a loaded gateway may still be finishing
      // responses whose clients are gone. A leak would never come back.
      const ended = Date.now()
      while (fdCount(g.pid) > (g.fds[0] ?? 0) && Date.now() - ended < 60_000) await new Promise(resolve => setTimeout(resolve, 500))
      g.fds.push(fdCount(g.pid))
      g.settleSeconds = (Date.now() - ended) / 1000
    }
    noteRss('after (d)')
    const peaks = gateways.map(g => g.sampler.stop().peakRss)

    const rows: Array<Array<string | number>> = []
    for (const s of servers) {
      const b = blob.get(s.name) as { seq: number[], par: number[] }
      rows.push([s.name, fixed(median(b.seq)), fixed(median(b.par)), ...LEVELS.flatMap((_, i) => {
        const r = index.get(s.name)?.[i] as WrkResult
        return [fixed(r.rps, 0), fixed(r.p99, 1)]
      })])
    }
    const ratio = (gw: Server, ref: Server): Array<string | number> => {
      const b = blob.get(gw.name) as { seq: number[], par: number[] }
      const n = blob.get(ref.name) as { seq: number[], par: number[] }
      return [`${gw.name} / ${ref.name}`, `**${fixed(median(b.seq) / median(n.seq), 2)}×**`, `**${fixed(median(b.par) / median(n.par), 2)}×**`, ...LEVELS.flatMap((_, i) => {
        const g = index.get(gw.name)?.[i] as WrkResult
        const r = index.get(ref.name)?.[i] as WrkResult
        return [`**${fixed(g.rps / r.rps, 2)}×**`, `${fixed(g.p99 / r.p99, 1)}×`]
      })]
    }
    for (const g of gateways) for (const n of nginxes) rows.push(ratio(g, n))
    const header = ['server', '256 MiB blob, 3 sequential (MB/s)', '4 parallel (MB/s)', ...LEVELS.flatMap(c => [`index c=${c} req/s`, 'p99 ms'])]
    const mixRows = [...mix].map(([name, r]) => [name, fixed(r.rps, 0), `${fixed(r.bytesPerSec / 1e6, 1)}`, fixed(r.p50, 1), fixed(r.p99, 1), r.errors, fixed(r.cpuPerRequest ?? 0, 0)])
    const cpuRow = (s: Server): Array<string | number> => [s.name, fixed(median(blobCpu.get(s.name) ?? []), 0), ...LEVELS.map((_, i) => fixed(index.get(s.name)?.[i]?.cpuPerRequest ?? 0, 0))]
    const cpuRows = servers.map(cpuRow)
    for (const g of gateways) {
      for (const n of nginxes) {
        cpuRows.push([`${n.name} / ${g.name} (efficiency)`, `**${fixed(median(blobCpu.get(n.name) ?? []) / median(blobCpu.get(g.name) ?? []), 2)}×**`, ...LEVELS.map((_, i) => `**${fixed((index.get(n.name)?.[i]?.cpuPerRequest ?? 0) / (index.get(g.name)?.[i]?.cpuPerRequest ?? 1), 2)}×**`)])
      }
    }
    const text = `${await machine()}, ${new Date().toISOString().slice(0, 10)}; blob figures are medians of ${rounds} rounds; wrk -t2, ${seconds} s per level\n\n` +
      `${table(header, rows)}\n\n` +
      `Server CPU time per unit of work (median; lower is better; efficiency = nginx CPU / gateway CPU):\n\n${table(['server', 'blob: CPU ms per GiB', ...LEVELS.map(c => `index c=${c}: CPU µs per request`)], cpuRows)}\n\n` +
      `Mixed load, 1000 connections, ${mixSeconds} s (${paths.length} paths: index files and .crate blobs of 4 KiB–4 MiB):\n\n${table(['server', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'errors', 'CPU µs/request'], mixRows)}\n\n` +
      gateways.map((g, i) => `${g.name}: open file descriptors ${g.fds[0] ?? '?'} before the mixed load, ${g.fds[1] ?? '?'} after it (counted ${fixed(g.settleSeconds ?? 0, 1)} s after the load ended: as soon as back at the earlier count, else after 60 s); ` +
        `RSS ${g.rss.map(([when, bytes]) => `${when} ${mib(bytes)}`).join(', ')}; peak (VmHWM) ${mib(peaks[i] ?? 0)}.`).join('\n\n') + '\n'
    process.stdout.write(text)
    if (flags.json !== undefined) await writeFile(flags.json, JSON.stringify({ blob: Object.fromEntries(blob), blobCpu: Object.fromEntries(blobCpu), index: Object.fromEntries(index), mix: Object.fromEntries(mix), gateways: gateways.map((g, i) => ({ name: g.name, fds: g.fds, rss: g.rss, peak: peaks[i] })) }, null, 2))
  } finally {
    for (const { child } of children.reverse()) await stop(child)
    if (flags.keep !== true) await rm(work, { recursive: true, force: true })
    else log(`kept ${work}`)
  }
}

await main()

