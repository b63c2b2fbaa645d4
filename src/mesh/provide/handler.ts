/**
 * The receiving side of `/mirrormesh/provide/1.0.0`: one request per stream, checked whole, then
 * written to the DHT provider store as records of the *remote* peer — the one the noise handshake
 * authenticated. A peer can only announce itself, whatever the message says.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Logger } from '../../util/logger.ts'
import { decodeRequest, encodeResponse, MAX_MESSAGE_BYTES, ProvideMessageError, Status, type ProvideResponse } from './messages.ts'
import { applyRecords, type ProviderStore } from './records.ts'

/** Time for a whole request to arrive (ms). */
export const READ_TIMEOUT = 10_000

/** Limits of the receiving side. */
export interface HandlerOptions {
  /** Requests handled at once over all connections; beyond, peers get BUSY. */
  maxConcurrent: number
  /** Time for a request's records to be stored and answered (ms). */
  timeout: number
}

/** Counters of inbound traffic (for status and metrics). */
export interface HandlerStats {
  accepted: number
  rejected: number
  reset: number
  recordsAdded: number
  recordsRemoved: number
}

/** Handles inbound provide streams. */
export class ProvideHandler {
  readonly stats: HandlerStats = { accepted: 0, rejected: 0, reset: 0, recordsAdded: 0, recordsRemoved: 0 }
  private inflight = 0
  private readonly store: ProviderStore
  private readonly log: Logger
  private readonly options: HandlerOptions

  constructor (store: ProviderStore, log: Logger, options: HandlerOptions) {
    this.store = store
    this.log = log
    this.options = options
  }

  /** The libp2p stream handler. Never throws: hostile input ends in a reply or a reset stream. */
  readonly handle = async (stream: Stream, connection: Connection): Promise<void> => {
    const peer = connection.remotePeer
    const signal = AbortSignal.timeout(this.options.timeout)
    // 256 KiB cross a LAN in milliseconds: a peer dribbling bytes only wants to hold a slot.
    const arrival = AbortSignal.any([signal, AbortSignal.timeout(READ_TIMEOUT)])
    // Oversize length prefixes are refused before a byte of the body is buffered.
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
    const busy = this.inflight >= this.options.maxConcurrent
    this.inflight++
    try {
      const bytes = (await lp.read({ signal: arrival })).subarray()
      let response: ProvideResponse = { status: Status.OK }
      if (busy) {
        response = { status: Status.BUSY, error: 'too many provide requests in flight' }
      } else {
        try {
          const request = decodeRequest(bytes)
          await applyRecords(this.store, peer, request.add, request.remove, { signal })
          this.stats.recordsAdded += request.add.length
          this.stats.recordsRemoved += request.remove.length
        } catch (err) {
          response = err instanceof ProvideMessageError
            ? { status: err.status, error: err.message }
            : { status: Status.INTERNAL, error: 'could not store the records' }
          this.log.debug({ peer: peer.toString(), err: (err as Error).message }, 'provide request refused')
        }
      }
      if (response.status === Status.OK) this.stats.accepted++
      else this.stats.rejected++
      await lp.write(encodeResponse(response), { signal })
      await stream.close({ signal })
    } catch (err) {
      // Oversize, truncated, too slow, or the peer reset: nothing was stored; reset and move on.
      this.stats.reset++
      this.log.debug({ peer: peer.toString(), err: (err as Error).message }, 'provide stream reset')
      stream.abort(err as Error)
    } finally {
      this.inflight--
    }
  }
}
