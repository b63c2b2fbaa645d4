/**
 * Running and measuring child processes: wall time, peak RSS (VmHWM, polled from /proc — the
 * kernel's own high-water mark, so a poll only needs to land before exit), CPU time, open fds.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Node 24 (BRIEF §5: the system node is 20). */
export const NODE = process.execPath
/** The real CLI. */
export const CLI = `${ROOT}bin/mirrormesh.js`

/** What a measured run gave. */
export interface Measured {
  code: number | null
  wallMs: number
  /** Peak resident set size in bytes (VmHWM), 0 if never sampled. */
  peakRss: number
  /** User + system CPU time in ms (from /proc/<pid>/stat, last sample). */
  cpuMs: number
  stdout: string
  stderr: string
}

const TICK_MS = 1000 / 100 // USER_HZ is 100 on Linux

/** Current and peak RSS of a live process, in bytes (undefined once it is gone). */
export function memoryOf (pid: number): { rss: number, hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
  } catch {
    return undefined
  }
}

/** CPU time (user + system) of a live process, in ms. */
export function cpuOf (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS
  } catch {
    return undefined
  }
}

/** CPU time in ms of a process and its direct children (nginx: the master and its workers). */
export function cpuOfTree (pid: number): number {
  let total = cpuOf(pid) ?? 0
  try {
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += cpuOf(Number(child)) ?? 0
  } catch { /* no children list: the process alone */ }
  return total
}

/** Number of open file descriptors of a live process. */
export function fdCount (pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

/** Sample a process's peak RSS and CPU until stopped. */
export function sampler (pid: number, everyMs = 20): { stop: () => { peakRss: number, cpuMs: number }, peak: () => number } {
  let peakRss = 0
  let cpuMs = 0
  const sample = (): void => {
    const mem = memoryOf(pid)
    if (mem !== undefined && mem.hwm > peakRss) peakRss = mem.hwm
    const cpu = cpuOf(pid)
    if (cpu !== undefined) cpuMs = cpu
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return {
    peak: () => { sample(); return peakRss },
    stop: () => { sample(); clearInterval(timer); return { peakRss, cpuMs } }
  }
}

/** Run a command to completion, measuring it. */
export async function run (cmd: string, args: string[], options: SpawnOptions = {}): Promise<Measured> {
  const started = performance.now()
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  const sampling = child.pid === undefined ? undefined : sampler(child.pid)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  // Sample once more on 'exit' is too late (the pid is reaped); the 20 ms poll catches the plateau.
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', c => resolve(c))
  })
  const wallMs = performance.now() - started
  const { peakRss, cpuMs } = sampling?.stop() ?? { peakRss: 0, cpuMs: 0 }
  return { code, wallMs, peakRss, cpuMs, stdout, stderr }
}

/** Run and throw with its stderr if it fails. */
export async function runOk (cmd: string, args: string[], options: SpawnOptions = {}): Promise<Measured> {
  const result = await run(cmd, args, options)
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${String(result.code)}:\n${result.stderr}${result.stdout}`)
  return result
}

/** Run the mirrormesh CLI (Node 24, no wrapper process) on a home; `cli` picks another checkout's. */
export async function mirrormesh (home: string, args: string[], options: SpawnOptions & { cli?: string } = {}): Promise<Measured> {
  const { cli = CLI, ...spawnOptions } = options
  return await runOk(NODE, [cli, '--home', home, '--json', ...args], { env: { ...process.env, MIRRORMESH_LOG: 'warn' }, ...spawnOptions })
}

/** Start a long-running child (a server) with its output collected. */
export function start (cmd: string, args: string[], options: SpawnOptions = {}): { child: ChildProcess, output: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-20_000) })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-20_000) })
  return { child, output: () => output }
}

/** Stop a child we started and wait for it to exit. */
export async function stop (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}
