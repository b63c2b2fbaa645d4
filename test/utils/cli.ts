/** Running the real `mirrormesh` binary in tests. */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The CLI entry point. */
export const BIN = fileURLToPath(new URL('../../bin/mirrormesh.js', import.meta.url))

/** What a CLI run printed and returned. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
  json: unknown
}

/** Run `mirrormesh ...args` to completion (never throws on a non-zero exit). */
export async function cli (args: string[], options: { env?: Record<string, string>, cwd?: string, timeoutMs?: number } = {}): Promise<CliResult> {
  return await new Promise(resolve => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, MIRRORMESH_LOG: 'warn', ...options.env }, cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      let json: unknown
      try { json = JSON.parse(stdout) } catch { json = undefined }
      resolve({ code, stdout, stderr, json })
    })
  })
}

/** Start `mirrormesh serve --json …` and wait for its ready line. */
export async function startServe (args: string[], options: { env?: Record<string, string> } = {}): Promise<{ child: ChildProcess, ready: { gateway: string, home: string, [k: string]: unknown }, stderr: () => string, stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, '--json', 'serve', ...args], { env: { ...process.env, MIRRORMESH_LOG: process.env.MIRRORMESH_TEST_LOG ?? 'warn', ...options.env }, stdio: ['ignore', 'pipe', process.env.MIRRORMESH_TEST_LOG === undefined ? 'pipe' : 'inherit'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const ready = await new Promise<{ gateway: string, home: string }>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`serve did not start in 30 s: ${stderr}`)), 30_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const line = out.split('\n').find(l => l.startsWith('{"ready"'))
      if (line !== undefined) { clearTimeout(timer); resolve((JSON.parse(line) as { ready: { gateway: string, home: string } }).ready) }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`serve exited with ${String(code)}: ${stderr}`)) })
  })
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null) return child.exitCode
    const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
    child.kill('SIGTERM')
    return await exited
  }
  return { child, ready, stderr: () => stderr, stop }
}
