/**
 * The response cache in front of Koa (src/gateway/response-cache.ts), on a real store and gateway:
 * a repeated plain GET of an index file is answered from it byte- and header-identical and still
 * counted in the metrics; conditional and ranged requests go through Koa; a new head empties it,
 * so the next answer lists the new versions.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { createBundle } from '../../src/bundle/create.ts'
import { importBundle } from '../../src/bundle/import.ts'
import { createGatewayApp } from '../../src/gateway/app.ts'
import { GatewayMetrics } from '../../src/gateway/metrics.ts'
import { ResponseCache } from '../../src/gateway/response-cache.ts'
import { listenGateway, type RunningGateway } from '../../src/gateway/server.ts'
import { RepoContent } from '../../src/node/content.ts'
import { Repo } from '../../src/node/repo.ts'
import { readKeyFile } from '../../src/trust/keys.ts'
import { tempDir, writeCrates } from '../utils/home.ts'
import { req, requestCount, seedHome, type RawResponse } from './helpers.ts'

const INDEX = '/cargo/index/al/ph/alpha'
let dir: string
let cleanup: () => Promise<void>
let repo: Repo
let gateway: RunningGateway
let cache: ResponseCache
let metrics: GatewayMetrics

before(async () => {
  ({ dir, cleanup } = await tempDir('mirrormesh-response-cache-'))
  await writeCrates(join(dir, 'crates'), 'alpha', 2, 3000)
  const { home } = await seedHome(dir, { crates: join(dir, 'crates') })
  repo = await Repo.open(home)
  metrics = new GatewayMetrics()
  cache = new ResponseCache(metrics)
  repo.on('head', () => cache.clear())
  const app = createGatewayApp(new RepoContent(repo, metrics), { status: async () => ({}) }, metrics, cache)
  gateway = await listenGateway(cache.front(app.callback()), '127.0.0.1', 0)
})

after(async () => {
  await gateway?.close()
  await repo?.close()
  await cleanup()
})

const get = async (headers: Record<string, string> = {}): Promise<RawResponse> => await req(gateway.url, INDEX, { headers })
const versions = (r: RawResponse): string[] => r.body.toString().trim().split('\n').map(l => (JSON.parse(l) as { vers: string }).vers)
const withoutDate = (r: RawResponse): Record<string, unknown> => Object.fromEntries(Object.entries(r.headers).filter(([k]) => k !== 'date'))

test('a repeated plain GET is answered from the cache, identical and counted', async () => {
  const first = await get()
  assert.equal(first.status, 200)
  assert.equal(cache.size, 1, 'the 200 answer of an index file is kept')
  const again = await get()
  assert.equal(again.status, 200)
  assert.deepEqual(again.body, first.body)
  assert.deepEqual(withoutDate(again), withoutDate(first))
  assert.deepEqual(versions(again), ['1.0.0', '1.0.1'])
  const text = await (await req(gateway.url, '/metrics')).body.toString()
  assert.equal(requestCount(text, 'cargo-index', 200), 2, 'both requests are in the metrics')
})

test('conditional and ranged requests go through Koa; other routes are not kept', async () => {
  const etag = (await get()).headers.etag as string
  assert.equal((await get({ 'If-None-Match': etag })).status, 304)
  const ranged = await get({ Range: 'bytes=0-9' })
  assert.equal(ranged.status, 206)
  assert.equal(ranged.body.length, 10)
  const config = await req(gateway.url, '/cargo/index/config.json', { headers: { Host: 'mirror.lan:7680' } })
  assert.match(config.body.toString(), /mirror\.lan:7680/)
  assert.equal(cache.size, 1, 'config.json depends on the Host header: never cached')
  assert.equal((await req(gateway.url, '/cargo/index/config.json', { headers: { Host: 'other.lan:1' } })).body.toString().includes('other.lan:1'), true)
})

test('a new head empties the cache: the next answer lists the new versions', async () => {
  assert.deepEqual(versions(await get()), ['1.0.0', '1.0.1'])
  await writeCrates(join(dir, 'crates'), 'alpha', 3, 3000)
  const pub = await Repo.open(join(dir, 'publisher'))
  try {
    await createBundle(pub, { key: await readKeyFile(join(dir, 'pub.key')), out: join(dir, 'second.mmb'), crates: join(dir, 'crates') })
  } finally {
    await pub.close()
  }
  assert.equal((await importBundle(repo, join(dir, 'second.mmb'))).verdict, 'adopt')
  assert.equal(cache.size, 0)
  assert.deepEqual(versions(await get()), ['1.0.0', '1.0.1', '1.0.2'])
})
