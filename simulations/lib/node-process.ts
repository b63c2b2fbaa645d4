/**
 * `mirrormesh serve` as a real OS process on loopback, and the CLI run to completion: what the
 * fleet simulation and the site tests drive. Node 24 runs the CLI directly (no wrapper process), so
 * the child's pid is the node's pid (the link emulation finds sockets by pid).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The CLI entry point. */
export const CLI = fileURLToPath(new URL('../../bin/mirrormesh.js', import.meta.url))

/** A running node. */
export interface NodeProcess {
  pid: number
  home: string
  gateway: string
  peerId: string
  addrs: string[]
  child: ChildProcess
  /** SIGTERM and wait (a graceful leave). */
  stop: () => Promise<number | null>
  /** SIGKILL and wait (a crash). */
  kill: () => Promise<void>
  output: () => string
}

/** Options for `startNode`. */
export interface StartOptions {
  bootstrap?: string[]
  replicate?: 'full' | 'on-demand'
  /** `HOST:PORT` of the data plane (default 127.0.0.1:0). */
  dataPlane?: string
  extra?: string[]
  /** Log level of the node (default warn, or $SIM_NODE_LOG). */
  log?: string
  /** Append the node's stderr (its log) to this file. */
  logFile?: string
  /** How long to wait for the ready line (default 90 s: a loaded 2-core machine starts slowly). */
  readyTimeoutMs?: number
}

/** Start a node and wait for its ready line. */
export async function startNode (home: string, options: StartOptions = {}): Promise<NodeProcess> {
  const args = [CLI, '--json', 'serve', '--home', home, '--gateway', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0',
    '--data-plane', options.dataPlane ?? '127.0.0.1:0', '--no-mdns', ...(options.bootstrap ?? []).flatMap(a => ['--bootstrap', a]),
    ...(options.replicate === undefined ? [] : ['--replicate', options.replicate]), ...(options.extra ?? [])]
  const child = spawn(process.execPath, args, { env: { ...process.env, MIRRORMESH_LOG: options.log ?? process.env.SIM_NODE_LOG ?? 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const logFile = options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-50_000); logFile?.write(d) })
  child.once('exit', () => logFile?.end())
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const ready = await new Promise<{ gateway: string, peerId: string, addrs: string[] }>((resolve, reject) => {
    let out = ''
    const limit = options.readyTimeoutMs ?? 90_000
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`serve did not start in ${limit / 1000} s: ${output}`)) }, limit)
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const line = out.split('\n').find(l => l.startsWith('{"ready"'))
      if (line !== undefined) { clearTimeout(timer); resolve((JSON.parse(line) as { ready: { gateway: string, peerId: string, addrs: string[] } }).ready) }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`serve exited with ${String(code)}: ${output}`)) })
  })
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
    return child.exitCode
  }
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited
  }
  return { pid: child.pid ?? 0, home, ...ready, child, stop, kill, output: () => output }
}

/** What a CLI run printed. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
  json: unknown
}

/** Run `mirrormesh ...args` to completion (never throws on a non-zero exit). */
export async function cli (args: string[], timeoutMs = 300_000): Promise<CliResult> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, MIRRORMESH_LOG: 'warn' }, timeout: timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      let json: unknown
      try { json = JSON.parse(stdout) } catch { json = undefined }
      resolve({ code, stdout, stderr, json })
    })
  })
}

/** Run the CLI and throw with its stderr on failure. */
export async function cliOk (args: string[], timeoutMs?: number): Promise<CliResult> {
  const r = await cli(args, timeoutMs)
  if (r.code !== 0) throw new Error(`mirrormesh ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r
}

/** A node's /api/status. */
export async function nodeStatus (gateway: string, signal?: AbortSignal): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${gateway}/api/status`, { signal: signal ?? AbortSignal.timeout(10_000) })
  if (!res.ok) throw new Error(`status answered ${res.status}`)
  return await res.json() as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
}
