/**
 * The gateway's HTTP rules, against a real node (bundle → import → in-process gateway): HEAD, ranges,
 * conditional requests, caching headers, content types, the Host-dependent cargo `config.json`,
 * 404/400/405, traversal attempts sent as raw bytes, and the core routes (`/blobs`, `/api/status`,
 * `/metrics`, `/`).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeCrates } from '../utils/home.ts'
import { cidOf, rawRequest, req, requestCount, sha256, startSeeded, writeHomebrewFixture, type HomebrewFixture, type RawResponse, type Seeded } from './helpers.ts'

const IMMUTABLE = 'public, max-age=31536000, immutable'

let s: Seeded
let hb: HomebrewFixture
let crate: Buffer // alpha 1.0.1
let index: Buffer // the alpha index file as served

const get = async (path: string, headers: Record<string, string> = {}): Promise<RawResponse> => await req(s.url, path, { headers })
const head = async (path: string, headers: Record<string, string> = {}): Promise<RawResponse> => await req(s.url, path, { method: 'HEAD', headers })

before(async () => {
  s = await startSeeded(async dir => {
    await writeCrates(join(dir, 'crates'), 'alpha', 2, 3000)
    await writeCrates(join(dir, 'crates'), 'abc', 1)
    await writeCrates(join(dir, 'crates'), 'q', 1)
    hb = await writeHomebrewFixture(join(dir, 'homebrew'))
    return { crates: join(dir, 'crates'), bottles: hb.bottlesDir, homebrewApi: hb.apiDir }
  })
  crate = await readFile(join(s.dir, 'crates', 'alpha-1.0.1.crate'))
  index = (await get('/cargo/index/al/ph/alpha')).body
})
after(async () => await s?.cleanup())

const CRATE = '/cargo/crates/alpha/1.0.1/download'
const INDEX = '/cargo/index/al/ph/alpha'

test('index files sit at the Cargo book paths and list what the store holds', async () => {
  const lines = index.toString().trim().split('\n').map(l => JSON.parse(l) as { name: string, vers: string, cksum: string })
  assert.deepEqual(lines.map(l => l.vers), ['1.0.0', '1.0.1'])
  assert.equal(lines[1]?.cksum, sha256(crate))
  for (const [path, name] of [['/cargo/index/3/a/abc', 'abc'], ['/cargo/index/1/q', 'q']]) {
    const r = await get(path ?? '')
    assert.equal(r.status, 200, path)
    assert.equal((JSON.parse(r.body.toString().split('\n')[0] ?? '') as { name: string }).name, name)
  }
})

test('HEAD answers like GET without a body, for every kind of resource', async () => {
  const bottle = hb.bottles[0]
  assert.ok(bottle)
  for (const [path, bytes] of [
    [CRATE, crate],
    [INDEX, index],
    [`/homebrew/bottles/${encodeURIComponent(bottle.flat)}`, bottle.bytes],
    ['/homebrew/api/formula.jws.json', await readFile(join(hb.apiDir, 'formula.jws.json'))],
    [`/blobs/${await cidOf(crate)}`, crate]
  ] as const) {
    const g = await get(path)
    const h = await head(path)
    assert.equal(g.status, 200, path)
    assert.equal(h.status, 200, path)
    assert.deepEqual(g.body, bytes, path)
    assert.equal(h.body.length, 0, `HEAD ${path} has no body`)
    assert.equal(h.headers['content-length'], String(bytes.length), path)
    assert.equal(g.headers['content-length'], String(bytes.length), path)
    for (const name of ['etag', 'last-modified', 'content-type', 'cache-control', 'accept-ranges']) {
      assert.equal(h.headers[name], g.headers[name], `${name} of HEAD ${path}`)
    }
  }
})

test('single ranges: first-last, open, suffix, clamped; HEAD with a range', async () => {
  const size = crate.length
  const cases: Array<[string, number, number]> = [
    ['bytes=2-9', 2, 9],
    ['bytes=100-', 100, size - 1],
    ['bytes=-10', size - 10, size - 1],
    [`bytes=-${size + 500}`, 0, size - 1],
    [`bytes=10-${size + 500}`, 10, size - 1],
    [`bytes=${size - 1}-`, size - 1, size - 1],
    ['bytes=0-0', 0, 0]
  ]
  for (const [range, start, end] of cases) {
    const r = await get(CRATE, { Range: range })
    assert.equal(r.status, 206, range)
    assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${size}`, range)
    assert.equal(r.headers['content-length'], String(end - start + 1), range)
    assert.deepEqual(r.body, crate.subarray(start, end + 1), range)
  }
  // Index files (sent from memory) and /blobs take ranges too.
  const ri = await get(INDEX, { Range: 'bytes=-5' })
  assert.equal(ri.status, 206)
  assert.deepEqual(ri.body, index.subarray(index.length - 5))
  const rb = await get(`/blobs/${await cidOf(crate)}`, { Range: 'bytes=3-' })
  assert.equal(rb.status, 206)
  assert.deepEqual(rb.body, crate.subarray(3))
  const h = await head(CRATE, { Range: 'bytes=5-9' })
  assert.equal(h.status, 206)
  assert.equal(h.headers['content-range'], `bytes 5-9/${size}`)
  assert.equal(h.headers['content-length'], '5')
  assert.equal(h.body.length, 0)
})

test('unsatisfiable ranges are 416 with bytes */size; multi, reversed and foreign ranges get the whole body', async () => {
  const size = crate.length
  for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
    const r = await get(CRATE, { Range: range })
    assert.equal(r.status, 416, range)
    assert.equal(r.headers['content-range'], `bytes */${size}`, range)
    assert.equal(r.headers['content-length'], String(r.body.length), range)
    assert.notDeepEqual(r.body, crate.subarray(0, r.body.length), `${range}: no blob bytes in a 416`)
  }
  for (const range of ['bytes=0-1,5-6', 'bytes=9-5', 'items=0-1', 'bytes=abc', 'bytes=-']) {
    const r = await get(CRATE, { Range: range })
    assert.equal(r.status, 200, range)
    assert.equal(r.headers['content-range'], undefined, range)
    assert.deepEqual(r.body, crate, range)
  }
})

test('If-Range: a matching ETag or date keeps the range, anything else sends the whole body', async () => {
  const h = await head(CRATE)
  const etag = h.headers.etag ?? ''
  const modified = h.headers['last-modified'] ?? ''
  const earlier = new Date(Date.parse(modified) - 60_000).toUTCString()
  for (const [ifRange, status] of [[etag, 206], [modified, 206], ['"bafkreisomethingelse"', 200], [earlier, 200]] as const) {
    const r = await get(CRATE, { Range: 'bytes=10-', 'If-Range': ifRange })
    assert.equal(r.status, status, `If-Range: ${ifRange}`)
    assert.deepEqual(r.body, status === 206 ? crate.subarray(10) : crate)
  }
})

test('ETag is the quoted CID; If-None-Match gives 304 for blobs, index files, API files and manifests', async () => {
  const manifest = hb.manifests.get('openssl/3/3.5.0') ?? Buffer.alloc(0)
  for (const [path, bytes] of [
    [CRATE, crate],
    [INDEX, index],
    [`/blobs/${await cidOf(crate)}`, crate],
    ['/homebrew/api/cask.jws.json', await readFile(join(hb.apiDir, 'cask.jws.json'))],
    ['/v2/homebrew/core/openssl/3/manifests/3.5.0', manifest]
  ] as const) {
    const etag = `"${await cidOf(bytes)}"`
    const r = await get(path)
    assert.equal(r.headers.etag, etag, path)
    for (const inm of [etag, `"other", ${etag}`, `W/${etag}`, '*']) {
      const c = await get(path, { 'If-None-Match': inm })
      assert.equal(c.status, 304, `${path} If-None-Match: ${inm}`)
      assert.equal(c.body.length, 0)
      assert.equal(c.headers.etag, etag)
    }
    assert.equal((await get(path, { 'If-None-Match': '"bafkreiother"' })).status, 200, path)
  }
})

test('Last-Modified and If-Modified-Since for index files; If-None-Match takes precedence', async () => {
  const r = await get(INDEX)
  const modified = r.headers['last-modified'] ?? ''
  assert.ok(!Number.isNaN(Date.parse(modified)), `Last-Modified is an HTTP date: ${modified}`)
  assert.equal((await get(INDEX, { 'If-Modified-Since': modified })).status, 304)
  assert.equal((await get(INDEX, { 'If-Modified-Since': new Date(Date.parse(modified) + 3_600_000).toUTCString() })).status, 304)
  const older = await get(INDEX, { 'If-Modified-Since': new Date(Date.parse(modified) - 1000).toUTCString() })
  assert.equal(older.status, 200)
  assert.deepEqual(older.body, index)
  assert.equal((await get(INDEX, { 'If-Modified-Since': 'not a date' })).status, 200)
  assert.equal((await get(INDEX, { 'If-None-Match': '"bafkreiother"', 'If-Modified-Since': modified })).status, 200, 'RFC 9110: If-Modified-Since is ignored when If-None-Match is present')
})

test('Cache-Control: immutable for blobs, revalidating for index and API files', async () => {
  const bottle = hb.bottles[0]
  assert.ok(bottle)
  for (const path of [CRATE, `/blobs/${await cidOf(crate)}`, `/homebrew/bottles/${encodeURIComponent(bottle.flat)}`, `/v2/homebrew/core/${bottle.image}/blobs/sha256:${sha256(bottle.bytes)}`]) {
    assert.equal((await get(path)).headers['cache-control'], IMMUTABLE, path)
  }
  for (const path of [INDEX, '/homebrew/api/formula.jws.json', '/homebrew/bottles/openssl/3/manifests/3.5.0', '/cargo/index/config.json']) {
    const cc = (await get(path)).headers['cache-control'] ?? ''
    assert.doesNotMatch(cc, /immutable/, path)
    assert.match(cc, /no-cache|must-revalidate/, path)
    const maxAge = Number(/max-age=(\d+)/.exec(cc)?.[1] ?? 0)
    assert.ok(maxAge <= 300, `${path}: max-age ${maxAge} lets a client miss a new head for too long`)
  }
  for (const path of ['/api/status', '/']) assert.equal((await get(path)).headers['cache-control'], 'no-store', path)
})

test('Content-Type and exact Content-Length of every kind of resource', async () => {
  const bottle = hb.bottles[0]
  assert.ok(bottle)
  const expect: Array<[string, string]> = [
    [CRATE, 'application/gzip'],
    [INDEX, 'text/plain; charset=utf-8'],
    ['/cargo/index/config.json', 'application/json; charset=utf-8'],
    [`/blobs/${await cidOf(crate)}`, 'application/octet-stream'],
    [`/homebrew/bottles/${encodeURIComponent(bottle.flat)}`, 'application/octet-stream'],
    [`/v2/homebrew/core/${bottle.image}/blobs/sha256:${sha256(bottle.bytes)}`, 'application/octet-stream'],
    ['/homebrew/bottles/openssl/3/manifests/3.5.0', 'application/vnd.oci.image.index.v1+json'],
    ['/homebrew/api/formula.jws.json', 'application/json; charset=utf-8'],
    ['/api/status', 'application/json; charset=utf-8'],
    ['/', 'text/html; charset=utf-8']
  ]
  for (const [path, type] of expect) {
    const r = await get(path)
    assert.equal(r.status, 200, path)
    assert.equal(r.headers['content-type'], type, path)
    assert.equal(r.headers['content-length'], String(r.body.length), path)
  }
})

test('config.json: dl follows the Host the client used; a malformed Host is refused', async () => {
  const port = new URL(s.url).port
  for (const host of [`127.0.0.1:${port}`, 'mirror.lan:7680', '[::1]:7680', 'localhost']) {
    const r = await get('/cargo/index/config.json', { Host: host })
    assert.equal(r.status, 200, host)
    assert.deepEqual(JSON.parse(r.body.toString()), { dl: `http://${host}/cargo/crates`, api: null }, host)
  }
  // What cargo does with a `dl` that has no template marker: append /{crate}/{version}/download.
  const { dl } = JSON.parse((await get('/cargo/index/config.json')).body.toString()) as { dl: string }
  const viaDl = await req(s.url, `${new URL(dl).pathname}/alpha/1.0.1/download`)
  assert.equal(viaDl.status, 200)
  assert.deepEqual(viaDl.body, crate)
  for (const host of ['evil.example/x', 'a b', 'x"y']) {
    assert.equal((await get('/cargo/index/config.json', { Host: host })).status, 400, host)
  }
})

test('404 for what the mirror does not hold, with no resource headers on the error', async () => {
  const bottle = hb.bottles[0]
  assert.ok(bottle)
  for (const path of [
    '/cargo/index/ze/ta/zeta', // a valid path, no such crate
    '/cargo/index/xx/yy/alpha', // a crate name at the wrong place
    '/cargo/crates/alpha/9.9.9/download',
    '/cargo/crates/zeta/1.0.0/download',
    `/homebrew/bottles/${encodeURIComponent(bottle.flat.replace('3.5.0', '3.5.1'))}`,
    '/homebrew/bottles/openssl/3/manifests/9.9',
    `/v2/homebrew/core/openssl/3/blobs/sha256:${'0'.repeat(64)}`,
    '/v2/homebrew/core/nope/manifests/1.0',
    '/homebrew/api/formula_tap_migrations.jws.json',
    `/blobs/${await cidOf(Buffer.from('never stored'))}`,
    '/nothing/here'
  ]) {
    const r = await get(path)
    assert.equal(r.status, 404, path)
    assert.equal(r.headers['cache-control'], undefined, `${path}: an error is not cacheable as the resource`)
    assert.equal(r.headers['content-disposition'], undefined, path)
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', path)
  }
  assert.equal((await head('/cargo/crates/alpha/9.9.9/download')).status, 404)
})

test('400 for malformed paths; 405 for other methods', async () => {
  for (const path of [
    '/cargo/index/',
    '/cargo/index/al/ph/Alpha',
    '/cargo/index/al/ph/al.pha',
    `/cargo/index/${'ab/cd/'}${'abcd'.repeat(20)}`,
    '/cargo/crates/alpha/1.0/download',
    '/cargo/crates/1alpha/1.0.0/download',
    '/homebrew/bottles/not-a-bottle.txt',
    '/homebrew/bottles/jq--1.8.2.arm64_sequoia.bottle.1.tar.gz',
    '/v2/homebrew/core/jq/blobs/sha256:xyz',
    '/v2/homebrew/core/jq/tags/list',
    '/blobs/not-a-cid'
  ]) {
    assert.equal((await get(path)).status, 400, path)
  }
  const post = await req(s.url, INDEX, { method: 'POST' })
  assert.equal(post.status, 405)
  assert.match(post.headers.allow ?? '', /GET/)
  assert.equal((await req(s.url, CRATE, { method: 'DELETE' })).status, 405)
})

test('traversal attempts sent as raw bytes never escape the store', async () => {
  // Files a traversal could aim at, beside and above the blob store.
  await writeFile(join(s.home, 'secret.txt'), 'TOPSECRET-home\n')
  await writeFile(join(s.dir, 'secret.txt'), 'TOPSECRET-dir\n')
  const hex = sha256(crate)
  const attempts = [
    '/cargo/index/../../secret.txt',
    '/cargo/index/../../../../../../etc/passwd',
    '/cargo/index/%2e%2e/%2e%2e/secret.txt',
    '/cargo/index/%2E%2E%2F%2E%2E%2Fsecret.txt',
    '/cargo/index/3/a/..%2F..%2F..%2Fsecret.txt',
    '/cargo/crates/..%2F..%2Fsecret.txt/1.0.0/download',
    '/cargo/crates/alpha/..%2F..%2F..%2Fsecret.txt/download',
    '/homebrew/api/../../secret.txt',
    '/homebrew/api/%2e%2e/%2e%2e/secret.txt',
    '/homebrew/api/..%2F..%2Fsecret.txt',
    '/homebrew/api/%2Fetc%2Fpasswd',
    '/homebrew/api/%2F%2Fetc%2Fpasswd',
    '/homebrew/api/secret.txt%00.jws.json',
    '/homebrew/api/..%5C..%5Csecret.txt',
    '/homebrew/bottles/..%2F..%2Fsecret.txt',
    '/homebrew/bottles/%2e%2e%2f%2e%2e%2fsecret-1.0.all.bottle.tar.gz',
    '/homebrew/bottles/openssl%403-3.5.0.arm64_sequoia.bottle.tar.gz%00',
    `/v2/homebrew/core/..%2F..%2Fsecret/blobs/sha256:${hex}`,
    `/v2/homebrew/core/%2e%2e/%2e%2e/blobs/sha256:${hex}`,
    '/v2/homebrew/core/jq/manifests/..%2F..%2F..%2Fsecret.txt',
    '/blobs/..%2F..%2Fsecret.txt',
    '/blobs/%2e%2e',
    `/homebrew/api/${'a'.repeat(300)}.json`,
    `/homebrew/api/${'a/'.repeat(2000)}x.json`,
    `/cargo/index/${'a'.repeat(5000)}`,
    `/homebrew/bottles/${'a'.repeat(400)}-1.0.all.bottle.tar.gz`,
    `/v2/homebrew/core/${'a/'.repeat(600)}blobs/sha256:${hex}`
  ]
  for (const target of attempts) {
    const r = await rawRequest(s.url, target)
    assert.ok(r.status === 400 || r.status === 404, `${target.slice(0, 80)} → ${r.status}`)
    assert.doesNotMatch(r.text, /TOPSECRET|root:x:0/, target.slice(0, 80))
  }
  // Bytes no client would send: a literal NUL, backslashes, absolute-form targets, a bare `*`.
  for (const target of ['/homebrew/api/secret\u0000.json', '/homebrew/api/..\\..\\secret.txt', 'http://127.0.0.1/../secret.txt', '*', '../secret.txt']) {
    const r = await rawRequest(s.url, target)
    assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(target)} → ${r.status}`)
    assert.doesNotMatch(r.text, /TOPSECRET|root:x:0/)
  }
  // Over-long headers are refused by the server, and it keeps serving.
  const big = await req(s.url, INDEX, { headers: { 'X-Filler': 'x'.repeat(64 * 1024) } }).catch(() => ({ status: 431 }))
  assert.equal(big.status, 431)
  assert.equal((await get(INDEX)).status, 200)
})

test('/blobs/{cid} serves any held blob by CID, including catalog metadata', async () => {
  const byCid = await get(`/blobs/${await cidOf(crate)}`)
  assert.equal(byCid.status, 200)
  assert.deepEqual(byCid.body, crate)
  const indexBlob = await get(`/blobs/${await cidOf(index)}`)
  assert.deepEqual(indexBlob.body, index)
  // The same blob through the GHCR layout, named by its sha256.
  const ghcr = await get(`/v2/homebrew/core/anything/blobs/sha256:${sha256(crate)}`)
  assert.deepEqual(ghcr.body, crate)
})

type Status = { publishers: Array<{ publisher: string, seq: number, head: string, blobFiles: number, blobsHeld: number }>, store: { blobs: number, bytes: number }, hits: number, misses: number }

test('/api/status: heads, seq, publisher, blob count and bytes, hit and miss counters', async () => {
  const status = JSON.parse((await get('/api/status')).body.toString()) as Status
  assert.equal(status.publishers.length, 1)
  const pub = status.publishers[0]
  assert.equal(pub?.publisher, s.publisher)
  assert.equal(pub?.seq, 1)
  assert.match(pub?.head ?? '', /^bafy/)
  // 4 crates + 5 bottles are package blobs; the store also holds 3 index, 3 API and 2 manifest files.
  assert.equal(pub?.blobFiles, 9)
  assert.equal(pub?.blobsHeld, 9)
  assert.equal(status.store.blobs, 9 + 3 + 3 + 2)
  assert.ok(status.store.bytes > crate.length)
  assert.equal(typeof status.hits, 'number')
  assert.equal(typeof status.misses, 'number')
})

test('/api/status counts a hit per blob served from the store and a miss per blob not held', async () => {
  const before = JSON.parse((await get('/api/status')).body.toString()) as Status
  await get(CRATE)
  await get(`/v2/homebrew/core/nope/blobs/sha256:${'1'.repeat(64)}`)
  await get(`/blobs/${await cidOf(Buffer.from('nothing'))}`)
  const after = JSON.parse((await get('/api/status')).body.toString()) as Status
  assert.equal(after.hits - before.hits, 1, 'one blob served from the store')
  assert.equal(after.misses - before.misses, 2, 'two blobs asked for that are not held')
})

test('/metrics is Prometheus text with requests by route and status', async () => {
  await get(INDEX, { 'If-None-Match': '*' })
  const r = await get('/metrics')
  assert.equal(r.status, 200)
  assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/)
  const text = r.body.toString()
  assert.match(text, /^# TYPE mirrormesh_http_requests_total counter$/m)
  assert.ok(requestCount(text, 'cargo-index', 304) >= 1)
  assert.ok(requestCount(text, 'cargo-crate', 206) >= 1)
  assert.ok(requestCount(text, 'other', 404) >= 1)
  assert.match(text, /^mirrormesh_gateway_hits_total \d+$/m)
})

test('/ is an HTML page with the cargo config and brew variables for the Host used', async () => {
  for (const host of [new URL(s.url).host, 'mirror.lan:7680']) {
    const r = await get('/', { Host: host })
    assert.equal(r.status, 200)
    const html = r.body.toString()
    assert.match(html, /^<!doctype html>/)
    assert.ok(html.includes(`registry = &#34;sparse+http://${host}/cargo/index/&#34;`), 'cargo source replacement')
    assert.ok(html.includes('replace-with = &#34;mirrormesh&#34;'))
    assert.ok(html.includes(`HOMEBREW_BOTTLE_DOMAIN=http://${host}/homebrew/bottles`))
    assert.ok(html.includes(`HOMEBREW_API_DOMAIN=http://${host}/homebrew/api`))
    assert.ok(html.includes(`HOMEBREW_ARTIFACT_DOMAIN=http://${host}\n`))
    assert.ok(html.includes(s.publisher))
  }
})
