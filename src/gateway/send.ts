/**
 * Sending one resource with full HTTP semantics: ETag (the CID), Last-Modified, conditional
 * requests (304), single ranges (206/416), HEAD without opening the content, and streaming bodies
 * that abort the connection if the bytes fail verification half-way.
 */
import type { Context } from 'koa'
import type { CID } from '../store/cid.ts'
import { sendFileRange } from '../util/send-file.ts'
import { fail } from './fail.ts'
import { etagMatches, notModifiedSince, parseRange } from './http.ts'
import type { GatewayContent } from './interface.ts'

/** Blobs never change under a CID. */
export const IMMUTABLE = 'public, max-age=31536000, immutable'
/** Index and API files change with each head: clients may reuse them briefly, then revalidate. */
export const REVALIDATE = 'public, max-age=60, must-revalidate'

/** What to send. */
export interface Resource {
  cid: CID
  size: number
  mtime: number
  contentType: string
  cacheControl: string
  /** Small metadata already in memory (sent from the buffer instead of a stream). */
  bytes?: Uint8Array
}

/** A package blob to send: its size, and its mtime unless given, are what `content.stat` reports. */
export type BlobResource = Omit<Resource, 'size' | 'mtime' | 'bytes'> & { mtime?: number }

/**
 * Answer with a package blob (a crate, a bottle, any CID), or 404 when this node cannot serve it.
 * A catalog entry alone is not enough: with on-demand replication the catalog names blobs that are
 * not held, and finding that out only when opening the stream would turn into a 500 (or, for HEAD,
 * a 200 for bytes the GET then cannot send). The content layer counts hits and misses.
 */
export async function sendBlob (ctx: Context, content: GatewayContent, resource: BlobResource, notFound: string): Promise<void> {
  const held = await content.stat(resource.cid)
  if (held === undefined) fail(404, notFound)
  await sendResource(ctx, content, { ...resource, size: held.size, mtime: resource.mtime ?? held.mtime })
}

/** Answer `ctx` with `resource`. */
export async function sendResource (ctx: Context, content: GatewayContent, resource: Resource): Promise<void> {
  const etag = `"${resource.cid.toString()}"`
  ctx.set('ETag', etag)
  ctx.set('Last-Modified', new Date(resource.mtime).toUTCString())
  ctx.set('Cache-Control', resource.cacheControl)
  ctx.set('Accept-Ranges', 'bytes')
  ctx.type = resource.contentType
  const ifNoneMatch = ctx.get('If-None-Match') || undefined
  if (etagMatches(ifNoneMatch, etag) || (ifNoneMatch === undefined && notModifiedSince(ctx.get('If-Modified-Since') || undefined, resource.mtime))) {
    ctx.status = 304
    return
  }
  let range = parseRange(ctx.get('Range') || undefined, resource.size)
  const ifRange = ctx.get('If-Range')
  if (ifRange !== '' && range !== undefined && ifRange !== etag && !notModifiedSince(ifRange, resource.mtime)) range = undefined
  if (range === 'unsatisfiable') {
    // Status after body: Koa turns a null body with no explicit status into a 204.
    ctx.type = 'text/plain'
    ctx.body = 'range not satisfiable\n'
    ctx.status = 416
    ctx.set('Content-Range', `bytes */${resource.size}`)
    return
  }
  const length = range === undefined ? resource.size : range.end - range.start + 1
  if (ctx.method === 'HEAD') {
    ctx.status = range === undefined ? 200 : 206
    if (range !== undefined) ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${resource.size}`)
    ctx.length = length
    return
  }
  const file = resource.bytes === undefined ? await content.openFile?.(resource.cid) : undefined
  if (resource.bytes !== undefined) {
    ctx.state.cacheable = true // depends on the URL and the current heads only (response-cache.ts)
    ctx.body = Buffer.from(resource.bytes.buffer, resource.bytes.byteOffset, resource.bytes.byteLength).subarray(range?.start ?? 0, (range?.end ?? resource.size - 1) + 1)
  } else if (file === undefined) {
    const stream = await content.open(resource.cid, resource.size, range)
    // Bytes that fail verification after the headers went out: abort the connection, so the client
    // never mistakes a truncated body for a complete one.
    stream.once('error', err => ctx.res.destroy(err))
    ctx.body = stream
  }
  ctx.status = range === undefined ? 200 : 206
  if (range !== undefined) ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${resource.size}`)
  ctx.length = length
  if (file !== undefined) {
    // A held blob: written here through reused buffers (Koa would pipe a read stream).
    ctx.respond = false
    try {
      await sendFileRange(file, range?.start ?? 0, range?.end ?? resource.size - 1, ctx.res)
    } catch {
      ctx.res.destroy() // client gone, or the file shrank: never let a short body look complete
    } finally {
      await file.close()
    }
  }
}
