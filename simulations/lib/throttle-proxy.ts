/**
 * Emulated LAN links on loopback, without touching product code or the host's network settings.
 *
 * A node serves its data plane on 127.0.0.2:P while this proxy listens on 127.0.0.1:P: peers learn
 * the port P from the node and the IP (127.0.0.1) from their libp2p connection to it, so every
 * byte the node uploads to a peer crosses this proxy. The proxy charges those bytes to the node's
 * upload bucket and — after finding which node process opened the connection (`owner.ts`) — to
 * that node's download bucket. Requests (a few hundred bytes) pass unmetered; so does libp2p
 * control traffic (heads, availability, DHT), which is small next to blob bytes.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { pass, type TokenBucket } from '../../src/util/token-bucket.ts'
import { ownerOf } from './owner.ts'

/** One node's link: its buckets (undefined = not limited). */
export interface Link {
  up?: TokenBucket
  down?: TokenBucket
}

/** Who is who: node pids and their links; consulted for every new connection. */
export interface LinkTable {
  /** pid → node index, for the nodes running now. */
  pids: () => Map<number, number>
  link: (node: number) => Link
  /** Whether `from` may reach `to` now (a cut between sites refuses the connection). */
  reachable?: (from: number, to: number) => boolean
  /** Count bytes uploaded by `from` to `to` (to = -1: an unknown process). */
  count: (from: number, to: number, bytes: number) => void
}

/** A proxy in front of one node's data plane. */
export class ThrottleProxy {
  readonly node: number
  readonly #table: LinkTable
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  port = 0

  constructor (node: number, table: LinkTable) {
    this.node = node
    this.#table = table
    this.#server = createServer(client => { void this.#accept(client) })
  }

  /** Listen on 127.0.0.1:`port` (0: any free port); the node must then serve on 127.0.0.2:`this.port`. */
  async listen (port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(port, '127.0.0.1', () => resolve())
    })
    this.port = (this.#server.address() as AddressInfo).port
    return this.port
  }

  /** Drop every connection (a link cut, or the node went away). */
  dropAll (): void {
    for (const socket of this.#sockets) socket.destroy()
  }

  async close (): Promise<void> {
    this.dropAll()
    await new Promise<void>(resolve => this.#server.close(() => resolve()))
  }

  async #accept (client: Socket): Promise<void> {
    this.#sockets.add(client)
    client.once('close', () => this.#sockets.delete(client))
    client.on('error', () => {})
    client.pause()
    const pids = this.#table.pids()
    const pid = await ownerOf(client.remotePort ?? 0, this.port, pids.keys())
    const from = pid === undefined ? -1 : pids.get(pid) ?? -1
    if (from >= 0 && this.#table.reachable?.(from, this.node) === false) {
      client.destroy()
      return
    }
    const upstream = connect(this.port, '127.0.0.2')
    this.#sockets.add(upstream)
    upstream.once('close', () => { this.#sockets.delete(upstream); client.destroy() })
    client.once('close', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.pipe(upstream)
    client.resume()
    const buckets = [this.#table.link(this.node).up, from >= 0 ? this.#table.link(from).down : undefined]
    upstream.on('data', (data: Buffer) => {
      upstream.pause()
      void pass(buckets, data.length).then(() => {
        this.#table.count(this.node, from, data.length)
        if (client.destroyed) return
        if (client.write(data)) upstream.resume()
        else client.once('drain', () => upstream.resume())
      })
    })
  }
}
