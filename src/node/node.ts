/**
 * A running mirrormesh node: the repo, its control socket, the gateway, and the import watcher.
 * This is the one place that wires concrete parts together.
 */
import type { Server } from 'node:http'
import { createGatewayApp } from '../gateway/app.ts'
import { GatewayMetrics } from '../gateway/metrics.ts'
import { ResponseCache } from '../gateway/response-cache.ts'
import { listenGateway, type RunningGateway } from '../gateway/server.ts'
import type { Mesh, MeshOptions } from '../mesh/mesh.ts'
import { logger } from '../util/logger.ts'
import { RepoContent } from './content.ts'
import { startControlServer } from './control.ts'
import { Repo } from './repo.ts'
import { repoStatus } from './status.ts'
import { ImportWatcher } from './watcher.ts'

const log = logger('node')

/** How to run a node. */
export interface NodeOptions {
  home: string
  gateway: { host: string, port: number }
  watch?: string
  /** Join the mesh (omit for a node that only serves its own store). */
  mesh?: MeshOptions
}

/** A started node; `stop()` shuts it down gracefully. */
export class MirrormeshNode {
  readonly repo: Repo
  readonly gateway: RunningGateway
  readonly metrics: GatewayMetrics
  readonly mesh: Mesh | undefined
  readonly #control: Server
  readonly #watcher: ImportWatcher | undefined
  readonly #started = Date.now()

  private constructor (repo: Repo, gateway: RunningGateway, metrics: GatewayMetrics, control: Server, watcher: ImportWatcher | undefined, mesh: Mesh | undefined) {
    this.repo = repo
    this.gateway = gateway
    this.metrics = metrics
    this.#control = control
    this.#watcher = watcher
    this.mesh = mesh
  }

  /** Open the home and start every part; on failure, whatever started is stopped again. */
  static async start (options: NodeOptions): Promise<MirrormeshNode> {
    const repo = await Repo.open(options.home)
    const cleanup: Array<() => Promise<void>> = [async () => await repo.close()]
    const holder: { node?: MirrormeshNode } = {}
    try {
      // While serving, `mirrormesh status` shows the mesh too.
      const control = await startControlServer(repo, { status: async () => await holder.node?.status() ?? await repoStatus(repo) })
      cleanup.unshift(async () => await new Promise<void>(resolve => control.close(() => resolve())))
      const metrics = new GatewayMetrics()
      let mesh: Mesh | undefined
      if (options.mesh !== undefined) {
        const { Mesh } = await import('../mesh/mesh.ts')
        const started = mesh = await Mesh.start(repo, options.mesh)
        cleanup.unshift(async () => await started.stop())
      }
      // Mesh nodes count hits and misses in MeshContent; a store-only node counts them here.
      const local = new RepoContent(repo, mesh === undefined ? metrics : undefined)
      const content = mesh === undefined ? local : mesh.content(local, metrics)
      const answers = new ResponseCache(metrics)
      repo.on('head', () => answers.clear())
      const app = createGatewayApp(content, { status: async () => await holder.node?.status() ?? {} }, metrics, answers)
      const gateway = await listenGateway(answers.front(app.callback()), options.gateway.host, options.gateway.port)
      cleanup.unshift(gateway.close)
      let watcher: ImportWatcher | undefined
      if (options.watch !== undefined) {
        watcher = new ImportWatcher(repo, options.watch)
        await watcher.start()
      }
      const node = holder.node = new MirrormeshNode(repo, gateway, metrics, control, watcher, mesh)
      log.info({ gateway: gateway.url, home: options.home }, 'node started')
      return node
    } catch (err) {
      for (const step of cleanup) await step().catch(() => {})
      throw err
    }
  }

  /** The status served at /api/status. */
  async status (): Promise<Record<string, unknown>> {
    const hits = (await this.metrics.hits.get()).values[0]?.value ?? 0
    const misses = (await this.metrics.misses.get()).values[0]?.value ?? 0
    return { ...await repoStatus(this.repo), ...this.mesh?.status(), gateway: this.gateway.url, uptimeSeconds: Math.round((Date.now() - this.#started) / 1000), hits, misses }
  }

  /** Stop accepting work, let in-flight responses and imports finish, close the store. */
  async stop (): Promise<void> {
    await this.#watcher?.stop()
    await this.gateway.close()
    await this.mesh?.stop()
    await new Promise<void>(resolve => this.#control.close(() => resolve()))
    await this.repo.close()
    log.info('node stopped')
  }
}
