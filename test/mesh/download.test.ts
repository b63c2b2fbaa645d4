/**
 * A download's partial file (src/mesh/download.ts): verified chunks outlive a failed attempt and
 * are taken up by the next one after re-verification; a damaged chunk in the file is fetched again,
 * and a download that failed its integrity check leaves nothing behind.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Download } from '../../src/mesh/download.ts'
import { BlobStore } from '../../src/store/blob-store.ts'
import { cidOfBytes } from '../../src/store/cid.ts'
import { CHUNK_SIZE, chunksOfBytes } from '../../src/store/hash.ts'
import { IntegrityError } from '../../src/util/errors.ts'
import { tempDir } from '../utils/home.ts'

async function * once (bytes: Uint8Array): AsyncGenerator<Uint8Array> { yield bytes }

async function setup (): Promise<{ store: BlobStore, blob: Buffer, start: () => Download, cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await tempDir('mirrormesh-download-')
  const store = new BlobStore(join(dir, 'blobs'))
  await store.open()
  const blob = randomBytes(3 * CHUNK_SIZE - 1000)
  const cid = cidOfBytes(blob)
  const chunks = chunksOfBytes(blob)
  assert.ok(chunks !== undefined)
  return { store, blob, start: () => new Download(store, cid, blob.length, chunks, store.tmpDir), cleanup }
}

const chunk = (blob: Buffer, i: number): Buffer => blob.subarray(i * CHUNK_SIZE, Math.min(blob.length, (i + 1) * CHUNK_SIZE))

test('verified chunks survive a failed attempt; the next one re-verifies them and fetches only the rest', async () => {
  const { store, blob, start, cleanup } = await setup()
  try {
    const first = start()
    await first.writeChunk(0, once(chunk(blob, 0)))
    await first.writeChunk(2, once(chunk(blob, 2)))
    first.fail(new Error('no peer could provide the blob'))
    await assert.rejects(first.finished)
    await new Promise(resolve => setTimeout(resolve, 50)) // the handle closes asynchronously
    assert.equal((await stat(first.file)).size, blob.length, 'the partial file is kept')

    // Damage chunk 2 on disk: it must not be taken up.
    const damaged = await readFile(first.file)
    damaged.writeUInt8(damaged.readUInt8(2 * CHUNK_SIZE + 10) ^ 0xff, 2 * CHUNK_SIZE + 10)
    await writeFile(first.file, damaged)

    const second = start()
    assert.equal(await second.resume(), 1, 'only the intact chunk is taken up')
    assert.deepEqual([...second.verified], [1, 0, 0])
    await second.writeChunk(1, once(chunk(blob, 1)))
    await second.writeChunk(2, once(chunk(blob, 2)))
    await second.finished
    assert.deepEqual(await readFile(store.path(second.cid)), blob, 'the published blob is exactly the original')
    await assert.rejects(stat(second.file), 'the partial file became the blob')
  } finally {
    await cleanup()
  }
})

test('a download that fails its integrity check, or verified nothing, leaves no partial file', async () => {
  const { blob, start, cleanup } = await setup()
  try {
    const bad = start()
    await bad.writeChunk(0, once(chunk(blob, 0)))
    bad.fail(new IntegrityError('content hashes to something else'))
    await assert.rejects(bad.finished)
    const empty = start()
    empty.fail(new Error('node stopping'))
    await assert.rejects(empty.finished)
    await new Promise(resolve => setTimeout(resolve, 50))
    await assert.rejects(stat(bad.file))
    assert.equal(await start().resume(), 0)
  } finally {
    await cleanup()
  }
})
