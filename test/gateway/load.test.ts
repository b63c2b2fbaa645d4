/**
 * Load: 500 concurrent keep-alive connections for a few seconds against `mirrormesh serve` (its own
 * process, so client and server do not share an event loop), on a mix of index files, crates,
 * bottles, manifests, a streamed API file and `/blobs`. Every answer must be a 2xx with the right
 * bytes, and afterwards the server's open file descriptors must be back to where they started.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { realpath } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { startServe } from '../utils/cli.ts'
import { tempDir, writeCrates } from '../utils/home.ts'
import { cidOf, eventually, openFds, req, seedHome, sha256, writeHomebrewFixture } from './helpers.ts'

const CONNECTIONS = 500
const LOAD_MS = 5000

test(`${CONNECTIONS} concurrent connections: no errors, no non-2xx, no leaked descriptors`, { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir('mirrormesh-load-')
  try {
    await writeCrates(join(dir, 'crates'), 'loadtest', 20, 20_000)
    const hb = await writeHomebrewFixture(join(dir, 'homebrew'), { padFormulae: 900 })
    const { home } = await seedHome(dir, { crates: join(dir, 'crates'), bottles: hb.bottlesDir, homebrewApi: hb.apiDir })
    const blobs = await realpath(join(home, 'blobs'))
    const node = await startServe(['--home', home, '--no-mesh', '--gateway', '127.0.0.1:0'])
    const pid = node.child.pid ?? 0
    try {
      const url = node.ready.gateway
      const bottle = hb.bottles[0]
      assert.ok(bottle)
      const paths = [
        '/cargo/index/config.json',
        '/cargo/index/lo/ad/loadtest',
        ...Array.from({ length: 20 }, (_, i) => `/cargo/crates/loadtest/1.0.${i}/download`),
        ...hb.bottles.map(b => `/homebrew/bottles/${encodeURIComponent(b.flat)}`),
        ...hb.bottles.map(b => `/v2/homebrew/core/${b.image}/blobs/sha256:${sha256(b.bytes)}`),
        '/homebrew/bottles/openssl/3/manifests/3.5.0',
        '/homebrew/api/internal/packages.arm64_sequoia.jws.json',
        '/homebrew/api/formula.jws.json', // > 1 MiB: streamed from its file
        `/blobs/${await cidOf(bottle.bytes)}`
      ]
      // What each path must answer, fetched once before the load.
      const expected = new Map<string, { length: number, sha256: string }>()
      for (const path of paths) {
        const r = await req(url, path)
        assert.equal(r.status, 200, path)
        expected.set(path, { length: r.body.length, sha256: sha256(r.body) })
      }

      const fdsBefore = await openFds(pid)
      const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS })
      const { hostname, port } = new URL(url)
      const problems: string[] = []
      const perConnection = new Array<number>(CONNECTIONS).fill(0)
      const deadline = Date.now() + LOAD_MS

      const once = async (path: string, check: boolean): Promise<void> => await new Promise(resolve => {
        const r = request({ host: hostname, port, path, agent }, res => {
          const chunks: Buffer[] = []
          let length = 0
          res.on('data', (c: Buffer) => { length += c.length; if (check) chunks.push(c) })
          res.on('end', () => {
            const want = expected.get(path)
            if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) problems.push(`${path}: ${res.statusCode}`)
            else if (length !== want?.length) problems.push(`${path}: ${length} bytes, expected ${want?.length}`)
            else if (check && sha256(Buffer.concat(chunks)) !== want.sha256) problems.push(`${path}: wrong bytes`)
            resolve()
          })
          res.on('error', err => { problems.push(`${path}: ${err.message}`); resolve() })
        })
        r.on('error', err => { problems.push(`${path}: ${err.message}`); resolve() })
        r.end()
      })

      // Every connection makes one request, then all wait for each other: at that point the server
      // holds all of them open at once (keep-alive), which the descriptor count shows.
      let arrived = 0
      let release = (): void => {}
      const barrier = new Promise<void>(resolve => { release = resolve })
      const workers = Array.from({ length: CONNECTIONS }, async (_, w) => {
        for (let i = 0; i === 0 || Date.now() < deadline; i++) {
          await once(paths[(w + i) % paths.length] ?? '/', (w + i) % 25 === 0)
          perConnection[w] = (perConnection[w] ?? 0) + 1
          if (i === 0 && ++arrived === CONNECTIONS) release()
          if (i === 0) await barrier
        }
      })
      await barrier
      const baseSockets = fdsBefore.filter(t => t.startsWith('socket:')).length
      const held = (await openFds(pid)).filter(t => t.startsWith('socket:')).length - baseSockets
      assert.ok(held >= CONNECTIONS, `the server holds ${held} client connections at once`)
      await Promise.all(workers)
      agent.destroy()

      const total = perConnection.reduce((a, b) => a + b, 0)
      assert.deepEqual(problems.slice(0, 10), [], `${problems.length} failed of ${total} requests`)
      assert.ok(perConnection.every(n => n > 0), 'every connection was served')
      assert.ok(total > CONNECTIONS, `${total} requests`)

      // Back to the baseline: no blob file left open, no socket left behind.
      const settled = await eventually(async () => {
        const now = await openFds(pid)
        return now.length <= fdsBefore.length && !now.some(t => t.startsWith(blobs))
      }, 10_000)
      const now = await openFds(pid)
      assert.ok(settled, `descriptors: ${fdsBefore.length} before, ${now.length} after; blob files open: ${now.filter(t => t.startsWith(blobs)).length}`)
      // And it still serves.
      assert.equal((await req(url, '/cargo/index/lo/ad/loadtest')).status, 200)
    } finally {
      assert.equal(await node.stop(), 0, node.stderr())
    }
  } finally {
    await cleanup()
  }
})
