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
const DATA_FRAME = 1 << 20
const MESSAGE_LIMIT = MAX_NODE_BYTES + 1024
const TIMEOUT = 30_000

/** Serve catalog nodes and metadata from `repo`. */
export async function handleCatalogProtocol (host: Host, repo: Repo): Promise<void> {
  await host.handle(CATALOG_PROTOCOL, async (stream: Stream, connection: Connection) => {
    const ch = channel(stream, MESSAGE_LIMIT)
    const signal = AbortSignal.timeout(TIMEOUT)
    try {
      const request = expectRecord(await ch.read(signal), 'catalog request')
      if (request.want === 'nodes' && Array.isArray(request.cids) && request.cids.length <= MAX_NODES_PER_REQUEST) {
        for (const item of request.cids) {
          const cid = CIDClass.asCID(item)
          if (cid === null) throw new IntegrityError('catalog request names a non-CID')
          const bytes = await repo.db.nodes.get(cid.toString())
          await ch.write(bytes === undefined ? { cid, missing: true } : { cid, bytes }, signal)
        }
      } else if (request.want === 'meta' && CIDClass.asCID(request.cid) !== null) {
        const cid = CIDClass.asCID(request.cid) as CID
        const size = await repo.blobs.size(cid)
        if (size === undefined || size > MAX_META_BYTES) {
          await ch.write({ missing: true }, signal)
        } else {
          await ch.write({ size }, signal)
          for await (const chunk of repo.blobs.createReadStream(cid)) {
            for (let at = 0; at < (chunk as Buffer).length; at += DATA_FRAME) await ch.write({ data: (chunk as Buffer).subarray(at, at + DATA_FRAME) }, signal)
          }
        }
      } else {
        throw new IntegrityError('malformed catalog request')
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
      const reply = expectRecord(await ch.read(timeout), 'catalog node')
      const got = CIDClass.asCID(reply.cid)
      if (got === null || !got.equals(cid)) throw new IntegrityError('peer answered a catalog request out of order')
      if (reply.bytes instanceof Uint8Array) out.set(cid.toString(), reply.bytes)
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
    const header = expectRecord(await ch.read(timeout), 'meta header')
    if (header.missing === true) throw new NotFoundError(`peer ${peer.toString()} does not hold ${cid.toString()}`)
    if (header.size !== size) throw new IntegrityError(`peer says ${cid.toString()} has ${String(header.size)} bytes, the catalog says ${size}`)
    let received = 0
    while (received < size) {
      const frame = expectRecord(await ch.read(timeout), 'meta data')
      if (!(frame.data instanceof Uint8Array) || frame.data.length === 0 || received + frame.data.length > size) throw new IntegrityError('peer sent a malformed data frame')
      received += frame.data.length
      yield frame.data
    }
    await ch.close()
  } catch (err) {
    ch.abort(err as Error)
    throw err
  }
}
