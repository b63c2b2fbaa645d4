/**
 * Failures the real store rarely produces, driven through an in-memory GatewayContent: a blob that
 * vanishes between stat and open (500 without the resource's caching headers), and bytes that fail
 * verification half-way (the connection is cut, never a short body that looks complete).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { Readable } from 'node:stream'
import { createGatewayApp } from '../../src/gateway/app.ts'
import type { GatewayContent } from '../../src/gateway/interface.ts'
import { listenGateway, type RunningGateway } from '../../src/gateway/server.ts'
import { cidFromSha256Hex, type CID } from '../../src/store/cid.ts'
import { IntegrityError, NotFoundError } from '../../src/util/errors.ts'
import { req, sha256 } from './helpers.ts'

const GONE = Buffer.from('a blob removed between stat and open')
const BAD = Buffer.alloc(256 * 1024, 7)

/** Content that claims two blobs: one whose open fails, one whose stream fails after 64 KiB. */
const content: GatewayContent = {
  lookup: async () => undefined,
  stat: async (cid: CID) => {
    const hex = Buffer.from(cid.multihash.digest).toString('hex')
    if (hex === sha256(GONE)) return { size: GONE.length, mtime: 0 }
    if (hex === sha256(BAD)) return { size: BAD.length, mtime: 0 }
    return undefined
  },
  open: async (cid: CID) => {
    if (Buffer.from(cid.multihash.digest).toString('hex') === sha256(GONE)) throw new NotFoundError('gone')
    return Readable.from((async function * () {
      yield BAD.subarray(0, 64 * 1024)
      await new Promise(resolve => setTimeout(resolve, 20))
      throw new IntegrityError('chunk 1 does not match its digest')
    })())
  },
  read: async () => new Uint8Array()
}

let gateway: RunningGateway
before(async () => {
  gateway = await listenGateway(createGatewayApp(content, { status: async () => ({}) }).callback(), '127.0.0.1', 0)
})
after(async () => await gateway.close())

test('a blob that cannot be opened after all: 500, without the resource\'s ETag or immutable Cache-Control', async () => {
  const r = await req(gateway.url, `/blobs/${cidFromSha256Hex(sha256(GONE)).toString()}`)
  assert.equal(r.status, 500)
  assert.equal(r.body.toString(), 'internal error\n')
  assert.equal(r.headers['cache-control'], undefined)
  assert.equal(r.headers.etag, undefined)
  assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8')
})

test('bytes that fail verification mid-stream cut the connection', async () => {
  const { hostname, port } = new URL(gateway.url)
  const outcome = await new Promise<{ status: number, received: number, ending: string }>((resolve, reject) => {
    const r = request({ host: hostname, port, path: `/blobs/${cidFromSha256Hex(sha256(BAD)).toString()}`, agent: false }, res => {
      let received = 0
      res.on('data', (c: Buffer) => { received += c.length })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, received, ending: 'end' }))
      res.on('error', () => resolve({ status: res.statusCode ?? 0, received, ending: 'error' }))
    })
    r.on('error', reject)
    r.end()
  })
  assert.equal(outcome.status, 200, 'the headers went out before the bad chunk')
  assert.equal(outcome.ending, 'error', 'the client sees a broken transfer, not a complete body')
  assert.ok(outcome.received < BAD.length)
  // The gateway keeps serving.
  assert.equal((await req(gateway.url, '/api/status')).status, 200)
})
