/**
 * The gateway: a Koa app that turns client URLs into catalog lookups and blob streams. It holds no
 * logic of its own beyond HTTP; ecosystems add their routes (src/cargo/gateway.ts, src/homebrew/gateway.ts).
 */
import Koa from 'koa'
import Router from '@koa/router'
import { logger } from '../util/logger.ts'
import type { GatewayContent, GatewayStatusSource } from './interface.ts'
import { GatewayMetrics } from './metrics.ts'
import { ResponseCache } from './response-cache.ts'
import { registerCoreRoutes } from './core-routes.ts'
import { registerCargoRoutes } from '../cargo/gateway.ts'
import { registerHomebrewRoutes } from '../homebrew/gateway.ts'

const log = logger('gateway')

/** What routes are given. */
export interface GatewayDeps {
  content: GatewayContent
  status: GatewayStatusSource
  metrics: GatewayMetrics
}

/**
 * Build the Koa app. Given a `cache`, answers that depend only on the URL and the current heads
 * (routes mark them `ctx.state.cacheable`) are stored in it; put `cache.front(app.callback())` in
 * front of the server to answer repeats from it.
 */
export function createGatewayApp (content: GatewayContent, status: GatewayStatusSource, metrics = new GatewayMetrics(), cache?: ResponseCache): Koa {
  const app = new Koa()
  const router = new Router()
  const deps: GatewayDeps = { content, status, metrics }
  registerCargoRoutes(router, deps)
  registerHomebrewRoutes(router, deps)
  registerCoreRoutes(router, deps)

  app.use(async (ctx, next) => {
    const started = performance.now()
    try {
      await next()
    } catch (err) {
      const e = err as Error & { status?: number, expose?: boolean }
      // Drop what the route had set (ETag, immutable Cache-Control, Content-Disposition…): they
      // describe the resource, not this error, and a cache must not keep an error as immutable.
      if (!ctx.headerSent) for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name)
      ctx.status = e.status ?? 500
      ctx.type = 'text/plain'
      ctx.body = e.expose === true || ctx.status < 500 ? `${e.message}\n` : 'internal error\n'
      if (ctx.status >= 500) log.error({ err: e, path: ctx.path }, 'request failed')
    }
    // Nothing answered (no route, or allowedMethods found none): a real 404. Set the status
    // explicitly: assigning a body alone would make Koa answer 200.
    if (ctx.status === 404 && ctx.body == null) {
      ctx.status = 404
      ctx.type = 'text/plain'
      ctx.body = 'not found\n'
    }
    const route = String(ctx.state.route ?? 'other')
    if (cache !== undefined && ctx.state.cacheable === true && ctx.status === 200 && Buffer.isBuffer(ctx.body) && ResponseCache.eligible(ctx.req)) {
      cache.store(ctx.url, route, { ...ctx.response.headers }, ctx.body)
    }
    metrics.requests.inc({ route, status: String(ctx.status) })
    metrics.duration.observe({ route }, (performance.now() - started) / 1000)
    if (typeof ctx.length === 'number' && ctx.method !== 'HEAD') metrics.bytes.inc({ route }, ctx.length)
  })
  app.use(router.routes())
  app.use(router.allowedMethods())
  app.silent = true
  return app
}
