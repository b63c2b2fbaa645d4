/**
 * Cargo's sparse registry over HTTP (Cargo book, "Registry Index" → "Sparse protocol"):
 *   /cargo/index/config.json                       {"dl": ".../cargo/crates", "api": null}
 *   /cargo/index/{sparse path}                      index file (404 = no such crate, as cargo reads it)
 *   /cargo/crates/{crate}/{version}/download        the .crate (cargo appends this to `dl`)
 */
import type Router from '@koa/router'
import type { Context } from 'koa'
import type { GatewayDeps } from '../gateway/app.ts'
import { fail } from '../gateway/fail.ts'
import { IMMUTABLE, REVALIDATE, sendBlob, sendResource } from '../gateway/send.ts'
import { crateCatalogPath, isValidCrateName, sparseIndexPath } from './index-path.ts'
import { isSemverVersion } from './semver.ts'

const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/

/** The origin clients reached us by, so `dl` works for localhost and LAN clients alike. */
function origin (ctx: Context): string {
  const host = ctx.get('Host')
  if (!HOST.test(host)) fail(400, 'bad Host header')
  return `${ctx.protocol}://${host}`
}

/** Register the cargo routes. */
export function registerCargoRoutes (router: Router, { content }: GatewayDeps): void {
  router.get('/cargo/index/config.json', ctx => {
    ctx.state.route = 'cargo-config'
    ctx.set('Cache-Control', REVALIDATE)
    ctx.type = 'application/json'
    ctx.body = JSON.stringify({ dl: `${origin(ctx)}/cargo/crates`, api: null })
  })

  router.get('/cargo/index/{*path}', async ctx => {
    ctx.state.route = 'cargo-index'
    const path = ctx.path.slice('/cargo/index/'.length)
    const name = path.split('/').at(-1) ?? ''
    // The path must be exactly where the Cargo book puts this name; anything else names no crate.
    if (!/^[a-z0-9_/-]+$/.test(path) || !isValidCrateName(name)) fail(400, 'malformed index path')
    if (sparseIndexPath(name) !== path) fail(404, 'no such crate')
    const entry = await content.lookup(`cargo/index/${path}`)
    if (entry === undefined) fail(404, 'no such crate')
    await sendResource(ctx, content, { ...entry, contentType: 'text/plain; charset=utf-8', cacheControl: REVALIDATE, bytes: await content.read(entry) })
  })

  router.get('/cargo/crates/:crate/:version/download', async ctx => {
    ctx.state.route = 'cargo-crate'
    const { crate = '', version = '' } = ctx.params
    if (!isValidCrateName(crate) || !isSemverVersion(version)) fail(400, 'malformed crate name or version')
    const entry = await content.lookup(crateCatalogPath(crate, version))
    if (entry === undefined) fail(404, `no crate ${crate} ${version} here`)
    await sendBlob(ctx, content, { cid: entry.cid, mtime: entry.mtime, contentType: 'application/gzip', cacheControl: IMMUTABLE }, `crate ${crate} ${version} is not held here`)
  })
}
