/**
 * The control API: while `mirrormesh serve` holds the store (LevelDB allows one process), CLI
 * commands on the same home run inside it over a Unix socket `<home>/control.sock`, as the `ipfs`
 * CLI does with its daemon. Protocol (protocols/control/README.md): POST /v1/run with
 * {"op": name, "args": {...}}; the answer is NDJSON: progress lines, then one result or error line.
 */
import { createServer, request, type Server } from 'node:http'
import { rm, stat } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { MirrormeshError } from '../util/errors.ts'
import { operations, type Args, type Operation } from './operations.ts'
import type { Repo } from './repo.ts'

/** Where a home's control socket is. */
export function controlSocketPath (home: string): string {
  return join(home, 'control.sock')
}

/** An error reported by the serving node, keeping its stable name and exit code. */
export class RemoteError extends MirrormeshError {
  override readonly exitCode: number
  constructor (name: string, message: string, exitCode: number) {
    super(message)
    this.name = name
    this.exitCode = exitCode
  }
}

const MAX_REQUEST_BYTES = 1 << 20

/** Serve operations on `repo` at the home's socket; `overrides` replace operations a running node answers better (status). */
export async function startControlServer (repo: Repo, overrides: Partial<Record<string, Operation>> = {}): Promise<Server> {
  const path = controlSocketPath(repo.home)
  if (await isServing(path)) throw new MirrormeshError(`another mirrormesh node is already serving ${repo.home}`)
  await rm(path, { force: true })
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/run') {
      res.writeHead(404).end()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_REQUEST_BYTES) req.destroy()
      else chunks.push(chunk)
    })
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      const send = (line: unknown): void => { res.write(JSON.stringify(line) + '\n') }
      const abort = new AbortController()
      res.on('close', () => abort.abort())
      void (async () => {
        try {
          const { op, args } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { op: string, args: Args }
          const operation = Object.hasOwn(overrides, op) ? overrides[op] : Object.hasOwn(operations, op) ? operations[op] : undefined
          if (operation === undefined) throw new MirrormeshError(`unknown operation ${JSON.stringify(op)}`)
          let last = 0
          const result = await operation(repo, args, (phase, done, total) => {
            const now = Date.now()
            if (now - last < 100 && done !== total) return
            last = now
            send({ type: 'progress', phase, done, total })
          }, abort.signal)
          send({ type: 'result', result })
        } catch (err) {
          const e = err as Error & { exitCode?: number }
          send({ type: 'error', name: e.name, message: e.message, exitCode: e instanceof MirrormeshError ? e.exitCode : 1 })
        }
        res.end()
      })()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => { server.off('error', reject); resolve() })
  })
  return server
}

/** Whether a node answers on this socket. */
export async function isServing (path: string): Promise<boolean> {
  try {
    await stat(path)
  } catch {
    return false
  }
  return await new Promise(resolve => {
    const socket = connect(path)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/** Run an operation on the node serving `home`. */
export async function callControl (home: string, op: string, args: Args, onProgress?: (phase: string, done: number, total: number) => void): Promise<unknown> {
  const body = JSON.stringify({ op, args })
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath: controlSocketPath(home), path: '/v1/run', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, res => {
      let buffer = ''
      let settled = false
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let newline
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = JSON.parse(buffer.slice(0, newline)) as { type: string, [k: string]: unknown }
          buffer = buffer.slice(newline + 1)
          if (line.type === 'progress') onProgress?.(String(line.phase), Number(line.done), Number(line.total))
          else if (line.type === 'result') { settled = true; resolve(line.result) } else if (line.type === 'error') {
            settled = true
            reject(new RemoteError(String(line.name), String(line.message), Number(line.exitCode)))
          }
        }
      })
      res.on('end', () => { if (!settled) reject(new MirrormeshError('the serving node closed the control connection without an answer')) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
