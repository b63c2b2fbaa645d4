/**
 * `/mirrormesh/blob/1.0.0` (protocols/blob-exchange/README.md): "do you have this blob?" over
 * libp2p. The answer says how much (all of it, or which chunks are verified so far) and carries a
 * data-plane ticket: where and how to fetch the bytes.
 *
 * A stream carries questions one after another. Opening a libp2p stream costs a multistream
 * negotiation and a peer-store write at both ends, and a fetcher asks the same peers again and
 * again while a swarm forms: one session per peer (`AvailabilitySessions`) made those questions
 * several times cheaper.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { CID } from '../store/cid.ts'
import { CID as CIDClass } from '../store/cid.ts'
import { IntegrityError } from '../util/errors.ts'
import { logger } from '../util/logger.ts'
import type { Host } from './host.ts'
import { BLOB_PROTOCOL } from './protocols.ts'
import { channel, expectRecord, withTimeout, type MessageChannel } from './wire.ts'

const log = logger('blob-protocol')
export const MESSAGE_LIMIT = 64 << 10
/** Most chunks a bitmap may describe (a 1 TiB blob at 4 MiB chunks). */
export const MAX_CHUNKS = 1 << 18
/** Longest ticket an answer may carry. */
export const MAX_TICKET = 200
/** An answer takes at most this long. */
const ANSWER_TIMEOUT_MS = 3_000
/** A session without questions for this long is closed (by either side). */
export const SESSION_IDLE_MS = 30_000

/** What a peer has of a blob, and a ticket to fetch it. */
export interface Availability {
  size: number
  /** null: every chunk; else one byte per chunk, 1 = verified. */
  chunks: Uint8Array | null
  /** Data-plane base URL, e.g. `http://10.0.0.5:7682`. */
  url: string
  ticket: string
  /** Data-plane responses the peer was sending when it answered: fetchers prefer idle holders. */
  uploads: number
}

/** An availability answer as sent: the data plane's port, before it is joined to the peer's address. */
export type BlobAnswer = { have: false } | { have: true, size: number, chunks: Uint8Array | null, port: number, ticket: string, uploads: number }

/** The CID a decoded availability request asks about; an IntegrityError if it is malformed. */
export function parseBlobRequest (value: unknown): CID {
  const cid = CIDClass.asCID(expectRecord(value, 'blob request').cid)
  if (cid === null) throw new IntegrityError('blob request without a CID')
  return cid
}

/** Check a decoded availability answer's fields; an IntegrityError if any is malformed. */
export function parseBlobAnswer (value: unknown): BlobAnswer {
  const reply = expectRecord(value, 'blob answer')
  if (reply.have !== true) return { have: false }
  const { size, chunks, port, ticket, uploads = 0 } = reply
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535 ||
      typeof ticket !== 'string' || ticket.length > MAX_TICKET || typeof uploads !== 'number' || !Number.isSafeInteger(uploads) || uploads < 0 || (chunks !== null && (!(chunks instanceof Uint8Array) || chunks.length > MAX_CHUNKS))) {
    throw new IntegrityError('peer sent a malformed blob answer')
  }
  return { have: true, size, chunks: chunks as Uint8Array | null, port, ticket, uploads }
}

/** What this node has, for the handler. */
export type LocalAvailability = (cid: CID) => Promise<{ size: number, chunks: Uint8Array | null } | undefined>

/** Answer availability questions, one after another on each stream, until it ends or idles. */
export async function handleBlobProtocol (host: Host, local: LocalAvailability, ticketFor: (cid: CID, peer: PeerId) => string, dataPlane: { readonly port: number, readonly uploads: number }): Promise<void> {
  await host.handle(BLOB_PROTOCOL, async (stream: Stream, connection: Connection) => {
    const ch = channel(stream, MESSAGE_LIMIT)
    try {
      while (true) {
        let message: unknown
        try {
          message = await ch.read(AbortSignal.timeout(SESSION_IDLE_MS))
        } catch (err) {
          if (err instanceof IntegrityError) throw err
          break // the asker closed the session, or it idled
        }
        const cid = parseBlobRequest(message)
        const have = await local(cid)
        const answer: BlobAnswer = have === undefined ? { have: false } : { have: true, size: have.size, chunks: have.chunks, port: dataPlane.port, ticket: ticketFor(cid, connection.remotePeer), uploads: dataPlane.uploads }
        await ch.write(answer, AbortSignal.timeout(ANSWER_TIMEOUT_MS))
      }
      await ch.close()
    } catch (err) {
      log.debug({ peer: connection.remotePeer.toString(), err: (err as Error).message }, 'blob request failed')
      ch.abort(err as Error)
    }
  }, { maxInboundStreams: 64 })
}

/** Turn an answer into an `Availability` (undefined: the peer has nothing). */
function readAnswer (host: Host, peer: PeerId, value: unknown): Availability | undefined {
  const answer = parseBlobAnswer(value)
  if (!answer.have) return undefined
  const { size, chunks, port, ticket, uploads } = answer
  // The data plane is on the address this connection reached the peer at.
  const ip = host.getConnections(peer)[0]?.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
  if (ip === undefined) return undefined
  return { size, chunks, url: `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}`, ticket, uploads }
}

interface Session {
  ch: MessageChannel
  /** Questions run one at a time: each waits for the one before. */
  queue: Promise<unknown>
  idle: NodeJS.Timeout | undefined
}

/** Asks peers about blobs, over one session per peer. */
export class AvailabilitySessions {
  readonly #host: Host
  readonly #sessions = new Map<string, Session>()
  #closed = false

  constructor (host: Host) {
    this.#host = host
  }

  /** Ask `peer` what it has of `cid`; undefined if nothing. Throws if it does not answer in time. */
  async ask (peer: PeerId, cid: CID, signal?: AbortSignal): Promise<Availability | undefined> {
    const key = peer.toString()
    const reused = this.#sessions.get(key)
    try {
      return await this.#askOn(peer, reused ?? await this.#open(peer, signal), cid, signal)
    } catch (err) {
      // A session the peer had closed meanwhile (it idled, or the peer answers one question per
      // stream): once more on a fresh one.
      if (reused === undefined || this.#closed || signal?.aborted === true) throw err
      return await this.#askOn(peer, await this.#open(peer, signal), cid, signal)
    }
  }

  /** Close every session. */
  close (): void {
    this.#closed = true
    for (const key of [...this.#sessions.keys()]) this.#drop(key, new Error('node stopping'))
  }

  async #open (peer: PeerId, signal?: AbortSignal): Promise<Session> {
    if (this.#closed) throw new Error('availability sessions closed')
    const stream = await this.#host.dialProtocol(peer, BLOB_PROTOCOL, { signal: withTimeout(ANSWER_TIMEOUT_MS, signal) })
    const session: Session = { ch: channel(stream, MESSAGE_LIMIT), queue: Promise.resolve(), idle: undefined }
    const key = peer.toString()
    this.#drop(key)
    this.#sessions.set(key, session)
    stream.addEventListener('close', () => { if (this.#sessions.get(key) === session) this.#sessions.delete(key) }, { once: true })
    return session
  }

  async #askOn (peer: PeerId, session: Session, cid: CID, signal?: AbortSignal): Promise<Availability | undefined> {
    const key = peer.toString()
    const turn = session.queue.then(async () => {
      clearTimeout(session.idle)
      const timeout = withTimeout(ANSWER_TIMEOUT_MS, signal)
      await session.ch.write({ cid }, timeout)
      return readAnswer(this.#host, peer, await session.ch.read(timeout))
    })
    session.queue = turn.catch(() => {})
    try {
      return await turn
    } catch (err) {
      // Mid-question, the stream is out of step: it cannot be reused.
      this.#drop(key, err as Error, session)
      throw err
    } finally {
      if (this.#sessions.get(key) === session) {
        clearTimeout(session.idle)
        session.idle = setTimeout(() => this.#drop(key, undefined, session), SESSION_IDLE_MS - 5_000)
        session.idle.unref()
      }
    }
  }

  /** Forget the session with `key` (only `expected`, when given), closing or aborting its stream. */
  #drop (key: string, err?: Error, expected?: Session): void {
    const session = this.#sessions.get(key)
    if (session === undefined || (expected !== undefined && session !== expected)) {
      if (expected !== undefined && err !== undefined) expected.ch.abort(err)
      return
    }
    this.#sessions.delete(key)
    clearTimeout(session.idle)
    if (err === undefined) void session.ch.close()
    else session.ch.abort(err)
  }
}
