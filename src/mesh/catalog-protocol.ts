/**
 * `/mirrormesh/catalog/1.0.0` (protocols/catalog-fetch/README.md): catalog nodes by CID, and the
 * small metadata files a head needs, from a peer. Everything received is verified by the caller's
 * hash checks before use; bulk blobs never travel here (they use the data plane).
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { CID } from '../store/cid.ts'
import { CID as CIDClass } from '../store/cid.ts'
import type { Repo } from '../node/repo.ts'
import { IntegrityError, NotFoundError } from '../util/errors.ts'
import { logger } from '../util/logger.ts'
import type { Host } from './host.ts'
import { CATALOG_PROTOCOL } from './protocols.ts'
import { channel, expectRecord, withTimeout } from './wire.ts'
import { MAX_NODE_BYTES } from '../catalog/node.ts'

const log = logger('catalog-protocol')
/** Most nodes asked for in one request. */
export const MAX_NODES_PER_REQUEST = 512
/** Metadata files served here at most this big; larger content goes through the data plane. */
export const MAX_META_BYTES = 256 << 20
export const DATA_FRAME = 1 << 20
export const MESSAGE_LIMIT = MAX_NODE_BYTES + 1024
const TIMEOUT = 30_000

/** A decoded catalog request. */
export type CatalogRequest = { want: 'nodes', cids: CID[] } | { want: 'meta', cid: CID }

/** Check a decoded request; an IntegrityError if it is malformed (nothing of it is answered). */
export function parseCatalogRequest (value: unknown): CatalogRequest {
  const request = expectRecord(value, 'catalog request')
  if (request.want === 'nodes' && Array.isArray(request.cids) && request.cids.length <= MAX_NODES_PER_REQUEST) {
    const cids = request.cids.map(item => CIDClass.asCID(item))
    if (cids.some(cid => cid === null)) throw new IntegrityError('catalog request names a non-CID')
    return { want: 'nodes', cids: cids as CID[] }
  }
  const cid = CIDClass.asCID(request.cid)
  if (request.want === 'meta' && cid !== null) return { want: 'meta', cid }
  throw new IntegrityError('malformed catalog request')
}

/** The bytes of a node answer for `expected` (undefined: the peer lacks it); an IntegrityError if it answers another CID. */
export function parseNodeAnswer (value: unknown, expected: CID): Uint8Array | undefined {
  const reply = expectRecord(value, 'catalog node')
  const got = CIDClass.asCID(reply.cid)
  if (got === null || !got.equals(expected)) throw new IntegrityError('peer answered a catalog request out of order')
  return reply.bytes instanceof Uint8Array ? reply.bytes : undefined
}

/** The size a metadata header announces (undefined: the peer lacks the file); an IntegrityError unless it is `size`. */
export function parseMetaHeader (value: unknown, cid: CID, size: number): number | undefined {
  const header = expectRecord(value, 'meta header')
  if (header.missing === true) return undefined
  if (header.size !== size) throw new IntegrityError(`peer says ${cid.toString()} has ${String(header.size)} bytes, the catalog says ${size}`)
  return size
}

/** The bytes of a metadata frame, `received` of `size` bytes in; an IntegrityError if it is empty, malformed or too long. */
export function parseMetaFrame (value: unknown, received: number, size: number): Uint8Array {
  const frame = expectRecord(value, 'meta data')
  if (!(frame.data instanceof Uint8Array) || frame.data.length === 0 || received + frame.data.length > size) throw new IntegrityError('peer sent a malformed data frame')
  return frame.data
}

/** Serve catalog nodes and metadata from `repo`. */
export async function handleCatalogProtocol (host: Host, repo: Repo): Promise<void> {
  await host.handle(CATALOG_PROTOCOL, async (stream: Stream, connection: Connection) => {
    const ch = channel(stream, MESSAGE_LIMIT)
    const signal = AbortSignal.timeout(TIMEOUT)
    try {
      const request = parseCatalogRequest(await ch.read(signal))
      if (request.want === 'nodes') {
        for (const cid of request.cids) {
          const bytes = await repo.db.nodes.get(cid.toString())
          await ch.write(bytes === undefined ? { cid, missing: true } : { cid, bytes }, signal)
        }
      } else {
        const cid = request.cid
        const size = await repo.blobs.size(cid)
        if (size === undefined || size > MAX_META_BYTES) {
          await ch.write({ missing: true }, signal)
        } else {
          await ch.write({ size }, signal)
          for await (const chunk of repo.blobs.createReadStream(cid)) {
            for (let at = 0; at < (chunk as Buffer).length; at += DATA_FRAME) await ch.write({ data: (chunk as Buffer).subarray(at, at + DATA_FRAME) }, signal)
          }
        }
      }
      await ch.close()
    } catch (err) {
      log.debug({ peer: connection.remotePeer.toString(), err: (err as Error).message }, 'catalog request failed')
      ch.abort(err as Error)
    }
  }, { maxInboundStreams: 16 })
}

/** Fetch node bytes by CID from a peer (unverified: the caller decodes and checks each). */
export async function fetchNodes (host: Host, peer: PeerId, cids: CID[], signal?: AbortSignal): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>()
  const timeout = withTimeout(TIMEOUT, signal)
  const stream = await host.dialProtocol(peer, CATALOG_PROTOCOL, { signal: timeout })
  const ch = channel(stream, MESSAGE_LIMIT)
  try {
    await ch.write({ want: 'nodes', cids }, timeout)
    for (const cid of cids) {
      const bytes = parseNodeAnswer(await ch.read(timeout), cid)
      if (bytes !== undefined) out.set(cid.toString(), bytes)
    }
    await ch.close()
    return out
  } catch (err) {
    ch.abort(err as Error)
    throw err
  }
}

/** Stream a metadata file's bytes from a peer (unverified: pipe it through the store's hash check). */
export async function * fetchMeta (host: Host, peer: PeerId, cid: CID, size: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const timeout = withTimeout(TIMEOUT * 4, signal)
  const stream = await host.dialProtocol(peer, CATALOG_PROTOCOL, { signal: timeout })
  const ch = channel(stream, DATA_FRAME + 1024)
  try {
    await ch.write({ want: 'meta', cid }, timeout)
    if (parseMetaHeader(await ch.read(timeout), cid, size) === undefined) throw new NotFoundError(`peer ${peer.toString()} does not hold ${cid.toString()}`)
    let received = 0
    while (received < size) {
      const data = parseMetaFrame(await ch.read(timeout), received, size)
      received += data.length
      yield data
    }
    await ch.close()
  } catch (err) {
    ch.abort(err as Error)
    throw err
  }
}
