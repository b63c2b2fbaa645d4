/** The test vectors in protocols/ decode exactly as their specs say (code and spec cannot drift). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import * as ed from '@noble/ed25519'
import { decodeNode } from '../../src/catalog/node.ts'
import { verifyBundle } from '../../src/bundle/verify.ts'
import { parseCid } from '../../src/store/cid.ts'
import { CHUNK_SIZE } from '../../src/store/hash.ts'
import { openSignedHead } from '../../src/trust/head.ts'
import { formatPublicKey } from '../../src/trust/keys.ts'

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
