/**
 * A download (src/mesh/download.ts): verified chunks outlive a failed attempt in the partial file
 * and are taken up by the next one after re-verification; a damaged chunk in the file is fetched
 * again, and a download that failed its integrity check leaves nothing behind. Early readers (a
 * gateway's client) have bytes as they arrive, and fail if any of them were not the verified ones.
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

/** A store and a random blob of `size` bytes (three chunks by default), with a way to start its download. */
async function setup (size = 3 * CHUNK_SIZE - 1000): Promise<{ store: BlobStore, blob: Buffer, start: () => Download, cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await tempDir('mirrormesh-download-')
  const store = new BlobStore(join(dir, 'blobs'))
  await store.open()
  const blob = randomBytes(size)
  const cid = cidOfBytes(blob)
  const chunks = chunksOfBytes(blob)
  assert.ok(chunks !== undefined)
  return { store, blob, start: () => new Download(store, cid, blob.length, chunks, store.tmpDir), cleanup }
}

const chunk = (blob: Buffer, i: number): Buffer => blob.subarray(i * CHUNK_SIZE, Math.min(blob.length, (i + 1) * CHUNK_SIZE))

/** Write chunks `indexes` of `blob`, each in one piece, in that order. */
async function writeChunks (download: Download, blob: Buffer, ...indexes: number[]): Promise<void> {
  for (const i of indexes) await download.writeChunk(i, once(chunk(blob, i)))
}

test('verified chunks survive a failed attempt; the next one re-verifies them and fetches only the rest', async () => {
  const { store, blob, start, cleanup } = await setup()
  try {
    const first = start()
    await writeChunks(first, blob, 0, 2)
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
    await writeChunks(second, blob, 1, 2)
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

/** A pull's body: `parts`, each after `gate` lets it through (so a test sees what a reader has before the end). */
function gated (parts: Uint8Array[], failAfter?: number): { body: AsyncGenerator<Uint8Array>, next: () => void } {
  const waiting: Array<() => void> = []
  let allowed = 0
  return {
    next: () => { allowed++; waiting.shift()?.() },
    body: (async function * () {
      for (const [i, part] of parts.entries()) {
        if (allowed <= i) await new Promise<void>(resolve => waiting.push(resolve))
        if (failAfter === i) throw new Error('connection reset by peer')
        yield part
      }
    })()
  }
}

async function collect (stream: AsyncIterable<Buffer>): Promise<{ bytes: Buffer[], error?: Error }> {
  const bytes: Buffer[] = []
  try {
    for await (const data of stream) bytes.push(data)
  } catch (err) {
    return { bytes, error: err as Error }
  }
  return { bytes }
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise(resolve => setTimeout(resolve, 5))
  assert.ok(check(), 'timed out')
}

test('an early reader has a chunk\'s bytes as they arrive; a plain reader only once the chunk is verified', async () => {
  const { blob, start, cleanup } = await setup()
  try {
    const download = start()
    const early = (download.stream(undefined, undefined, { early: true }) as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
    const plain = (download.stream() as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
    const c0 = chunk(blob, 0)
    const pull = gated([c0.subarray(0, 1000), c0.subarray(1000)])
    const writing = download.writeChunk(0, pull.body)
    pull.next()
    const earlyFirst = await early.next()
    assert.deepEqual(earlyFirst.value, c0.subarray(0, 1000), 'the early reader has the first part before the chunk is whole')
    const plainFirst = plain.next()
    const pending = Symbol('pending')
    assert.equal(await Promise.race([plainFirst, new Promise(resolve => setTimeout(() => resolve(pending), 50))]), pending, 'the plain reader waits for verification')
    pull.next()
    await writing
    await writeChunks(download, blob, 1, 2)
    const rest = async (first: IteratorResult<Buffer>, it: AsyncIterator<Buffer>): Promise<Buffer> => {
      const parts = [first.value as Buffer]
      for (let r = await it.next(); r.done !== true; r = await it.next()) parts.push(r.value)
      return Buffer.concat(parts)
    }
    assert.deepEqual(await rest(earlyFirst, early), blob)
    assert.deepEqual(await rest(await plainFirst, plain), blob)
  } finally {
    await cleanup()
  }
})

test('a pull that drops after sending good bytes: the early reader goes on seamlessly once another pull verifies the chunk', async () => {
  const { blob, start, cleanup } = await setup()
  try {
    const download = start()
    const reader = collect(download.stream({ start: 100, end: blob.length - 1 }, undefined, { early: true }))
    const c0 = chunk(blob, 0)
    const pull = gated([c0.subarray(0, 5000), c0.subarray(5000)], 1)
    const writing = download.writeChunk(0, pull.body)
    pull.next()
    pull.next()
    await assert.rejects(writing, /connection reset/)
    assert.equal(download.verified[0], 0)
    await writeChunks(download, blob, 0, 1, 2)
    const result = await reader
    assert.equal(result.error, undefined)
    assert.deepEqual(Buffer.concat(result.bytes), blob.subarray(100), 'every byte once, in order, from the range start')
  } finally {
    await cleanup()
  }
})

test('bytes an early reader already passed on that fail verification end its stream with an error; a plain reader is unaffected', async () => {
  const { blob, start, cleanup } = await setup()
  try {
    const download = start()
    const early = collect(download.stream(undefined, undefined, { early: true }))
    const plain = collect(download.stream())
    const c0 = chunk(blob, 0)
    const tampered = Buffer.from(c0)
    tampered[10] = (tampered[10] as number) ^ 0xff
    const pull = gated([tampered.subarray(0, 1000), tampered.subarray(1000)])
    const writing = download.writeChunk(0, pull.body)
    pull.next()
    pull.next()
    await assert.rejects(writing, IntegrityError)
    await until(() => download.verified[0] === 0)
    await writeChunks(download, blob, 0, 1, 2)
    const bad = await early
    assert.ok(bad.error instanceof IntegrityError, `the early stream fails: ${String(bad.error)}`)
    assert.ok(Buffer.concat(bad.bytes).length < blob.length, 'it never looks complete')
    const good = await plain
    assert.equal(good.error, undefined)
    assert.deepEqual(Buffer.concat(good.bytes), blob)
    await download.finished
  } finally {
    await cleanup()
  }
})

test('a one-chunk blob is checked against its CID as it arrives, and published without a second pass', async () => {
  const { dir, cleanup } = await tempDir('mirrormesh-download-')
  try {
    const store = new BlobStore(join(dir, 'blobs'))
    await store.open()
    const blob = randomBytes(300_000)
    const download = new Download(store, cidOfBytes(blob), blob.length, undefined, store.tmpDir)
    const early = collect(download.stream(undefined, undefined, { early: true }))
    const tampered = Buffer.from(blob)
    tampered[0] = (tampered[0] as number) ^ 1
    await assert.rejects(download.writeChunk(0, once(tampered)), IntegrityError)
    await download.writeChunk(0, once(blob))
    await download.finished
    assert.deepEqual(await readFile(store.path(download.cid)), blob)
    assert.ok((await early).error instanceof IntegrityError, 'the early reader had the tampered byte: it must fail')
  } finally {
    await cleanup()
  }
})

test('chunks that match their digests but not, together, the CID: nothing is published', async () => {
  const { store, blob, cleanup } = await setup()
  try {
    const chunks = chunksOfBytes(blob)
    const other = cidOfBytes(Buffer.concat([blob, Buffer.from('x')]))
    const download = new Download(store, other, blob.length, chunks, store.tmpDir)
    // In order (hashed from memory) and out of order (read back from the file) both count.
    await writeChunks(download, blob, 1, 0, 2)
    await assert.rejects(download.finished, IntegrityError)
    assert.equal(await store.has(other), false)
  } finally {
    await cleanup()
  }
})

/** `bytes` in socket-sized parts, so a chunk is written to disk while it arrives. */
async function * inParts (bytes: Uint8Array, size = 64 << 10): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size)
}

test('bytes written before their chunk failed verification are never counted: not resumed, not published', async () => {
  const { store, blob, start, cleanup } = await setup()
  try {
    const first = start()
    // Chunk 1 from a peer that tampers with its last byte: all but that part are on disk by then.
    const tampered = Buffer.from(chunk(blob, 1))
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 0xff
    await writeChunks(first, blob, 0)
    await assert.rejects(first.writeChunk(1, inParts(tampered)), IntegrityError)
    assert.deepEqual([...first.verified], [1, 0, 0])
    assert.equal(first.hasRange(first.chunkRange(1)), false, 'the range is not served to peers')
    const onDisk = await readFile(first.file)
    assert.deepEqual(onDisk.subarray(CHUNK_SIZE, CHUNK_SIZE + 1000), tampered.subarray(0, 1000), 'the tampered bytes did reach the file')
    first.fail(new Error('no peer could provide the blob'))
    await assert.rejects(first.finished)
    await new Promise(resolve => setTimeout(resolve, 50))

    const second = start()
    assert.equal(await second.resume(), 1, 'the written but unverified chunk is not taken up')
    await second.writeChunk(1, inParts(chunk(blob, 1)))
    await second.writeChunk(2, inParts(chunk(blob, 2)))
    await second.finished
    assert.deepEqual(await readFile(store.path(second.cid)), blob, 'the good pull overwrote every bad byte')
  } finally {
    await cleanup()
  }
})

test('one pull writes a chunk at a time: a second pull of the same chunk while the first runs is refused', async () => {
  const { store, blob, start, cleanup } = await setup()
  try {
    const download = start()
    const pull = gated([chunk(blob, 0).subarray(0, 1000), chunk(blob, 0).subarray(1000)])
    const writing = download.writeChunk(0, pull.body)
    pull.next()
    await assert.rejects(download.writeChunk(0, once(chunk(blob, 0))), /being received from another source/)
    pull.next()
    await writing
    await writeChunks(download, blob, 1, 2)
    await download.finished
    assert.deepEqual(await readFile(store.path(download.cid)), blob)
  } finally {
    await cleanup()
  }
})

/** `bytes` in 64 KiB pieces, as a socket delivers them (the download writes 512 KiB at a time). */
async function * pieces (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += 64 << 10) yield bytes.subarray(at, Math.min(bytes.length, at + (64 << 10)))
}

test('a blob big enough for background write-back publishes exactly, and a failure during write-back keeps what verified', async () => {
  // 10 chunks (~40 MiB): past the 32 MiB that start a datasync while chunks still arrive.
  const { store, blob, start, cleanup } = await setup(10 * CHUNK_SIZE - 12345)
  try {
    // Out of order, in socket-sized pieces; fail just as the ninth chunk's write-back may be running.
    const first = start()
    for (const i of [9, 0, 1, 2, 3, 4, 5, 6, 7]) await first.writeChunk(i, pieces(chunk(blob, i)))
    first.fail(new Error('the link dropped'))
    await assert.rejects(first.finished, /the link dropped/)
    await new Promise(resolve => setTimeout(resolve, 100)) // the handle closes asynchronously

    const second = start()
    assert.equal(await second.resume(), 9, 'every chunk verified before the failure is taken up')
    await second.writeChunk(8, pieces(chunk(blob, 8)))
    await second.finished
    assert.deepEqual(await readFile(store.path(second.cid)), blob, 'the published blob is exactly the original')
  } finally {
    await cleanup()
  }
})
