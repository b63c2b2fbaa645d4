/**
 * Wire format of `/mirrormesh/provide/1.0.0` (protocols/provide/README.md): one length-prefixed
 * dag-cbor request `{ add?: [bytes], remove?: [bytes] }` per stream, one `{ status, error? }` reply.
 * Everything a peer sends is checked here before any record is touched.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID, DAG_CBOR, RAW } from '../../store/cid.ts'
import { MirrormeshError } from '../../util/errors.ts'

/** Most CIDs (add + remove) in one request. */
export const MAX_CIDS_PER_MESSAGE = 4096
/** Largest request body; a longer length prefix makes the receiver reset the stream unread. */
export const MAX_MESSAGE_BYTES = 256 * 1024
/** Largest reply body. */
export const MAX_RESPONSE_BYTES = 1024
/** Longest `error` text a reply carries (it is for logs, never shown to users verbatim). */
export const MAX_ERROR_CHARS = 200

const SHA2_256 = 0x12

/** Reply status codes (the spec's table); never thrown strings on the wire. */
export const Status = {
  OK: 0,
  /** Not a map, a field of the wrong type, or a byte string that is not an accepted CID. */
  INVALID: 1,
  /** More than MAX_CIDS_PER_MESSAGE CIDs. */
  TOO_MANY: 2,
  /** The receiver is handling too many requests; try another peer or later. */
  BUSY: 3,
  /** The receiver could not store the records. */
  INTERNAL: 4
} as const

/** One of the reply status codes. */
export type StatusCode = typeof Status[keyof typeof Status]

/** A decoded request: records for the sending peer to add and to remove. */
export interface ProvideRequest {
  add: CID[]
  remove: CID[]
}

/** A decoded reply. */
export interface ProvideResponse {
  status: number
  error?: string
}

/** A request or reply that breaks the spec; `status` is what the receiver answers. */
export class ProvideMessageError extends MirrormeshError {
  readonly status: StatusCode
  constructor (status: StatusCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.status = status
  }
}

/** A peer answered a request with a status other than OK. */
export class ProvideRejectedError extends MirrormeshError {
  readonly status: number
  constructor (status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** Whether a CID may be announced: the CIDv1 sha2-256 raw / dag-cbor forms mirrormesh names blobs and nodes with. */
export function isAnnounceable (cid: CID): boolean {
  return cid.version === 1 && (cid.code === RAW || cid.code === DAG_CBOR) &&
    cid.multihash.code === SHA2_256 && cid.multihash.size === 32
}

/** Encode a request; a caller that exceeds the limits made a mistake (RangeError), not the peer. */
export function encodeRequest (request: ProvideRequest): Uint8Array {
  if (request.add.length + request.remove.length > MAX_CIDS_PER_MESSAGE) throw new RangeError(`a provide request holds at most ${MAX_CIDS_PER_MESSAGE} CIDs`)
  const body: Record<string, Uint8Array[]> = {}
  if (request.add.length > 0) body.add = request.add.map(cid => cid.bytes)
  if (request.remove.length > 0) body.remove = request.remove.map(cid => cid.bytes)
  return dagCbor.encode(body)
}

/** Decode and check a request: any bad entry rejects the whole message, so nothing is half-applied. */
export function decodeRequest (bytes: Uint8Array): ProvideRequest {
  if (bytes.byteLength > MAX_MESSAGE_BYTES) throw new ProvideMessageError(Status.TOO_MANY, 'request too large')
  const body = expectMap(decodeCbor(bytes, 'request'), 'request')
  const add = cidList(body.add, 'add')
  const remove = cidList(body.remove, 'remove')
  if (add.length + remove.length > MAX_CIDS_PER_MESSAGE) {
    throw new ProvideMessageError(Status.TOO_MANY, `request holds ${add.length + remove.length} CIDs, the limit is ${MAX_CIDS_PER_MESSAGE}`)
  }
  // Unknown fields are ignored (forward compatibility); none of them can name another provider.
  return { add, remove }
}

/** Encode a reply. */
export function encodeResponse (response: ProvideResponse): Uint8Array {
  const body: Record<string, number | string> = { status: response.status }
  if (response.error !== undefined) body.error = response.error.slice(0, MAX_ERROR_CHARS)
  return dagCbor.encode(body)
}

/** Decode and check a reply. */
export function decodeResponse (bytes: Uint8Array): ProvideResponse {
  const body = expectMap(decodeCbor(bytes, 'reply'), 'reply')
  if (!Number.isSafeInteger(body.status) || (body.status as number) < 0) throw new ProvideMessageError(Status.INVALID, 'reply without an integer status')
  const response: ProvideResponse = { status: body.status as number }
  if (typeof body.error === 'string') response.error = body.error.slice(0, MAX_ERROR_CHARS)
  return response
}

function decodeCbor (bytes: Uint8Array, what: string): unknown {
  try {
    return dagCbor.decode(bytes)
  } catch (err) {
    // Includes RangeError from absurd nesting: hostile bytes are an expected outcome, not a crash.
    throw new ProvideMessageError(Status.INVALID, `${what} is not dag-cbor`, { cause: err })
  }
}

function expectMap (value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array || CID.asCID(value) !== null) {
    throw new ProvideMessageError(Status.INVALID, `${what} is not a map`)
  }
  return value as Record<string, unknown>
}

function cidList (value: unknown, field: string): CID[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new ProvideMessageError(Status.INVALID, `"${field}" is not a list`)
  if (value.length > MAX_CIDS_PER_MESSAGE) throw new ProvideMessageError(Status.TOO_MANY, `"${field}" holds ${value.length} CIDs, the limit is ${MAX_CIDS_PER_MESSAGE}`)
  return value.map((entry: unknown, index) => {
    if (!(entry instanceof Uint8Array)) throw new ProvideMessageError(Status.INVALID, `"${field}"[${index}] is not a byte string`)
    let cid: CID
    try {
      cid = CID.decode(entry)
    } catch (err) {
      throw new ProvideMessageError(Status.INVALID, `"${field}"[${index}] is not a CID`, { cause: err })
    }
    if (!isAnnounceable(cid)) throw new ProvideMessageError(Status.INVALID, `"${field}"[${index}] is not a CIDv1 sha2-256 raw or dag-cbor CID`)
    return cid
  })
}
