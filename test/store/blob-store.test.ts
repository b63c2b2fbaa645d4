import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { BlobStore } from '../../src/store/blob-store.ts'
import { cidFromSha256Hex, cidOfBytes, parseCid, sha256Hex } from '../../src/store/cid.ts'
import { tempDir } from '../utils/home.ts'

const chunks = (bytes: Buffer, size = 7000): Readable => Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)))

test('CID ⇄ sha256 is a pure function (the CID is the upstream checksum)', () => {
  const hex = 'ca67a0a0f12c1d2b0e1fd2f5bc4b1b76cc8f4aa1e0ec7a84b5d32d61d5c6f7a1'
  const cid = cidFromSha256Hex(hex)
  assert.equal(sha256Hex(cid), hex)
  assert.equal(parseCid(cid.toString()).toString(), cid.toString())
  assert.throws(() => cidFromSha256Hex('ABC'), TypeError)
  assert.throws(() => parseCid('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'), TypeError, 'CIDv0 is refused')
})

test('put hashes while writing, publishes atomically, and reads ranges', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    const store = new BlobStore(join(dir, 'blobs'))
    await store.open()
    const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251))
    const cid = cidOfBytes(bytes)
    const info = await store.put(chunks(bytes), { cid, size: bytes.length })
    assert.equal(info.cid.toString(), cid.toString())
    assert.equal(await store.size(cid), bytes.length)
    assert.deepEqual(Buffer.from(await store.read(cid)), bytes)
    const part: Buffer[] = []
    for await (const c of store.createReadStream(cid, { start: 10, end: 19 })) part.push(c as Buffer)
    assert.deepEqual(Buffer.concat(part), bytes.subarray(10, 20))
    assert.equal(store.path(cid).includes(sha256Hex(cid).slice(0, 2) + '/' + sha256Hex(cid).slice(2, 4)), true, 'sharded')
    await store.delete(cid)
    assert.equal(await store.has(cid), false)
  } finally {
    await cleanup()
  }
})

test('a wrong hash or size is refused and leaves nothing behind', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    const store = new BlobStore(join(dir, 'blobs'))
    await store.open()
    const bytes = Buffer.from('the real content')
    const other = cidOfBytes(Buffer.from('something else'))
    await assert.rejects(store.put(chunks(bytes, 3), { cid: other }), { name: 'IntegrityError' })
    await assert.rejects(store.put(chunks(bytes, 3), { size: bytes.length - 1 }), { name: 'IntegrityError' })
    await assert.rejects(store.put(chunks(bytes, 3), { size: bytes.length + 1 }), { name: 'IntegrityError' })
    assert.equal(await store.has(cidOfBytes(bytes)), false)
    assert.deepEqual(await readdir(join(dir, 'blobs', 'tmp')), [], 'temp files removed')
    const listed = []
    for await (const item of store.list()) listed.push(item)
    assert.deepEqual(listed, [])
  } finally {
    await cleanup()
  }
})
