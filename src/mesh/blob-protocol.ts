/**
 * `/mirrormesh/blob/1.0.0` (protocols/blob-exchange/README.md): "do you have this blob?" over
 * libp2p. The answer says how much (all of it, or which chunks are verified so far) and carries a
 * data-plane ticket: where and how to fetch the bytes.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { CID } from '../store/cid.ts'
import { CID as CIDClass } from '../store/cid.ts'
import { IntegrityError } from '../util/errors.ts'
import { logger } from '../util/logger.ts'
import type { Host } from './host.ts'
import { BLOB_PROTOCOL } from './protocols.ts'
import { channel, expectRecord, withTimeout } from './wire.ts'

const log = logger('blob-protocol')
const MESSAGE_LIMIT = 64 << 10
/** Most chunks a bitmap may describe (a 1 TiB blob at 4 MiB chunks). */
const MAX_CHUNKS = 1 << 18

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

/** What this node has, for the handler. */
export type LocalAvailability = (cid: CID) => Promise<{ size: number, chunks: Uint8Array | null } | undefined>

/** Answer availability queries. */
export async function handleBlobProtocol (host: Host, local: LocalAvailability, ticketFor: (cid: CID) => string, dataPlane: { readonly port: number, readonly uploads: number }): Promise<void> {
  await host.handle(BLOB_PROTOCOL, async (stream: Stream, connection: Connection) => {
    const ch = channel(stream, MESSAGE_LIMIT)
    try {
      const signal = AbortSignal.timeout(10_000)
      const request = expectRecord(await ch.read(signal), 'blob request')
      const cid = CIDClass.asCID(request.cid)
      if (cid === null) throw new IntegrityError('blob request without a CID')
      const have = await local(cid)
      await ch.write(have === undefined ? { have: false } : { have: true, size: have.size, chunks: have.chunks, port: dataPlane.port, ticket: ticketFor(cid), uploads: dataPlane.uploads }, signal)
      await ch.close()
    } catch (err) {
      log.debug({ peer: connection.remotePeer.toString(), err: (err as Error).message }, 'blob request failed')
      ch.abort(err as Error)
    }
  }, { maxInboundStreams: 64 })
}

/** Ask a peer what it has of `cid`; undefined if nothing (or it does not answer in time). */
export async function askAvailability (host: Host, peer: PeerId, cid: CID, signal?: AbortSignal): Promise<Availability | undefined> {
  const timeout = withTimeout(3_000, signal)
  const stream = await host.dialProtocol(peer, BLOB_PROTOCOL, { signal: timeout })
  const ch = channel(stream, MESSAGE_LIMIT)
  try {
    await ch.write({ cid }, timeout)
    const reply = expectRecord(await ch.read(timeout), 'blob answer')
    await ch.close()
    if (reply.have !== true) return undefined
    const { size, chunks, port, ticket, uploads = 0 } = reply
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535 ||
        typeof ticket !== 'string' || ticket.length > 200 || typeof uploads !== 'number' || !Number.isSafeInteger(uploads) || uploads < 0 || (chunks !== null && (!(chunks instanceof Uint8Array) || chunks.length > MAX_CHUNKS))) {
      throw new IntegrityError('peer sent a malformed blob answer')
    }
    // The data plane is on the address this connection reached the peer at.
    const ip = host.getConnections(peer)[0]?.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
    if (ip === undefined) return undefined
    return { size, chunks: chunks as Uint8Array | null, url: `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}`, ticket, uploads }
  } catch (err) {
    ch.abort(err as Error)
    throw err
  }
}
