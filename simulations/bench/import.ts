/**
 * Bundle import benchmark (docs/performance.md, "Bundle import").
 *
 * For each size (default 256 MiB and 1024 MiB of payload: ~20% small crates, the rest 50–200 MiB
 * crates) it builds the crates, then, all through the real CLI in child processes:
 *   - `bundle create` → throughput and peak RSS;
 *   - baseline: `tar -x` of an uncompressed tar of the same crate files + `sha256sum` of each
 *     extracted file (and, separately, the `sync` that would make those writes durable);
 *   - `import` into a fresh trusted home → throughput, ratio to the baseline, peak RSS;
 *   - `bundle verify` → throughput and peak RSS.
 * Baseline and import alternate within each repeat so drift on a shared machine hits both.
 * Runs `sync` (untimed) before each timed step so one step's dirty pages do not bill the next.
 *
 *   node simulations/bench/import.ts [--sizes 256,1024] [--runs 3] [--dir /tmp] [--json FILE] [--keep]
 *                                    [--compare DIR]   (also import/verify with the checkout at DIR, interleaved)
 *                                    [--create-runs 1] (timed `bundle create` runs per size; the slowest step)
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeMix, type Mix } from './lib/data.ts'
import { mirrormesh, runOk, type Measured } from './lib/proc.ts'
import { fixed, machine, mbps, median, mib, table } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,1024' },
    runs: { type: 'string', default: '3' },
    dir: { type: 'string', default: tmpdir() },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    compare: { type: 'string' },
    'create-runs': { type: 'string', default: '1' }
  }
})
const sizes = (flags.sizes ?? '').split(',').map(Number).filter(n => n > 0)
const runs = Math.max(1, Number(flags.runs))
const compareCli = flags.compare === undefined ? undefined : join(flags.compare, 'bin', 'mirrormesh.js')

interface SizeResult {
  sizeMiB: number
  mix: Omit<Mix, 'dir'>
  bundleBytes: number
  create: Measured[]
  baseline: Measured[]
  baselineSync: Measured[]
  imports: Measured[]
  verify: Measured[]
  compareImports: Measured[]
  compareVerify: Measured[]
}

const sync = async (): Promise<Measured> => await runOk('sync', [])
const TIME = '/usr/bin/time'

async function dirBytes (dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size
  }
  return total
}

async function benchSize (work: string, sizeMiB: number, key: string, publisher: string): Promise<SizeResult> {
  const log = (text: string): void => { process.stderr.write(`[${sizeMiB} MiB] ${text}\n`) }
  log('writing crates')
  const mix = await writeMix(join(work, 'crates'), sizeMiB)
  const payload = await dirBytes(mix.dir)
  log(`${mix.small} small crates (${mib(mix.smallBytes)}), ${mix.big.length} big (${mix.big.map(b => b >> 20).join(', ')} MiB), ${mib(payload)} of files`)

  const bundle = join(work, 'bundle.mmb')
  const create: Measured[] = []
  for (let i = 0; i < Math.max(1, Number(flags['create-runs'])); i++) {
    const home = join(work, 'create-home')
    await rm(home, { recursive: true, force: true })
    await rm(bundle, { force: true })
    await sync()
    const m = await mirrormesh(home, ['bundle', 'create', '--key', key, '--crates', mix.dir, '--out', bundle])
    create.push(m)
    log(`create ${i + 1}: ${fixed(m.wallMs / 1000, 2)} s, peak RSS ${mib(m.peakRss)}`)
  }
  await rm(join(work, 'create-home'), { recursive: true, force: true })
  const bundleBytes = (await stat(bundle)).size

  const tarFile = join(work, 'payload.tar')
  await runOk('tar', ['-cf', tarFile, '-C', mix.dir, '.'])
  const out = join(work, 'extract')
  const baseline: Measured[] = []
  const baselineSync: Measured[] = []
  const imports: Measured[] = []
  const verify: Measured[] = []
  const compareImports: Measured[] = []
  const compareVerify: Measured[] = []
  const importInto = async (cli: string | undefined): Promise<Measured> => {
    const home = join(work, 'import-home')
    await rm(home, { recursive: true, force: true })
    await mirrormesh(home, ['key', 'trust', publisher], { cli })
    await sync()
    const m = await mirrormesh(home, ['import', bundle], { cli })
    const result = JSON.parse(m.stdout) as Array<{ blobs: number, blobBytes: number }>
    // Every crate, plus one index file per crate name.
    if ((result[0]?.blobs ?? 0) < mix.small + mix.big.length) throw new Error(`import stored ${String(result[0]?.blobs)} blobs, expected at least ${mix.small + mix.big.length}`)
    await rm(home, { recursive: true, force: true })
    return m
  }
  for (let i = 0; i < runs; i++) {
    await rm(out, { recursive: true, force: true })
    await mkdir(out)
    await sync()
    // GNU time reports the CPU of the shell and everything it waited for (tar, xargs, sha256sum).
    const b = await runOk(existsSync(TIME) ? TIME : 'env', [...(existsSync(TIME) ? ['-f', 'cpu %U %S'] : []), 'sh', '-c', `tar -xf '${tarFile}' -C '${out}' && find '${out}' -type f -print0 | xargs -0 sha256sum > /dev/null`])
    const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(b.stderr)
    if (cpu !== null) b.cpuMs = (Number(cpu[1]) + Number(cpu[2])) * 1000
    baselineSync.push(await sync())
    baseline.push(b)
    await rm(out, { recursive: true, force: true })

    const m = await importInto(undefined)
    imports.push(m)
    if (compareCli !== undefined) {
      compareImports.push(await importInto(compareCli))
      compareVerify.push(await mirrormesh(join(work, 'verify-home'), ['bundle', 'verify', bundle], { cli: compareCli }))
    }

    const v = await mirrormesh(join(work, 'verify-home'), ['bundle', 'verify', bundle])
    verify.push(v)
    log(`run ${i + 1}/${runs}: baseline ${fixed(b.wallMs / 1000, 2)} s (+ sync ${fixed(baselineSync.at(-1)?.wallMs ?? 0, 0)} ms), import ${fixed(m.wallMs / 1000, 2)} s / RSS ${mib(m.peakRss)}, verify ${fixed(v.wallMs / 1000, 2)} s / RSS ${mib(v.peakRss)}`)
  }
  const { big, small, smallBytes, totalBytes } = mix
  return { sizeMiB, mix: { big, small, smallBytes, totalBytes: payload || totalBytes }, bundleBytes, create, baseline, baselineSync, imports, verify, compareImports, compareVerify }
}

function report (results: SizeResult[]): string {
  const rows = results.flatMap(r => {
    const payload = r.mix.totalBytes
    const base = median(r.baseline.map(m => m.wallMs))
    const baseSync = median(r.baseline.map((m, i) => m.wallMs + (r.baselineSync[i]?.wallMs ?? 0)))
    const imp = median(r.imports.map(m => m.wallMs))
    const rss = (ms: Measured[]): string => mib(Math.max(...ms.map(m => m.peakRss)))
    const cpu = (ms: Measured[]): string => `${fixed(median(ms.map(m => m.cpuMs)) / 1000, 2)} s`
    return [
      [`${r.sizeMiB} MiB`, 'baseline: tar -x + sha256sum', fixed(base / 1000, 2), fixed(mbps(payload, base)), '1.00', '-', cpu(r.baseline)],
      [`${r.sizeMiB} MiB`, 'baseline + sync', fixed(baseSync / 1000, 2), fixed(mbps(payload, baseSync)), fixed(base / baseSync, 2), '-', '-'],
      [`${r.sizeMiB} MiB`, '**mirrormesh import**', fixed(imp / 1000, 2), fixed(mbps(payload, imp)), `**${fixed(base / imp, 2)}**`, rss(r.imports), cpu(r.imports)],
      [`${r.sizeMiB} MiB`, 'mirrormesh bundle verify', fixed(median(r.verify.map(m => m.wallMs)) / 1000, 2), fixed(mbps(r.bundleBytes, median(r.verify.map(m => m.wallMs)))), fixed(base / median(r.verify.map(m => m.wallMs)), 2), rss(r.verify), cpu(r.verify)],
      ...(r.compareImports.length === 0
        ? []
        : [
            [`${r.sizeMiB} MiB`, `import (${flags.compare ?? ''})`, fixed(median(r.compareImports.map(m => m.wallMs)) / 1000, 2), fixed(mbps(payload, median(r.compareImports.map(m => m.wallMs)))), fixed(base / median(r.compareImports.map(m => m.wallMs)), 2), rss(r.compareImports), cpu(r.compareImports)],
            [`${r.sizeMiB} MiB`, `bundle verify (${flags.compare ?? ''})`, fixed(median(r.compareVerify.map(m => m.wallMs)) / 1000, 2), fixed(mbps(r.bundleBytes, median(r.compareVerify.map(m => m.wallMs)))), fixed(base / median(r.compareVerify.map(m => m.wallMs)), 2), rss(r.compareVerify), cpu(r.compareVerify)]
          ]),
      [`${r.sizeMiB} MiB`, 'mirrormesh bundle create', fixed(median(r.create.map(m => m.wallMs)) / 1000, 2), fixed(mbps(payload, median(r.create.map(m => m.wallMs)))), fixed(base / median(r.create.map(m => m.wallMs)), 2), rss(r.create), cpu(r.create)]
    ]
  })
  const mixes = results.map(r => `- ${r.sizeMiB} MiB: ${r.mix.small} small crates (${mib(r.mix.smallBytes)}) + ${r.mix.big.length} big (${r.mix.big.map(b => b >> 20).join(', ')} MiB) = ${mib(r.mix.totalBytes)} of .crate files; bundle ${mib(r.bundleBytes)}`).join('\n')
  return `${mixes}\n\n${table(['payload', 'step', 'wall s (median)', 'MB/s', 'speed vs baseline', 'peak RSS (max)', 'CPU (median)'], rows)}\n`
}

const work = await mkdtemp(join(flags.dir ?? tmpdir(), 'mm-bench-import-'))
try {
  const keyFile = join(work, 'publisher.key')
  const key = await mirrormesh(join(work, 'key-home'), ['key', 'new', '--out', keyFile])
  const publisher = (JSON.parse(key.stdout) as { publisher: string }).publisher
  const results: SizeResult[] = []
  for (const size of sizes) {
    const dir = join(work, `size-${size}`)
    await mkdir(dir)
    results.push(await benchSize(dir, size, keyFile, publisher))
    if (flags.keep !== true) await rm(dir, { recursive: true, force: true })
  }
  const text = `${await machine()}, ${new Date().toISOString().slice(0, 10)}, ${runs} runs each (median)\n\n${report(results)}`
  process.stdout.write(text)
  if (flags.json !== undefined) await writeFile(flags.json, JSON.stringify(results.map(r => ({ ...r, create: r.create.map(strip), baseline: r.baseline.map(strip), baselineSync: r.baselineSync.map(strip), imports: r.imports.map(strip), verify: r.verify.map(strip), compareImports: r.compareImports.map(strip), compareVerify: r.compareVerify.map(strip) })), null, 2))
} finally {
  if (flags.keep !== true) await rm(work, { recursive: true, force: true })
  else process.stderr.write(`kept ${work}\n`)
}

function strip (m: Measured): Omit<Measured, 'stdout' | 'stderr'> {
  return { code: m.code, wallMs: m.wallMs, peakRss: m.peakRss, cpuMs: m.cpuMs }
}

