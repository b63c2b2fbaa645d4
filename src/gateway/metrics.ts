/** Prometheus metrics (prom-client), one registry per gateway so tests can run several. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The gateway's metrics. */
export class GatewayMetrics {
  readonly registry = new Registry()
  readonly requests = new Counter({ name: 'mirrormesh_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [this.registry] })
  readonly bytes = new Counter({ name: 'mirrormesh_http_response_bytes_total', help: 'Body bytes sent by route', labelNames: ['route'], registers: [this.registry] })
  readonly duration = new Histogram({ name: 'mirrormesh_http_request_duration_seconds', help: 'Time to answer, by route', labelNames: ['route'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [this.registry] })
  readonly hits = new Counter({ name: 'mirrormesh_gateway_hits_total', help: 'Blobs served from the local store', registers: [this.registry] })
  readonly misses = new Counter({ name: 'mirrormesh_gateway_misses_total', help: 'Blobs not held locally when asked for', registers: [this.registry] })

  constructor () {
    collectDefaultMetrics({ register: this.registry, prefix: 'mirrormesh_' })
  }
}
