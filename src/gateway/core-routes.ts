/** Ecosystem-agnostic routes: `/blobs/{cid}`, `/api/status`, `/metrics`, and the status page `/`. */
import type Router from '@koa/router'
import { parseCid } from '../store/cid.ts'
import type { GatewayDeps } from './app.ts'
import { fail } from './fail.ts'
import { IMMUTABLE, sendBlob } from './send.ts'
import { statusPage } from './status-page.ts'

/** Register the core routes. */
export function registerCoreRoutes (router: Router, { content, status, metrics }: GatewayDeps): void {
  router.get('/blobs/:cid', async ctx => {
    ctx.state.route = 'blob'
    let cid
    try {
      cid = parseCid(ctx.params.cid ?? '')
    } catch {
      fail(400, 'not a CID')
    }
    await sendBlob(ctx, content, { cid, contentType: 'application/octet-stream', cacheControl: IMMUTABLE }, `blob ${cid.toString()} is not held here or by any peer`)
  })

  router.get('/api/status', async ctx => {
    ctx.state.route = 'status'
    ctx.set('Cache-Control', 'no-store')
    ctx.body = await status.status()
  })

  router.get('/metrics', async ctx => {
    ctx.state.route = 'metrics'
    ctx.type = metrics.registry.contentType
    ctx.body = await metrics.registry.metrics()
  })

  router.get('/', async ctx => {
    ctx.state.route = 'page'
    ctx.set('Cache-Control', 'no-store')
    ctx.type = 'text/html; charset=utf-8'
    ctx.body = statusPage(await status.status(), `${ctx.protocol}://${ctx.host}`)
  })
}
