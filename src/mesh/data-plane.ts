/**
 * The data plane: plain HTTP between peers for bulk bytes (js-libp2p's encrypted streams move
 * ~90 MB/s here, below 1 GbE; Node HTTP ~280 MB/s — BRIEF §5). Every request needs a ticket issued
 * over libp2p. It serves held blobs, and the verified chunks of blobs still arriving, with Range.
 *
 *   GET /p2p/blobs/{cid}   Authorization: Bearer {ticket}   Range: bytes=a-b
 */
import { open, type FileHandle } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import type { BlobStore } from '../store/blob-store.ts'
import { parseCid } from '../store/cid.ts'
import { parseRange } from '../gateway/http.ts'
import { MirrormeshError } from '../util/errors.ts'
import { sendFileRange } from '../util/send-file.ts'
import { pass, type TokenBucket } from '../util/token-bucket.ts'
import { logger } from '../util/logger.ts'
import type { Download } from './download.ts'
import { Receivers } from './receivers.ts'
import { SpareList } from './spare-list.ts'
import type { Tickets } from './tickets.ts'
import { UploadSlots } from './upload-slots.ts'

const log = logger('data-plane')

/** What the data plane can serve from. */
export interface DataPlaneSources {
  store: BlobStore
  tickets: Tickets
  /** A blob being fetched, whose verified chunks may be served. */
  download: (cid: string) => Download | undefined
  /** Whether a peer (by ID) is still connected: a range is spared only for a peer that can pass it on. */
  connected?: (peer: string) => boolean
}

/**
 * Upload slots: responses sent at once. More requests get 503 and go to other holders (or come
 * back shortly): a seed serving the whole fleet at once would send each blob to everyone, while a
 * seed that serves a few at a time lets the others take it from those who already have it
 * (BitTorrent's choking, in its simplest form). Eight saturate a LAN link.
 */
export const UPLOAD_SLOTS = 8

/** The running data plane. */
export class DataPlane {
  readonly #server: Server
  readonly #sources: DataPlaneSources
  readonly #slots: UploadSlots
  bytesServed = 0
  readonly #spare: SpareList | undefined
  readonly #receivers = new Receivers()
  /** Requests received (any answer), and those answered 503 because every slot was taken. */
  requests = 0
  busyAnswers = 0
  /** Requests answered 503 because another peer just received the same range (see SpareList). */
  sparedAnswers = 0
  port = 0

  readonly #pace: ((bytes: number) => Promise<void>) | undefined

  /**
   * `spare`: the window of `SpareList` in ms (0: send every range to whoever asks); `up`: an
   * emulated upload link (`serve --emulate-link`, simulations only).
   */
  constructor (sources: DataPlaneSources, options: { slots?: number, spare?: number, up?: TokenBucket } = {}) {
    this.#sources = sources
    this.#slots = new UploadSlots(options.slots ?? UPLOAD_SLOTS)
    this.#spare = options.spare === 0 ? undefined : new SpareList(options.spare)
    const up = options.up
    this.#pace = up === undefined ? undefined : async bytes => { await pass([up], bytes) }
    this.#server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => { void this.#handle(req, res) })
  }

  async listen (host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new MirrormeshError(`data plane port ${host}:${port} is in use: choose another with --data-plane HOST:PORT`) : err))
      this.#server.listen({ port, host, backlog: 4096 }, () => resolve()) // a fleet dialling at once (see gateway/server.ts)
    })
    this.port = (this.#server.address() as AddressInfo).port
  }

  /** Responses with a body being sent now (reported to fetchers, who prefer idle holders). */
  get uploads (): number {
    return this.#slots.taken
  }

  async close (): Promise<void> {
    await new Promise<void>(resolve => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++
    const match = /^\/p2p\/blobs\/([a-z0-9]{20,100})$/.exec(req.url ?? '')
    if (req.method !== 'GET' || match === null) return end(res, 404)
    const cidText = match[1] ?? ''
    const ticket = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
    const holder = this.#sources.tickets.check(cidText, ticket)
    if (holder === undefined) return end(res, 403)
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
    if (this.#slots.full) {
      this.busyAnswers++
      const receivers = this.#receivers.named(cidText, holder, tag => this.#connectedPeer(tag))
      const freeIn = this.#slots.freeInMs()
      return end(res, 503, {
        'retry-after': '1',
        ...freeIn !== undefined ? { 'x-mirrormesh-busy-ms': String(Math.ceil(freeIn)) } : {},
        ...receivers.length > 0 ? { 'x-mirrormesh-receivers': receivers.join(',') } : {}
      })
    }
    const spare = this.#spare !== undefined && holder !== '-' ? this.#spare : undefined
    const declined = spare?.declines(cidText, wanted.start, wanted.end, holder, this.uploads)
    const sentToPeer = declined === undefined ? undefined : this.#connectedPeer(declined.holder)
    if (declined !== undefined && sentToPeer !== undefined) {
      this.sparedAnswers++
      return end(res, 503, { 'retry-after': '1', 'x-mirrormesh-sent-to': sentToPeer, 'x-mirrormesh-spared-ms': String(Math.ceil(declined.forMs)) })
    }
    // Taken (and the range marked as on its way) before the file is opened, so concurrent
    // requests cannot all pass the checks.
    const upload = this.#slots.take(wanted.end - wanted.start + 1)
    if (holder !== '-') this.#receivers.add(cidText, holder)
    const ended = spare?.sending(cidText, wanted.start, wanted.end, holder)
    res.once('close', () => { upload.release(); ended?.() })
    const sent = (): void => spare?.sent(cidText, wanted.start, wanted.end, holder, Date.now() - upload.began)
    // Verified chunks of a blob in flight are on disk too: both are sent from the file, through
    // reused buffers (a stream of fresh ones made the GC a swarm peer's biggest cost).
    let file: FileHandle
    try {
      file = download !== undefined ? await download.openFile() : await open(this.#sources.store.path(cid), 'r')
    } catch {
      return end(res, 404) // evicted meanwhile
    }
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': wanted.end - wanted.start + 1 }
    if (range !== undefined) headers['content-range'] = `bytes ${wanted.start}-${wanted.end}/${total}`
    res.writeHead(range === undefined ? 200 : 206, headers)
    await sendFileRange(file, wanted.start, wanted.end, res, bytes => { this.bytesServed += bytes; upload.sent(bytes); spare?.uploaded(bytes) }, this.#pace).then(sent, err => {
      log.debug({ err: (err as Error).message }, 'data plane response ended early')
      res.destroy()
    }).finally(() => file.close())
  }

  /** The peer ID a holder tag was issued to, if that peer is still connected (it can pass bytes on). */
  #connectedPeer (tag: string): string | undefined {
    const peer = this.#sources.tickets.peerOf(tag)
    return peer !== undefined && this.#sources.connected?.(peer) !== false ? peer : undefined
  }
}

function end (res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': 0, ...headers }).end()
}

/** A data-plane response: status, lower-cased headers, and exactly `content-length` body bytes. */
export interface DataResponse {
  status: number
  headers: Record<string, string>
  body: AsyncIterable<Buffer>
}

/** Longest response head accepted. */
const MAX_HEAD = 16 << 10
/** Body buffers queued before the socket is paused (each is one socket read, ≤ 64 KiB). */
const HIGH_WATER = 32
/** An idle socket older than this is not reused: the server may be closing it (keepAliveTimeout 30 s). */
const IDLE_REUSE_MS = 20_000
const MAX_IDLE_PER_ORIGIN = 16

interface Pooled { socket: Socket, idleSince: number }

/**
 * A minimal HTTP/1.1 client for the data plane, on plain sockets with keep-alive. Node's HTTP
 * client copies every body byte out of the socket's buffer into a fresh one (llhttp's on_body →
 * Buffer::Copy): at data-plane rates that copy, and the garbage it makes (a full GC per 64 MiB of
 * buffers), cost more than everything else a fetch does. Here the body is the socket's own
 * buffers. It speaks only what the data plane serves: GET, responses with Content-Length.
 */
export class DataPlaneClient {
  readonly #idle = new Map<string, Pooled[]>()
  readonly #down: TokenBucket | undefined
  #closed = false

  /** `down`: an emulated download link (`serve --emulate-link`, simulations only). */
  constructor (options: { down?: TokenBucket } = {}) {
    this.#down = options.down
  }

  /** GET `path` from `origin` (`http://host:port`). Throws on connection errors and malformed answers. */
  async get (origin: string, path: string, headers: Record<string, string>, timeoutMs = 30_000): Promise<DataResponse> {
    const { hostname, port } = new URL(origin)
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
    const head = `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
    const reused = this.#take(origin)
    try {
      return await this.#exchange(origin, reused ?? this.#connect(host, Number(port)), head, timeoutMs)
    } catch (err) {
      // A kept-alive socket the server closed meanwhile: once more on a fresh one (GET is idempotent).
      if (reused === undefined || (err as { beforeResponse?: boolean }).beforeResponse !== true) throw err
      return await this.#exchange(origin, this.#connect(host, Number(port)), head, timeoutMs)
    }
  }

  /** Close every idle socket; later requests fail. */
  destroy (): void {
    this.#closed = true
    for (const list of this.#idle.values()) for (const { socket } of list) socket.destroy()
    this.#idle.clear()
  }

  #connect (host: string, port: number): Socket {
    if (this.#closed) throw new Error('data plane client closed')
    const socket = connect({ host, port, noDelay: true })
    socket.on('error', () => {}) // reported through the request that uses it; idle ones just go
    return socket
  }

  #take (origin: string): Socket | undefined {
    const list = this.#idle.get(origin) ?? []
    for (let item = list.pop(); item !== undefined; item = list.pop()) {
      if (!item.socket.destroyed && Date.now() - item.idleSince < IDLE_REUSE_MS) return item.socket
      item.socket.destroy()
    }
    return undefined
  }

  #release (origin: string, socket: Socket): void {
    const list = this.#idle.get(origin) ?? []
    if (this.#closed || socket.destroyed || list.length >= MAX_IDLE_PER_ORIGIN) {
      socket.destroy()
      return
    }
    list.push({ socket, idleSince: Date.now() })
    this.#idle.set(origin, list)
    socket.once('close', () => {
      const at = list.findIndex(item => item.socket === socket)
      if (at >= 0) list.splice(at, 1)
    })
  }

  /** Send the request head; resolve with the response once its head is in. */
  async #exchange (origin: string, socket: Socket, head: string, timeoutMs: number): Promise<DataResponse> {
    socket.removeAllListeners('close')
    socket.setTimeout(timeoutMs)
    const queue: Buffer[] = []
    let failure: Error | undefined
    let ended = false
    let notify: (() => void) | undefined
    let remaining = 0
    let headBytes: Buffer = Buffer.alloc(0)
    let response: DataResponse | undefined
    /** Paused by the emulated download link. */
    let pacing = false
    const down = this.#down
    const wake = (): void => { const n = notify; notify = undefined; n?.() }
    return await new Promise<DataResponse>((resolve, reject) => {
      const cleanup = (): void => {
        socket.off('data', onData)
        socket.off('error', onError)
        socket.off('close', onClose)
        socket.off('timeout', onTimeout)
        socket.setTimeout(0)
      }
      const fail = (err: Error): void => {
        if (failure !== undefined || ended) return
        failure = err
        cleanup()
        socket.destroy()
        if (response === undefined) reject(Object.assign(err, { beforeResponse: headBytes.length === 0 }))
        wake()
      }
      const finish = (): void => {
        ended = true
        cleanup()
        if (response?.headers.connection?.toLowerCase() === 'close') {
          socket.destroy()
        } else {
          socket.resume() // an idle socket must see the server's FIN
          this.#release(origin, socket)
        }
        wake()
      }
      const onBody = (data: Buffer): void => {
        if (data.length > remaining) return fail(new Error('data plane sent more than Content-Length'))
        remaining -= data.length
        if (data.length > 0) queue.push(data)
        const wait = data.length > 0 ? down?.reserve(data.length) ?? 0 : 0
        if (wait >= 1 && remaining > 0) {
          pacing = true
          socket.pause()
          setTimeout(() => { pacing = false; if (queue.length < HIGH_WATER && !ended && failure === undefined) socket.resume() }, wait)
        }
        if (queue.length >= HIGH_WATER) socket.pause()
        if (remaining === 0) finish()
        else wake()
      }
      const onData = (data: Buffer): void => {
        if (response !== undefined) return onBody(data)
        headBytes = headBytes.length === 0 ? data : Buffer.concat([headBytes, data])
        const end = headBytes.indexOf('\r\n\r\n')
        if (end < 0) {
          if (headBytes.length > MAX_HEAD) fail(new Error('data plane response head too long'))
          return
        }
        const lines = headBytes.subarray(0, end).toString('latin1').split('\r\n')
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]
        const fields: Record<string, string> = {}
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':')
          if (colon > 0) fields[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
        }
        const length = Number(fields['content-length'])
        if (status === undefined || fields['transfer-encoding'] !== undefined || !Number.isSafeInteger(length) || length < 0) {
          return fail(new Error('data plane sent a response without a usable Content-Length'))
        }
        remaining = length
        response = { status: Number(status), headers: fields, body: body() }
        resolve(response)
        const rest = headBytes.subarray(end + 4)
        if (rest.length > 0 || remaining === 0) onBody(rest)
      }
      const onError = (err: Error): void => fail(err)
      const onClose = (): void => fail(new Error('data plane connection closed'))
      const onTimeout = (): void => fail(new Error('data plane timeout'))
      async function * body (): AsyncGenerator<Buffer> {
        try {
          while (true) {
            const next = queue.shift()
            if (next !== undefined) {
              if (queue.length < HIGH_WATER / 2 && socket.isPaused() && !ended && !pacing) socket.resume()
              yield next
              continue
            }
            if (failure !== undefined) throw failure
            if (ended) return
            await new Promise<void>(resolve => { notify = resolve })
          }
        } finally {
          // Left before the end (a bad chunk, an abort): the socket is mid-body, unusable.
          if (!ended) fail(new Error('data plane response abandoned'))
        }
      }
      socket.on('data', onData)
      socket.on('error', onError)
      socket.on('close', onClose)
      socket.on('timeout', onTimeout)
      socket.resume()
      socket.write(head)
    })
  }
}
