/**
 * The central-mirror baseline: every node pulls the whole payload from the seed's gateway
 * (`GET /blobs/{cid}`) over plain HTTP, as clients of one nginx/apt-mirror host would, through the
 * same emulated links (the seed's upload bucket, the client's download bucket). Each blob is
 * checked against its sha256.
 *
 * With capped links the central mirror needs N·S/B — 19× longer than the mesh should — so a run
 * may measure it over a window instead: all clients pull at once for `windowSeconds`, and each
 * client's completion is its payload over the rate it got (the seed's link is shared fairly and
 * steadily, so the rate in the window is the rate until the end). Reported as extrapolated.
 */
import { createHash } from 'node:crypto'
import { Agent, get, type ClientRequest } from 'node:http'
import { pass, type TokenBucket } from '../../src/util/token-bucket.ts'
import { sha256Hex, parseCid } from '../../src/store/cid.ts'
import type { Blob } from './payload.ts'

/** A client of the central mirror: the node it stands for and its download bucket. */
export interface Client {
  index: number
  down?: TokenBucket
}

/** What the clients got. */
export interface CentralResult {
  /** Seconds until each client held the payload (extrapolated in window mode). */
  seconds: number[]
  /** Bytes the seed sent (in window mode: during the window). */
  bytes: number
  extrapolated: boolean
}

/** Download one blob, throttled, and check it; counts bytes as they arrive. */
async function pull (agent: Agent, gateway: string, blob: Blob, buckets: Array<TokenBucket | undefined>, got: (n: number) => void, requests: Set<ClientRequest>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = get(`${gateway}/blobs/${blob.cid}`, { agent, timeout: 120_000 }, res => {
      if (res.statusCode !== 200) { res.resume(); reject(new Error(`central mirror answered ${String(res.statusCode)} for ${blob.cid}`)); return }
      const hash = createHash('sha256')
      let waiting = 0
      let ended = false
      const finish = (): void => {
        if (!ended || waiting > 0) return
        if (hash.digest('hex') !== sha256Hex(parseCid(blob.cid))) reject(new Error(`central mirror sent a bad ${blob.cid}`))
        else resolve()
      }
      res.on('data', (data: Buffer) => {
        res.pause()
        waiting++
        void pass(buckets, data.length).then(() => { hash.update(data); got(data.length); waiting--; res.resume(); finish() })
      })
      // 'end' may come while the last piece still waits for its tokens.
      res.once('end', () => { ended = true; finish() })
      res.once('error', reject)
    })
    requests.add(req)
    req.once('close', () => requests.delete(req))
    req.on('timeout', () => req.destroy(new Error('central mirror timeout')))
    req.on('error', reject)
  })
}

/** Every client pulls every blob (`parallel` at a time each), to the end or for `windowSeconds`. */
export async function centralMirror (gateway: string, blobs: Blob[], clients: Client[], seedUp?: TokenBucket, options: { parallel?: number, windowSeconds?: number } = {}): Promise<CentralResult> {
  const parallel = options.parallel ?? 4
  const total = blobs.reduce((s, b) => s + b.size, 0)
  const agent = new Agent({ keepAlive: true, maxSockets: clients.length * parallel })
  const requests = new Set<ClientRequest>()
  const started = performance.now()
  let bytes = 0
  let stopped = false
  const timer = options.windowSeconds === undefined ? undefined : setTimeout(() => { stopped = true; for (const r of requests) r.destroy(new Error('window over')) }, options.windowSeconds * 1000)
  try {
    const received = clients.map(() => 0)
    const seconds = await Promise.all(clients.map(async (client, k) => {
      // Largest first, as a client that knows sizes would; order does not change the total.
      const queue = [...blobs].sort((a, b) => b.size - a.size)
      const worker = async (): Promise<void> => {
        for (let blob = queue.shift(); blob !== undefined && !stopped; blob = queue.shift()) {
          await pull(agent, gateway, blob, [seedUp, client.down], n => { bytes += n; received[k] = (received[k] ?? 0) + n }, requests).catch(err => { if (!stopped) throw err })
        }
      }
      await Promise.all(Array.from({ length: parallel }, worker))
      const elapsed = (performance.now() - started) / 1000
      // Window over before this client finished: extrapolate from the rate it got.
      return stopped && (received[k] ?? 0) < total ? elapsed * total / Math.max(1, received[k] ?? 0) : elapsed
    }))
    return { seconds, bytes, extrapolated: stopped }
  } finally {
    clearTimeout(timer)
    agent.destroy()
  }
}
