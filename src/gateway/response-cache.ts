/**
 * Ready answers for the requests a fleet repeats most: plain GETs of index and API files. The
 * first answer goes through Koa and is kept (status 200, headers and body exactly as sent); later
 * identical requests are answered before Koa, which costs about a third of a small request's CPU
 * (docs/performance.md, "Gateway"). Conditional and ranged requests always go through Koa, and
 * every adopted head empties the cache, so it never serves an answer Koa would not give now.
 */
import type { IncomingMessage, OutgoingHttpHeaders, RequestListener, ServerResponse } from 'node:http'
import { LRUCache } from 'lru-cache'
import type { GatewayMetrics } from './metrics.ts'

interface Answer {
  route: string
  headers: OutgoingHttpHeaders
  body: Buffer
}

/** Cached answers, by request URL. */
export class ResponseCache {
  readonly #answers: LRUCache<string, Answer>
  readonly #metrics: GatewayMetrics

  constructor (metrics: GatewayMetrics, maxBytes = 32 << 20) {
    this.#metrics = metrics
    this.#answers = new LRUCache({ maxSize: maxBytes, sizeCalculation: a => Math.max(1, a.body.length + 512) })
  }

  /** Whether a request may be answered from (and its answer stored in) the cache. */
  static eligible (req: IncomingMessage): boolean {
    const h = req.headers
    return req.method === 'GET' && h['if-none-match'] === undefined && h['if-modified-since'] === undefined && h.range === undefined && h['if-range'] === undefined
  }

  /** Keep the answer Koa just gave to an eligible request. */
  store (url: string, route: string, headers: OutgoingHttpHeaders, body: Buffer): void {
    if (body.length <= this.#answers.maxSize) this.#answers.set(url, { route, headers, body })
  }

  /** Forget every answer (a head was adopted). */
  clear (): void {
    this.#answers.clear()
  }

  get size (): number {
    return this.#answers.size
  }

  /** `handler`, preceded by the cache. */
  front (handler: RequestListener): RequestListener {
    return (req, res) => { if (!this.#answer(req, res)) handler(req, res) }
  }

  #answer (req: IncomingMessage, res: ServerResponse): boolean {
    if (this.#answers.size === 0 || !ResponseCache.eligible(req)) return false
    const answer = this.#answers.get(req.url ?? '')
    if (answer === undefined) return false
    const started = performance.now()
    res.writeHead(200, answer.headers)
    res.end(answer.body)
    this.#metrics.requests.inc({ route: answer.route, status: '200' })
    this.#metrics.duration.observe({ route: answer.route }, (performance.now() - started) / 1000)
    this.#metrics.bytes.inc({ route: answer.route }, answer.body.length)
    return true
  }
}
