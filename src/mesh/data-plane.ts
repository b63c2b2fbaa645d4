/**
 * The data plane: plain HTTP between peers for bulk bytes (js-libp2p's encrypted streams move
 * ~90 MB/s here, below 1 GbE; Node HTTP ~280 MB/s — BRIEF §5). Every request needs a ticket issued
 * over libp2p. It serves held blobs, and the verified chunks of blobs still arriving, with Range.
 *
 *   GET /p2p/blobs/{cid}   Authorization: Bearer {ticket}   Range: bytes=a-b
 */
import { createReadStream } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream/promises'
import type { BlobStore } from '../store/blob-store.ts'
import { parseCid } from '../store/cid.ts'
import { parseRange } from '../gateway/http.ts'
import { MirrormeshError } from '../util/errors.ts'
import { logger } from '../util/logger.ts'
import type { Download } from './download.ts'
import type { Tickets } from './tickets.ts'

const log = logger('data-plane')

/** What the data plane can serve from. */
export interface DataPlaneSources {
  store: BlobStore
  tickets: Tickets
  /** A blob being fetched, whose verified chunks may be served. */
  download: (cid: string) => Download | undefined
}

/** The running data plane. */
export class DataPlane {
  readonly #server: Server
  readonly #sources: DataPlaneSources
  bytesServed = 0
  port = 0

  constructor (sources: DataPlaneSources) {
    this.#sources = sources
    this.#server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => { void this.#handle(req, res) })
  }

  async listen (host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new MirrormeshError(`data plane port ${host}:${port} is in use: choose another with --data-plane HOST:PORT`) : err))
      this.#server.listen(port, host, () => resolve())
    })
    this.port = (this.#server.address() as AddressInfo).port
  }

  async close (): Promise<void> {
    await new Promise<void>(resolve => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/p2p\/blobs\/([a-z0-9]{20,100})$/.exec(req.url ?? '')
    if (req.method !== 'GET' || match === null) return end(res, 404)
    const cidText = match[1] ?? ''
    const ticket = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
    if (!this.#sources.tickets.check(cidText, ticket)) return end(res, 403)
    let cid
    try { cid = parseCid(cidText) } catch { return end(res, 400) }
    const size = await this.#sources.store.size(cid)
    const download = size === undefined ? this.#sources.download(cidText) : undefined
    const total = size ?? download?.size
    if (total === undefined) return end(res, 404)
    const range = parseRange(req.headers.range, total)
    if (range === 'unsatisfiable') return end(res, 416, { 'content-range': `bytes */${total}` })
    const wanted = range ?? { start: 0, end: total - 1 }
    if (size === undefined && download !== undefined && !download.hasRange(wanted)) return end(res, 404)
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': wanted.end - wanted.start + 1 }
    if (range !== undefined) headers['content-range'] = `bytes ${wanted.start}-${wanted.end}/${total}`
    res.writeHead(range === undefined ? 200 : 206, headers)
    const source = size !== undefined
      ? createReadStream(this.#sources.store.path(cid), { start: wanted.start, end: wanted.end, highWaterMark: 1 << 20 })
      : (download as Download).stream(wanted)
    source.on('data', (chunk: Buffer) => { this.bytesServed += chunk.length })
    await pipeline(source, res).catch(err => log.debug({ err: (err as Error).message }, 'data plane response ended early'))
  }
}

function end (res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': 0, ...headers }).end()
}
