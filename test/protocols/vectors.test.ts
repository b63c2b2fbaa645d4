/** The test vectors in protocols/ decode exactly as their specs say (code and spec cannot drift). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import * as ed from '@noble/ed25519'
import { decodeNode } from '../../src/catalog/node.ts'
import { verifyBundle } from '../../src/bundle/verify.ts'
import { parseCid } from '../../src/store/cid.ts'
import { CHUNK_SIZE } from '../../src/store/hash.ts'
import { openSignedHead } from '../../src/trust/head.ts'
import { formatPublicKey } from '../../src/trust/keys.ts'
import { isBlobNotice, MAX_CHUNKS, MAX_TICKET, MESSAGE_LIMIT as BLOB_MESSAGE_LIMIT, parseBlobAnswer, parseBlobNotice, parseBlobRequest } from '../../src/mesh/blob-protocol.ts'
import { DATA_FRAME, MAX_NODES_PER_REQUEST, MESSAGE_LIMIT as CATALOG_MESSAGE_LIMIT, parseCatalogRequest, parseMetaFrame, parseMetaHeader, parseNodeAnswer } from '../../src/mesh/catalog-protocol.ts'
import { MAX_HEADS, MESSAGE_LIMIT as HEADS_MESSAGE_LIMIT, parseHeadsMessage } from '../../src/mesh/head-sync.ts'
import { holderTag, Tickets } from '../../src/mesh/tickets.ts'

const path = (rel: string): string => fileURLToPath(new URL(`../../protocols/${rel}`, import.meta.url))
const json = async (rel: string): Promise<any> => JSON.parse(await readFile(path(rel), 'utf8')) // eslint-disable-line @typescript-eslint/no-explicit-any

test('head vectors: valid heads open to their fields, tampered ones are refused', async () => {
  const v = await json('head/vectors.json')
  assert.equal(formatPublicKey(await ed.getPublicKeyAsync(Buffer.from(v.keySeedHex, 'hex'))), v.publisher)
  for (const h of v.valid) {
    const head = await openSignedHead(Buffer.from(h.signedHeadHex, 'hex'))
    assert.deepEqual({ cid: head.cid.toString(), publisher: head.publisher, seq: head.seq, parent: head.parent?.toString() ?? null, root: head.root?.toString() ?? null, time: head.time },
      { cid: h.cid, publisher: h.publisher, seq: h.seq, parent: h.parent, root: h.root, time: h.time })
  }
  for (const bad of v.invalid) await assert.rejects(openSignedHead(Buffer.from(bad.signedHeadHex, 'hex')), { name: bad.error })
})

test('catalog vectors: nodes hash to their CIDs and decode as specified', async () => {
  const v = await json('catalog/vectors.json')
  assert.equal(v.chunkSize, CHUNK_SIZE)
  for (const n of v.nodes) decodeNode(Buffer.from(n.hex, 'hex'), parseCid(n.cid))
  assert.equal(v.nodes[0].cid, v.root, 'root first')
  const single = decodeNode(Buffer.from(v.singleNode.hex, 'hex'), parseCid(v.singleNode.cid))
  assert.ok('entries' in single)
  const demo = single.entries.get('demo')
  assert.ok(demo !== undefined && 'file' in demo)
  assert.deepEqual({ kind: demo.file.kind, cid: demo.file.cid.toString(), size: demo.file.size, mtime: demo.file.mtime }, v.singleNode.entries.demo)
  assert.equal(v.bigChunks.length / 2, Math.ceil((9 << 20) / CHUNK_SIZE) * 32)
})

test('bundle vector: minimal.mmb verifies and carries what minimal.json lists', async () => {
  const expected = await json('bundle/vectors/minimal.json')
  const report = await verifyBundle(path('bundle/vectors/minimal.mmb'))
  assert.equal(report.publisher, expected.publisher)
  assert.equal(report.seq, expected.seq)
  assert.equal(report.head, expected.head)
  assert.equal(report.root, expected.root)
  assert.equal(report.nodes, expected.nodes.length)
  assert.equal(report.blobs, expected.blobs.length)
})

/** A vector's message: its bytes decode as dag-cbor, and encode back to exactly those bytes (the encoding is canonical). */
function message (v: { name: string, hex: string }): unknown {
  const bytes = Buffer.from(v.hex, 'hex')
  const value = dagCbor.decode(bytes)
  assert.equal(Buffer.from(dagCbor.encode(value)).toString('hex'), v.hex, `${v.name}: canonical dag-cbor`)
  return value
}

const hexOf = (bytes: Uint8Array | null | undefined): string | null => bytes == null ? null : Buffer.from(bytes).toString('hex')

test('blob-exchange vectors: availability requests and answers parse as specified, malformed ones are refused', async () => {
  const v = await json('blob-exchange/vectors.json')
  assert.deepEqual(v.limits, { messageBytes: BLOB_MESSAGE_LIMIT, maxChunks: MAX_CHUNKS, maxTicket: MAX_TICKET })
  for (const r of v.requests) {
    if (r.valid !== true) {
      assert.throws(() => parseBlobRequest(message(r)), { name: r.error }, r.name)
      continue
    }
    const request = parseBlobRequest(message(r))
    assert.deepEqual({ cid: request.cid.toString(), watch: request.watch }, { cid: r.cid, watch: r.watch }, r.name)
  }
  for (const n of v.notices) {
    const value = message(n)
    assert.equal(isBlobNotice(value), true, `${n.name}: told apart from an answer`)
    if (n.valid !== true) {
      assert.throws(() => parseBlobNotice(value), { name: n.error }, n.name)
      continue
    }
    const notice = parseBlobNotice(value)
    assert.deepEqual({ cid: notice.cid.toString(), chunk: notice.chunk }, { cid: n.cid, chunk: n.chunk }, n.name)
  }
  for (const a of v.answers) {
    if (a.valid !== true) {
      assert.throws(() => parseBlobAnswer(message(a)), { name: a.error }, a.name)
      continue
    }
    assert.equal(isBlobNotice(message(a)), false, `${a.name}: not a notice`)
    const answer = parseBlobAnswer(message(a))
    assert.deepEqual(answer.have ? { ...answer, chunks: hexOf(answer.chunks) } : answer, a.answer, a.name)
  }
})

test('blob-exchange vectors: tickets have the documented form and grant one blob until they expire', async () => {
  const { tickets: t } = await json('blob-exchange/vectors.json')
  const tickets = new Tickets(t.ttlMs, Buffer.from(t.secretHex, 'hex'))
  assert.equal(holderTag(t.peer), t.holder)
  assert.equal(tickets.issue(t.cid, t.peer, t.now), t.ticket)
  assert.match(t.ticket, new RegExp(`^${t.now + t.ttlMs}\\.${t.holder}\\.[A-Za-z0-9_-]{43}$`))
  for (const c of t.checks) assert.equal(tickets.check(c.cid, t.ticket, c.now) ?? null, c.holder, c.name)
  assert.equal(new Tickets(t.ttlMs).check(t.cid, t.ticket, t.now), undefined, 'another secret')
})

test('head-exchange vectors: heads messages parse as specified, malformed ones are refused', async () => {
  const v = await json('head-exchange/vectors.json')
  assert.deepEqual(v.limits, { heads: MAX_HEADS, messageBytes: HEADS_MESSAGE_LIMIT })
  const heads = await json('head/vectors.json')
  assert.equal(v.messages[0].heads[0], heads.valid[0].signedHeadHex, 'the head is head/vectors.json\'s')
  for (const m of v.messages) {
    if (m.valid === true) assert.deepEqual(parseHeadsMessage(message(m)).map(hexOf), m.heads, m.name)
    else assert.throws(() => parseHeadsMessage(message(m)), { name: m.error }, m.name)
  }
})

test('catalog-fetch vectors: requests, node answers, metadata headers and frames parse as specified', async () => {
  const v = await json('catalog-fetch/vectors.json')
  assert.deepEqual(v.limits, { cidsPerRequest: MAX_NODES_PER_REQUEST, messageBytes: CATALOG_MESSAGE_LIMIT, dataFrame: DATA_FRAME })
  for (const r of v.requests) {
    if (r.valid !== true) {
      assert.throws(() => parseCatalogRequest(message(r)), { name: r.error }, r.name)
      continue
    }
    const request = parseCatalogRequest(message(r))
    assert.deepEqual(request.want === 'nodes' ? { want: 'nodes', cids: request.cids.map(String) } : { want: 'meta', cid: request.cid.toString() }, r.request, r.name)
  }
  for (const a of v.nodeAnswers) {
    if (a.valid === true) assert.equal(hexOf(parseNodeAnswer(message(a), parseCid(a.expected))), a.bytes, a.name)
    else assert.throws(() => parseNodeAnswer(message(a), parseCid(a.expected)), { name: a.error }, a.name)
  }
  const cid = parseCid('bafkreihcxxu5yqxqjzrzc4fh33j5z6za37mg7p2bvzq5rim3ta2gxtchia')
  for (const h of v.metaHeaders) {
    if (h.valid === true) assert.equal(parseMetaHeader(message(h), cid, h.size) === undefined, h.missing, h.name)
    else assert.throws(() => parseMetaHeader(message(h), cid, h.size), { name: h.error }, h.name)
  }
  for (const f of v.metaFrames) {
    if (f.valid === true) assert.equal(hexOf(parseMetaFrame(message(f), f.received, f.size)), f.data, f.name)
    else assert.throws(() => parseMetaFrame(message(f), f.received, f.size), { name: f.error }, f.name)
  }
})
