/** Framing for the mesh protocols: length-prefixed dag-cbor messages with hard size limits. */
import * as dagCbor from '@ipld/dag-cbor'
import type { Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { IntegrityError } from '../util/errors.ts'

/** A framed stream that reads and writes whole messages. */
export interface MessageChannel {
  read (signal?: AbortSignal): Promise<unknown>
  write (value: unknown, signal?: AbortSignal): Promise<void>
  close (): Promise<void>
  abort (err: Error): void
}

/** Wrap a stream; messages over `maxBytes` are refused (the stream is then unusable). */
export function channel (stream: Stream, maxBytes: number): MessageChannel {
  const lp: LengthPrefixedStream<Stream> = lpStream(stream, { maxDataLength: maxBytes })
  return {
    read: async signal => {
      const bytes = await lp.read({ signal })
      try {
        return dagCbor.decode(bytes.subarray())
      } catch (err) {
        throw new IntegrityError('peer sent a message that is not dag-cbor', { cause: err })
      }
    },
    write: async (value, signal) => { await lp.write(dagCbor.encode(value), { signal }) },
    close: async () => { await stream.close().catch(() => stream.abort(new Error('close failed'))) },
    abort: err => { stream.abort(err) }
  }
}

/** A record check for decoded messages: fields present and of the right kind, or an IntegrityError. */
export function expectRecord (value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new IntegrityError(`peer sent a malformed ${what} message`)
  }
  return value as Record<string, unknown>
}

/** A timeout signal combined with an optional caller signal. */
export function withTimeout (ms: number, signal?: AbortSignal): AbortSignal {
  return signal === undefined ? AbortSignal.timeout(ms) : AbortSignal.any([signal, AbortSignal.timeout(ms)])
}
