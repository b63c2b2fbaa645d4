/**
 * HTTP load tools for the gateway benchmark: `wrk` (keep-alive load at N connections, latency
 * percentiles) and `curl` (whole-file downloads), both C programs so the load generator costs the
 * same CPU whichever server is measured. Also the nginx reference server.
 */
import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run, runOk, start } from './proc.ts'
import type { ChildProcess } from 'node:child_process'

/** Whether a command is on PATH (or in /usr/sbin, where Debian puts nginx). */
export function which (command: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    try {
      execFileSync('test', ['-x', join(dir, command)])
      return join(dir, command)
    } catch { /* not here */ }
  }
  return undefined
}

/** Make sure nginx, wrk and curl are installed (Debian packages; needs root to install). */
export async function ensureTools (): Promise<{ nginx: string, wrk: string, curl: string }> {
  const missing = ['nginx', 'wrk', 'curl'].filter(c => which(c) === undefined)
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: run "sudo apt-get install -y ${missing.join(' ')}" first`)
    process.stderr.write(`installing ${missing.join(', ')} (apt-get)\n`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    await runOk('apt-get', ['update', '-qq'], { env })
    await runOk('apt-get', ['install', '-y', '-qq', ...missing], { env })
  }
  return { nginx: which('nginx') as string, wrk: which('wrk') as string, curl: which('curl') as string }
}

/** One wrk run. */
export interface WrkResult {
  connections: number
  requests: number
  seconds: number
  rps: number
  /** Latency percentiles in ms. */
  p50: number
  p99: number
  max: number
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  errors: number
  bytesPerSec: number
  /** Server CPU µs per request, filled in by the caller. */
  cpuPerRequest?: number
}

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const SIZES: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }

function ms (text: string | undefined): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text ?? '')
  return match === null ? Number.NaN : Number(match[1]) * (UNITS[match[2] as string] as number)
}

/** Run wrk against `url` (or a Lua script's paths) and parse its report. */
export async function wrk (binary: string, url: string, options: { connections: number, seconds: number, threads?: number, script?: string, timeout?: string }): Promise<WrkResult> {
  const args = ['-t', String(options.threads ?? 2), '-c', String(options.connections), '-d', `${options.seconds}s`, '--latency', '--timeout', options.timeout ?? '10s']
  if (options.script !== undefined) args.push('-s', options.script)
  const result = await run(binary, [...args, url])
  if (result.code !== 0) throw new Error(`wrk failed: ${result.stderr}${result.stdout}`)
  const out = result.stdout
  const line = (re: RegExp): RegExpExecArray | null => re.exec(out)
  const summary = line(/(\d+) requests in ([\d.]+)(\w+),/)
  const socket = line(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/)
  const non2xx = line(/Non-2xx or 3xx responses: (\d+)/)
  const transfer = line(/Transfer\/sec:\s+([\d.]+)(\w+)/)
  return {
    connections: options.connections,
    requests: Number(summary?.[1] ?? 0),
    seconds: ms(`${summary?.[2] ?? '0'}${summary?.[3] ?? 's'}`) / 1000,
    rps: Number(line(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? 0),
    p50: ms(line(/ 50%\s+(\S+)/)?.[1]),
    p99: ms(line(/ 99%\s+(\S+)/)?.[1]),
    max: ms(line(/Latency\s+\S+\s+\S+\s+(\S+)/)?.[1]),
    errors: (socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0)) + Number(non2xx?.[1] ?? 0),
    bytesPerSec: Number(transfer?.[1] ?? 0) * (SIZES[transfer?.[2] ?? 'B'] ?? 1)
  }
}

/** A wrk Lua script requesting `paths` at random (seeded per thread), written to `file`. */
export async function wrkPathsScript (file: string, paths: string[]): Promise<string> {
  const list = paths.map(p => `  ${JSON.stringify(p)},`).join('\n')
  await writeFile(file, `local paths = {\n${list}\n}\nlocal n = #paths\nfunction setup (thread) thread:set("seed", math.random(1, 1e9)) end\nfunction init (args) math.randomseed(seed) end\nrequest = function () return wrk.format(nil, paths[math.random(1, n)]) end\n`)
  return file
}

/** Download `url` with `parallel` curls at once, `rounds` times in a row; total bytes and wall time. */
export async function download (curl: string, url: string, parallel: number, rounds = 1): Promise<{ bytes: number, ms: number }> {
  const started = performance.now()
  let bytes = 0
  for (let r = 0; r < rounds; r++) {
    const runs = await Promise.all(Array.from({ length: parallel }, async () => await runOk(curl, ['-sS', '-o', '/dev/null', '-w', '%{size_download} %{http_code}', url])))
    for (const m of runs) {
      const [size, status] = m.stdout.trim().split(' ')
      if (status !== '200') throw new Error(`${url} answered ${String(status)}`)
      bytes += Number(size)
    }
  }
  return { bytes, ms: performance.now() - started }
}

/** Start nginx serving `root` on 127.0.0.1:`port` with `sendfile on` (its own temp config, no daemon). */
export async function startNginx (binary: string, dir: string, root: string, port: number, workers: number | 'auto'): Promise<{ child: ChildProcess, output: () => string }> {
  const conf = join(dir, 'nginx.conf')
  await writeFile(conf, `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes ${workers};
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
worker_rlimit_nofile 20000;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
  }
}
`)
  return start(binary, ['-e', join(dir, 'error.log'), '-p', dir, '-c', conf])
}

/** Wait until `url` answers (any status), or fail after `ms`. */
export async function waitForHttp (url: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    try {
      const res = await fetch(url)
      await res.arrayBuffer()
      return
    } catch (err) {
      if (Date.now() > until) throw new Error(`${url} did not answer within ${ms} ms: ${(err as Error).message}`, { cause: err })
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
}
