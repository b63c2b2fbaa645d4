/**
 * The data plane on its own (src/mesh/data-plane.ts): tickets, ranges, and upload slots — a holder
 * with every slot taken answers 503 at once instead of queueing, and frees the slot when a client
 * finishes or goes away; sparing (a range just sent to one peer, or still on its way to it over a
 * slow link, is declined to another, who is told where it went); the verified chunks of a blob still arriving; the emulated link of the
 * simulations.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { DataPlane, DataPlaneClient } from '../../src/mesh/data-plane.ts'
import { Download } from '../../src/mesh/download.ts'
import { SPARE_MS } from '../../src/mesh/spare-list.ts'
import { Tickets } from '../../src/mesh/tickets.ts'
import { BlobStore } from '../../src/store/blob-store.ts'
import { cidOfBytes } from '../../src/store/cid.ts'
import { CHUNK_SIZE, chunksOfBytes } from '../../src/store/hash.ts'
import { TokenBucket } from '../../src/util/token-bucket.ts'
import { tempDir } from '../utils/home.ts'

let cleanup: () => Promise<void>
let plane: DataPlane
const tickets = new Tickets()
const client = new DataPlaneClient()
const blob = randomBytes(8 << 20)
const cid = cidOfBytes(blob)
let origin: string

before(async () => {
  const made = await tempDir('mirrormesh-data-plane-')
  cleanup = made.cleanup
  const store = new BlobStore(join(made.dir, 'blobs'))
  await store.open()
  await store.put(Readable.from([blob]), { cid })
  plane = new DataPlane({ store, tickets, download: () => undefined }, { slots: 1 })
  await plane.listen('127.0.0.1', 0)
  origin = `http://127.0.0.1:${plane.port}`
})

after(async () => {
  client.destroy()
  await plane.close()
  await cleanup()
})

const path = `/p2p/blobs/${cid.toString()}`

async function body (response: { body: AsyncIterable<Buffer> }): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const part of response.body) parts.push(Buffer.from(part))
  return Buffer.concat(parts)
}

test('a ticket is required; a range comes back exactly', async () => {
  assert.equal((await client.get(origin, path, { authorization: 'Bearer nope' })).status, 403)
  const r = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString())}`, range: 'bytes=100-199' })
  assert.equal(r.status, 206)
  assert.deepEqual(await body(r), blob.subarray(100, 200))
})

test('with every upload slot taken the answer is 503 at once; the slot frees when the client goes away', async () => {
  // A client that reads nothing holds the only slot (8 MiB does not fit in the socket buffers).
  const stalled = request(`${origin}${path}`, { headers: { authorization: `Bearer ${tickets.issue(cid.toString())}` } })
  const gotHead = new Promise<void>(resolve => stalled.once('response', res => { res.pause(); resolve() }))
  stalled.end()
  await gotHead
  assert.equal(plane.uploads, 1)
  const busy = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString())}`, range: 'bytes=0-9' })
  assert.equal(busy.status, 503)
  // The stalled upload sent what the socket buffers took, and most of the 8 MiB is left: it says
  // when it expects to end (upload-slots.ts), later than now.
  assert.match(busy.headers['x-mirrormesh-busy-ms'] ?? '', /^[1-9]\d*$/)
  await body(busy)
  assert.equal(plane.busyAnswers, 1)
  stalled.destroy()
  const deadline = Date.now() + 5000
  while (plane.uploads > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  assert.equal(plane.uploads, 0, 'the slot is free again')
  const ok = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString())}`, range: 'bytes=0-9' })
  assert.equal(ok.status, 206)
  assert.deepEqual(await body(ok), blob.subarray(0, 10))
})

test('a busy answer names the peers the blob is going to (never the asker itself), so the asker can take from them', async () => {
  const alice = '12D3KooWAlice', bob = '12D3KooWBob'
  const stalled = request(`${origin}${path}`, { headers: { authorization: `Bearer ${tickets.issue(cid.toString(), alice)}` } })
  const gotHead = new Promise<void>(resolve => stalled.once('response', res => { res.pause(); resolve() }))
  stalled.end()
  await gotHead
  try {
    const busy = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString(), bob)}`, range: 'bytes=0-9' })
    assert.equal(busy.status, 503)
    assert.equal(busy.headers['x-mirrormesh-receivers'], alice)
    assert.equal(busy.headers['x-mirrormesh-sent-to'], undefined, 'busy, not a declined range')
    await body(busy)
    const self = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString(), alice)}`, range: 'bytes=0-9' })
    assert.equal(self.status, 503)
    assert.equal(self.headers['x-mirrormesh-receivers'], undefined, 'the only receiver is the asker')
    await body(self)
  } finally {
    stalled.destroy()
    const deadline = Date.now() + 5000
    while (plane.uploads > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  }
})

test('sparing: a range just sent whole to one peer is declined to another, naming the first; the first may fetch it again', async () => {
  const alice = '12D3KooWAlice', bob = '12D3KooWBob'
  const range = 'bytes=4194304-8388607' // the second 4 MiB
  const first = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString(), alice)}`, range })
  assert.equal(first.status, 206)
  assert.deepEqual(await body(first), blob.subarray(4 << 20, 8 << 20))
  const declined = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString(), bob)}`, range })
  assert.equal(declined.status, 503)
  assert.equal(declined.headers['x-mirrormesh-sent-to'], alice, 'the refusal names the peer that has the range')
  const forMs = Number(declined.headers['x-mirrormesh-spared-ms'])
  assert.ok(forMs > 0 && forMs <= SPARE_MS, `and for how long it is declined: ${forMs} ms`)
  await body(declined)
  assert.equal(plane.sparedAnswers, 1)
  const again = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString(), alice)}`, range })
  assert.equal(again.status, 206, 'the peer that received it is not refused (its copy may have failed)')
  await body(again)
  const other = await client.get(origin, path, { authorization: `Bearer ${tickets.issue(cid.toString(), bob)}`, range: 'bytes=0-9' })
  assert.equal(other.status, 206, 'another range is sent')
  await body(other)
})

/** A data plane of its own holding `blob`, its upload paced at `bytesPerSecond` (serve --emulate-link). */
async function pacedPlane (bytesPerSecond: number): Promise<{ plane: DataPlane, at: string, close: () => Promise<void> }> {
  const made = await tempDir('mirrormesh-data-plane-paced-')
  const store = new BlobStore(join(made.dir, 'blobs'))
  await store.open()
  await store.put(Readable.from([blob]), { cid })
  const plane = new DataPlane({ store, tickets, download: () => undefined }, { up: new TokenBucket(bytesPerSecond) })
  await plane.listen('127.0.0.1', 0)
  return { plane, at: `http://127.0.0.1:${plane.port}`, close: async () => { await plane.close(); await made.cleanup() } }
}

test('sparing in flight: on a slow upload link a range still being sent to one peer is declined to another, naming it', async () => {
  const { plane: slow, at, close } = await pacedPlane(2 << 20)
  const alice = '12D3KooWAlice', bob = '12D3KooWBob'
  const range = 'bytes=0-4194303'
  try {
    const first = await client.get(at, path, { authorization: `Bearer ${tickets.issue(cid.toString(), alice)}`, range })
    const whole = body(first)
    await new Promise(resolve => setTimeout(resolve, 1100)) // ~2 MiB out: a resend would take seconds
    const declined = await client.get(at, path, { authorization: `Bearer ${tickets.issue(cid.toString(), bob)}`, range })
    assert.equal(declined.status, 503)
    assert.equal(declined.headers['x-mirrormesh-sent-to'], alice, 'the refusal names the peer the range is going to')
    assert.equal(declined.headers['x-mirrormesh-spared-ms'], String(SPARE_MS), 'still in flight: the longest window')
    await body(declined)
    const small = await client.get(at, path, { authorization: `Bearer ${tickets.issue(cid.toString(), bob)}`, range: 'bytes=4194304-4194403' })
    assert.equal(small.status, 206, 'another range is sent')
    await body(small)
    assert.deepEqual(await whole, blob.subarray(0, 4 << 20), 'the first copy arrives whole')
    assert.equal(slow.sparedAnswers, 1)
  } finally {
    await close()
  }
})

test('an emulated upload link paces the data plane (serve --emulate-link)', async () => {
  const { at, close } = await pacedPlane(8 << 20)
  try {
    const started = performance.now()
    const r = await client.get(at, path, { authorization: `Bearer ${tickets.issue(cid.toString())}`, range: 'bytes=0-4194303' })
    assert.deepEqual(await body(r), blob.subarray(0, 4 << 20))
    // 4 MiB at 8 MiB/s, less the 128 KiB burst: at least ~0.48 s (a lower bound cannot flake on a slow machine).
    assert.ok(performance.now() - started >= 450, `4 MiB took ${(performance.now() - started).toFixed(0)} ms at 8 MiB/s`)
  } finally {
    await close()
  }
})

test('a blob still arriving: its verified chunks are served from the partial file, the others are 404', async () => {
  const made = await tempDir('mirrormesh-data-plane-inflight-')
  const store = new BlobStore(join(made.dir, 'blobs'))
  await store.open()
  const big = randomBytes(3 * CHUNK_SIZE)
  const bigCid = cidOfBytes(big)
  const download = new Download(store, bigCid, big.length, chunksOfBytes(big), store.tmpDir)
  const inflight = new DataPlane({ store, tickets, download: key => key === bigCid.toString() ? download : undefined })
  await inflight.listen('127.0.0.1', 0)
  try {
    await download.writeChunk(1, (async function * () { yield big.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE) })())
    const at = `http://127.0.0.1:${inflight.port}`
    const auth = { authorization: `Bearer ${tickets.issue(bigCid.toString())}` }
    const got = await client.get(at, `/p2p/blobs/${bigCid.toString()}`, { ...auth, range: `bytes=${CHUNK_SIZE + 10}-${2 * CHUNK_SIZE - 1}` })
    assert.equal(got.status, 206)
    assert.deepEqual(await body(got), big.subarray(CHUNK_SIZE + 10, 2 * CHUNK_SIZE))
    const notYet = await client.get(at, `/p2p/blobs/${bigCid.toString()}`, { ...auth, range: `bytes=0-${CHUNK_SIZE - 1}` })
    assert.equal(notYet.status, 404, 'a chunk not verified yet is not served')
    await body(notYet)
  } finally {
    download.fail(new Error('test over'))
    await inflight.close()
    await made.cleanup()
  }
})
