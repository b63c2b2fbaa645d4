/**
 * Peer-to-peer blob throughput (docs/performance.md, "Mesh", benchmark a).
 *
 * Node A (the seed) holds one big blob (default 256 MiB of incompressible bytes, so it carries
 * signed chunk digests). Per repeat, in this order so drift on a shared machine hits all:
 *   - baseline: plain HTTP from A's gateway (a Node `http.get` drain, and `curl -o /dev/null` when
 *     curl exists): the same bytes from the same process, one hop, nothing else;
 *   - miss: a fresh node B (on-demand) bootstrapped to A; a client drains B's gateway (the cargo
 *     URL, and `/blobs/{cid}` on alternate repeats): B discovers A, pulls chunks over the data
 *     plane, verifies each, streams them to the client;
 *   - stored baseline: what a client of a plain HTTP mirror does to keep the blob — the same GET,
 *     a sha256 of the body, written to a fresh file and fsynced (timed to the fsync), right before
 *     the full replication that does the same work through the mesh. Before it,
 *     `curl -o FILE` (a native client, no hash, no fsync), and the disk alone (the bytes from memory
 *     to a new file, fsynced): on this VM writing fresh pages runs at 150 MB/s to 3 GB/s from one
 *     second to the next, and a drain to nowhere never pays it;
 *   - full: a fresh node C with `--replicate full`; time from C adopting the head to C holding the
 *     blob (pulled, verified chunk by chunk, whole-file check, published).
 * Reports MB/s (10^6 B/s), ratios to the baseline of the same repeat (medians over repeats), and
 * the CPU time A and B spent on the miss: a cost per byte that the machine's load distorts less.
 *
 *   node simulations/bench/mesh-throughput.ts [--size-mib 256] [--runs 5] [--json FILE]
 *        [--cpu-prof DIR]      (profile B and C; .cpuprofile files land in DIR)
 *        [--compare DIR]       (also run A, B and C from the checkout at DIR, interleaved: before/after)
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseArgs } from 'node:util'
import { writeCrateFile } from './lib/data.ts'
import { cidOfFile, cliOf, drain, makeBundle, newPublisher, prepareHome, seqOf, startNode, status, stopAll, stopNode, waitFor, type BenchNode, type Publisher } from './lib/mesh-fleet.ts'
import { ROOT, cpuOf } from './lib/proc.ts'
import { parseCid, sha256Hex } from '../../src/store/cid.ts'
import { fixed, machine, mbps, median, table } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
    json: { type: 'string' },
    'cpu-prof': { type: 'string' },
    compare: { type: 'string' }
  }
})
const SIZE_MIB = Number(flags['size-mib'])
const RUNS = Math.max(1, Number(flags.runs))
const execFileP = promisify(execFile)
const log = (text: string): void => { process.stderr.write(`${text}\n`) }

/** One checkout's numbers in one repeat. */
interface Mesh {
  /** The stored baseline, run just before `fullMs`: writing 256 MiB of fresh pages costs this VM 0.1–1.7 s, and it varies by the second. */
  storedHttpMs: number
  /** `curl -o FILE` (no hash, no fsync) just before it: a native client's ceiling for keeping the bytes. */
  storedCurlMs: number | null
  /**
   * The same job as full replication (the blob downloaded, hashed and checked, durable on disk) done
   * by native tools, the faster of two ways: `curl | tee FILE | sha256sum` (three processes at
   * once), or `curl -o FILE` then `sha256sum FILE`; then `sync FILE` (an fsync).
   */
  storedNativeMs: number | null
  /** Writing as many bytes from memory to a fresh file, fsynced: the disk's ceiling at that moment, no network. */
  diskMs: number
  missMs: number
  missFirstByteMs: number
  missCpuMsA: number
  missCpuMsB: number
  fullMs: number
}

interface Repeat {
  route: 'cargo' | 'cid'
  baselineHttpMs: number
  baselineCurlMs: number | null
  baselineCpuMsA: number
  mesh: Mesh
  compare?: Mesh
  load: number
}

/** `curl -o` of `url` to `file` (default /dev/null), in ms; null without curl. */
async function curlMs (url: string, file = '/dev/null'): Promise<number | null> {
  try {
    const { stdout } = await execFileP('curl', ['-s', '-o', file, '-w', '%{time_total}', url])
    return Number(stdout.trim()) * 1000
  } catch {
    return null
  }
}

/** Whether curl is on the PATH. */
async function hasCurl (): Promise<boolean> {
  return await execFileP('curl', ['--version']).then(() => true, () => false)
}

/**
 * ms for the native same-job baseline (see Mesh.storedNativeMs) of `url` to `file`; null without
 * curl. Throws if the digest is not `sha256`: the baseline must do the work it is credited with.
 */
async function nativeStoredMs (url: string, file: string, sha256: string): Promise<number | null> {
  if (!await hasCurl()) return null
  let best = Infinity
  for (const script of ['curl -sf "$1" | tee "$2" | sha256sum && sync "$2"', 'curl -sf -o "$2" "$1" && sha256sum < "$2" && sync "$2"']) {
    await rm(file, { force: true })
    const started = performance.now()
    const { stdout } = await execFileP('bash', ['-o', 'pipefail', '-c', script, 'native', url, file])
    const ms = performance.now() - started
    if (stdout.split(' ')[0] !== sha256) throw new Error(`native baseline: ${url} hashed to ${stdout.trim()}, expected ${sha256}`)
    best = Math.min(best, ms)
  }
  return best
}

/** ms to write `size` bytes (1 MiB writes of one buffer) to a new `file` and fsync it. */
async function writeMs (file: string, size: number): Promise<number> {
  const buffer = randomBytes(1 << 20)
  const started = performance.now()
  const handle = await open(file, 'w')
  try {
    for (let at = 0; at < size; at += buffer.length) await handle.write(buffer, 0, Math.min(buffer.length, size - at), at)
    await handle.sync()
  } finally {
    await handle.close()
  }
  return performance.now() - started
}

/** The miss and the full replication of one repeat, against seed `a`, with nodes from `cli`. */
async function meshRepeat (work: string, tag: string, a: BenchNode, pub: Publisher, path: string, size: number, sha256: string, cli: string): Promise<Mesh> {
  const nodeArgs = (name: string): string[] => flags['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${flags['cpu-prof']}`, `--cpu-prof-name=${name}.cpuprofile`]
  // A gateway miss at a fresh on-demand peer.
  const bHome = join(work, `b-${tag}`)
  await prepareHome(bHome, pub.publisher)
  const b = await startNode(`b-${tag}`, bHome, ['--bootstrap', a.addrs[0] ?? ''], { nodeArgs: nodeArgs(`miss-${tag}`), cli })
  await waitFor('B to adopt the head', async () => await seqOf(b, pub.publisher) === 1)
  const cpuA = cpuOf(a.child.pid ?? 0) ?? 0
  const cpuB = cpuOf(b.child.pid ?? 0) ?? 0
  const miss = await drain(`${b.gateway}${path}`)
  const missCpuMsA = (cpuOf(a.child.pid ?? 0) ?? 0) - cpuA
  const missCpuMsB = (cpuOf(b.child.pid ?? 0) ?? 0) - cpuB
  if (miss.status !== 200 || miss.bytes !== size) throw new Error(`miss: ${miss.status}, ${miss.bytes} bytes`)
  await stopNode(b)
  await rm(bHome, { recursive: true, force: true })

  // The stored baseline, then full replication at a fresh peer: from head adoption to the blob held.
  const plainFile = join(work, `plain-${tag}.blob`)
  const diskMs = await writeMs(plainFile, size)
  await rm(plainFile)
  const storedCurlMs = await curlMs(`${a.gateway}${path}`, plainFile)
  await rm(plainFile, { force: true })
  const storedNativeMs = await nativeStoredMs(`${a.gateway}${path}`, plainFile, sha256)
  await rm(plainFile, { force: true })
  const stored = await drain(`${a.gateway}${path}`, { hash: true, toFile: plainFile })
  await rm(plainFile)
  if (stored.bytes !== size) throw new Error(`stored baseline got ${stored.bytes} bytes`)
  const cHome = join(work, `c-${tag}`)
  await prepareHome(cHome, pub.publisher)
  const c = await startNode(`c-${tag}`, cHome, ['--bootstrap', a.addrs[0] ?? '', '--replicate', 'full'], { nodeArgs: nodeArgs(`full-${tag}`), cli })
  let adopted = 0
  await waitFor('C to adopt the head', async () => { adopted = performance.now(); return await seqOf(c, pub.publisher) === 1 }, 60_000, 20)
  let held = 0
  await waitFor('C to hold the blob', async () => { const s = await status(c); held = performance.now(); return s.replication.held === 1 }, 300_000, 20)
  await stopNode(c)
  await rm(cHome, { recursive: true, force: true })
  return { diskMs, storedHttpMs: stored.totalMs, storedCurlMs, storedNativeMs, missMs: miss.totalMs, missFirstByteMs: miss.firstByteMs, missCpuMsA, missCpuMsB, fullMs: held - adopted }
}

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mirrormesh-bench-mesh-a-'))
  try {
    log(`writing a ${SIZE_MIB} MiB crate`)
    const crates = join(work, 'crates')
    await mkdir(crates, { recursive: true })
    const file = await writeCrateFile(crates, 'mesh-big', '1.0.0', SIZE_MIB << 20)
    const cid = await cidOfFile(file)
    const sha256 = sha256Hex(parseCid(cid))
    const size = (await stat(file)).size
    const pub = await newPublisher(work)
    await makeBundle(pub, crates, join(work, 'b.mmb'))
    await prepareHome(join(work, 'seed'), pub.publisher, join(work, 'b.mmb'))
    const seed = await startNode('seed', join(work, 'seed'))
    let oldSeed: BenchNode | undefined
    if (flags.compare !== undefined) {
      await prepareHome(join(work, 'seed-old'), pub.publisher, join(work, 'b.mmb'))
      oldSeed = await startNode('seed-old', join(work, 'seed-old'), [], { cli: cliOf(flags.compare) })
    }
    log(`seed up, blob ${cid} (${size} bytes)`)
    const repeats: Repeat[] = []
    for (let i = 0; i < RUNS; i++) {
      const load = loadavg()[0] ?? 0
      const route = i % 2 === 0 ? 'cargo' : 'cid'
      const path = route === 'cargo' ? '/cargo/crates/mesh-big/1.0.0/download' : `/blobs/${cid}`
      const cpuA = cpuOf(seed.child.pid ?? 0) ?? 0
      const base = await drain(`${seed.gateway}${path}`)
      const baselineCpuMsA = (cpuOf(seed.child.pid ?? 0) ?? 0) - cpuA
      if (base.bytes !== size) throw new Error(`baseline got ${base.bytes} bytes`)
      const baselineCurlMs = await curlMs(`${seed.gateway}${path}`)
      const mesh = await meshRepeat(work, `new${i}`, seed, pub, path, size, sha256, cliOf())
      const compare = oldSeed === undefined ? undefined : await meshRepeat(work, `old${i}`, oldSeed, pub, path, size, sha256, cliOf(flags.compare))
      const r: Repeat = { route, baselineHttpMs: base.totalMs, baselineCurlMs, baselineCpuMsA, mesh, compare, load }
      repeats.push(r)
      const line = (m: Mesh): string => `miss ${fixed(mbps(size, m.missMs))} MB/s (first byte ${fixed(m.missFirstByteMs)} ms, CPU A ${fixed(m.missCpuMsA / 1000, 2)} s B ${fixed(m.missCpuMsB / 1000, 2)} s), stored baseline ${fixed(mbps(size, m.storedHttpMs))} MB/s, full ${fixed(mbps(size, m.fullMs))} MB/s`
      log(`run ${i + 1}/${RUNS} (${route}): baseline ${fixed(mbps(size, r.baselineHttpMs))} MB/s (curl ${r.baselineCurlMs === null ? '-' : fixed(mbps(size, r.baselineCurlMs))}); ${line(mesh)}${compare === undefined ? '' : `; compare: ${line(compare)}`}; load ${fixed(load, 2)}`)
    }
    await stopAll()

    const med = (pick: (r: Repeat) => number): number => median(repeats.map(pick))
    const rows: Array<Array<string | number>> = [
      ['baseline: HTTP GET of A\'s gateway (Node http.get drain)', fixed(med(r => mbps(size, r.baselineHttpMs))), '1.00', '-', fixed(med(r => r.baselineCpuMsA) / 1000, 2), '-'],
      ['baseline: curl -o /dev/null of A\'s gateway', repeats.every(r => r.baselineCurlMs !== null) ? fixed(med(r => mbps(size, r.baselineCurlMs ?? 1))) : '-', repeats.every(r => r.baselineCurlMs !== null) ? fixed(med(r => r.baselineHttpMs / (r.baselineCurlMs ?? 1)), 2) : '-', '-', '-', '-']
    ]
    const meshRows = (label: string, pick: (r: Repeat) => Mesh | undefined): void => {
      if (repeats.some(r => pick(r) === undefined)) return
      const m = (r: Repeat): Mesh => pick(r) as Mesh
      rows.push([`${label}miss at B's gateway (A → B data plane → client)`, fixed(med(r => mbps(size, m(r).missMs))), fixed(med(r => r.baselineHttpMs / m(r).missMs), 2), fixed(med(r => m(r).missFirstByteMs)), fixed(med(r => m(r).missCpuMsA) / 1000, 2), fixed(med(r => m(r).missCpuMsB) / 1000, 2)])
      rows.push([`${label}disk: the same bytes from memory to a new file, fsync (no network)`, fixed(med(r => mbps(size, m(r).diskMs))), fixed(med(r => r.baselineHttpMs / m(r).diskMs), 2), '-', '-', '-'])
      if (repeats.every(r => m(r).storedCurlMs !== null)) rows.push([`${label}curl -o FILE of A's gateway (no hash, no fsync)`, fixed(med(r => mbps(size, m(r).storedCurlMs ?? 1))), fixed(med(r => r.baselineHttpMs / (m(r).storedCurlMs ?? 1)), 2), '-', '-', '-'])
      rows.push([`${label}stored baseline: HTTP GET of A's gateway, sha256, to a file, fsync`, fixed(med(r => mbps(size, m(r).storedHttpMs))), fixed(med(r => r.baselineHttpMs / m(r).storedHttpMs), 2), '-', '-', '-'])
      if (repeats.every(r => m(r).storedNativeMs !== null)) rows.push([`${label}native same-job baseline: curl, sha256sum, fsync (faster of piped and in turn)`, fixed(med(r => mbps(size, m(r).storedNativeMs ?? 1))), fixed(med(r => r.baselineHttpMs / (m(r).storedNativeMs ?? 1)), 2), '-', '-', '-'])
      rows.push([`${label}B --replicate full (head adopted → blob held)`, fixed(med(r => mbps(size, m(r).fullMs))), fixed(med(r => r.baselineHttpMs / m(r).fullMs), 2), '-', '-', '-'])
      rows.push([`${label}  … × the stored baseline of the same repeat`, '', fixed(med(r => m(r).storedHttpMs / m(r).fullMs), 2), '-', '-', '-'])
      if (repeats.every(r => m(r).storedNativeMs !== null)) rows.push([`${label}  … × the native same-job baseline of the same repeat`, '', fixed(med(r => (m(r).storedNativeMs ?? 1) / m(r).fullMs), 2), '-', '-', '-'])
      rows.push([`${label}  miss × the stored baseline of the same repeat`, '', fixed(med(r => m(r).storedHttpMs / m(r).missMs), 2), '-', '-', '-'])
    }
    meshRows('', r => r.mesh)
    meshRows(`${flags.compare ?? ''}: `, r => r.compare)
    const report = `Blob ${SIZE_MIB} MiB (${size} bytes), ${RUNS} repeats (cargo URL and /blobs/{cid} alternately), medians; × baseline = baseline time / this time, paired per repeat.\n\n` +
      table(['transfer', 'MB/s', '× baseline', 'first byte ms', 'CPU s of A', 'CPU s of B'], rows)
    process.stdout.write(`${report}\n`)
    const out = flags.json ?? join(ROOT, 'simulations', 'out', 'mesh-throughput.json')
    await mkdir(join(out, '..'), { recursive: true })
    await writeFile(out, JSON.stringify({ machine: await machine(), date: new Date().toISOString(), sizeBytes: size, runs: RUNS, compare: flags.compare ?? null, repeats, report }, null, 2))
    log(`results: ${out}`)
  } finally {
    await stopAll()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
