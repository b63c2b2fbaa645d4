/**
 * Homebrew over HTTP, in the layouts brew asks for (BRIEF §3, docs/homebrew.md):
 *   /homebrew/bottles/{flat bottle name}            HOMEBREW_BOTTLE_DOMAIN
 *   /homebrew/bottles/{image}/manifests/{ref}       brew ≥ 6.0.13 asks the bottle domain for manifests
 *   /v2/homebrew/core/{image}/blobs/sha256:{hex}    HOMEBREW_ARTIFACT_DOMAIN (GHCR layout)
 *   /v2/homebrew/core/{image}/manifests/{ref}
 *   /homebrew/api/{file}                            HOMEBREW_API_DOMAIN, byte-identical JWS files
 * No route ever asks for credentials: brew sends `Authorization: Bearer QQ==` and must not get a 401.
 */
import type Router from '@koa/router'
import type { Context } from 'koa'
import type { GatewayDeps } from '../gateway/app.ts'
import type { GatewayContent } from '../gateway/interface.ts'
import { fail } from '../gateway/fail.ts'
import { IMMUTABLE, REVALIDATE, sendBlob, sendResource } from '../gateway/send.ts'
import { cidFromSha256Hex, sha256Hex } from '../store/cid.ts'
import { OCI_INDEX_MEDIA_TYPE } from './manifest.ts'
import { apiCatalogPath, manifestCatalogPath } from './names.ts'
import { parseBottleDomainPath, parseGhcrPath } from './routes.ts'

/** Metadata this small is served from memory; larger API files (formula.jws.json) stream. */
const IN_MEMORY_LIMIT = 1 << 20

async function sendMeta (ctx: Context, content: GatewayContent, path: string, contentType: string, digestHeader = false): Promise<void> {
  const entry = await content.lookup(path)
  if (entry === undefined) fail(404, 'not in this mirror')
  // What a registry sends with a manifest (OCI distribution spec); the CID is the sha256 of the bytes.
  if (digestHeader) ctx.set('Docker-Content-Digest', `sha256:${sha256Hex(entry.cid)}`)
  const bytes = entry.size <= IN_MEMORY_LIMIT ? await content.read(entry) : undefined
  await sendResource(ctx, content, { ...entry, contentType, cacheControl: REVALIDATE, bytes })
}

async function sendManifest (ctx: Context, content: GatewayContent, image: string, ref: string): Promise<void> {
  ctx.state.route = 'homebrew-manifest'
  await sendMeta(ctx, content, manifestCatalogPath(image, ref), OCI_INDEX_MEDIA_TYPE, true)
}

/** Register the Homebrew routes. */
export function registerHomebrewRoutes (router: Router, { content }: GatewayDeps): void {
  router.get('/homebrew/bottles/{*path}', async ctx => {
    const route = parseBottleDomainPath(ctx.path.slice('/homebrew/bottles/'.length))
    if (route === undefined) fail(400, 'malformed bottle path')
    if (route.kind === 'manifest') return await sendManifest(ctx, content, route.image, route.ref)
    ctx.state.route = 'homebrew-bottle'
    const entry = await content.lookup(route.catalogPath)
    if (entry === undefined) fail(404, 'no such bottle in this mirror')
    // brew repeats a HEAD as a GET when no response names the file (docs/homebrew.md §6 B.3).
    ctx.set('Content-Disposition', `attachment; filename="${route.catalogPath.slice(route.catalogPath.lastIndexOf('/') + 1).replace(/["\\]/g, '_')}"`)
    await sendBlob(ctx, content, { cid: entry.cid, mtime: entry.mtime, contentType: 'application/octet-stream', cacheControl: IMMUTABLE }, 'bottle not held here')
  })

  router.get('/v2/homebrew/core/{*path}', async ctx => {
    const route = parseGhcrPath(ctx.path.slice('/v2/homebrew/core/'.length))
    if (route === undefined) fail(400, 'malformed GHCR path')
    if (route.kind === 'manifest') return await sendManifest(ctx, content, route.image, route.ref)
    ctx.state.route = 'homebrew-blob'
    await sendBlob(ctx, content, { cid: cidFromSha256Hex(route.sha256), contentType: 'application/octet-stream', cacheControl: IMMUTABLE }, 'blob unknown to this mirror')
  })

  router.get('/homebrew/api/{*path}', async ctx => {
    ctx.state.route = 'homebrew-api'
    let path: string
    try {
      path = apiCatalogPath(decodeURIComponent(ctx.path.slice('/homebrew/api/'.length)))
    } catch {
      fail(400, 'malformed API path')
    }
    await sendMeta(ctx, content, path, 'application/json')
  })
}
