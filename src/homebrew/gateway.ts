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
import { IMMUTABLE, REVALIDATE, sendResource } from '../gateway/send.ts'
import { cidFromSha256Hex } from '../store/cid.ts'
import { OCI_INDEX_MEDIA_TYPE } from './manifest.ts'
import { apiCatalogPath, manifestCatalogPath } from './names.ts'
import { parseBottleDomainPath, parseGhcrPath } from './routes.ts'

/** Metadata this small is served from memory; larger API files (formula.jws.json) stream. */
const IN_MEMORY_LIMIT = 1 << 20

async function sendMeta (ctx: Context, content: GatewayContent, path: string, contentType: string): Promise<void> {
  const entry = await content.lookup(path)
  if (entry === undefined) fail(404, 'not in this mirror')
  const bytes = entry.size <= IN_MEMORY_LIMIT ? await content.read(entry) : undefined
  await sendResource(ctx, content, { ...entry, contentType, cacheControl: REVALIDATE, bytes })
}

async function sendManifest (ctx: Context, content: GatewayContent, image: string, ref: string): Promise<void> {
  ctx.state.route = 'homebrew-manifest'
  await sendMeta(ctx, content, manifestCatalogPath(image, ref), OCI_INDEX_MEDIA_TYPE)
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
    await sendResource(ctx, content, { ...entry, contentType: 'application/gzip', cacheControl: IMMUTABLE })
  })

  router.get('/v2/homebrew/core/{*path}', async ctx => {
    const route = parseGhcrPath(ctx.path.slice('/v2/homebrew/core/'.length))
    if (route === undefined) fail(400, 'malformed GHCR path')
    if (route.kind === 'manifest') return await sendManifest(ctx, content, route.image, route.ref)
    ctx.state.route = 'homebrew-blob'
    const cid = cidFromSha256Hex(route.sha256)
    const info = await content.stat(cid)
    if (info === undefined) fail(404, 'blob unknown to this mirror')
    await sendResource(ctx, content, { cid, ...info, contentType: 'application/octet-stream', cacheControl: IMMUTABLE })
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
