/**
 * Availability over libp2p (src/mesh/blob-protocol.ts): questions share one stream per peer; a
 * peer that answers one question per stream (the protocol's first form) is still understood; a
 * malformed answer is an IntegrityError, not a crash; a question with `watch` about a blob the peer
 * is fetching too is followed by notices of its chunks, between the answers.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { AvailabilitySessions, handleBlobProtocol, type BlobNotice } from '../../src/mesh/blob-protocol.ts'
import { createHost, type Host } from '../../src/mesh/host.ts'
import { BLOB_PROTOCOL } from '../../src/mesh/protocols.ts'
import { channel } from '../../src/mesh/wire.ts'
import { cidFromSha256Hex } from '../../src/store/cid.ts'

const held = cidFromSha256Hex('a'.repeat(64))
const absent = cidFromSha256Hex('b'.repeat(64))
const fetching = cidFromSha256Hex('c'.repeat(64))
let asker: Host
let holder: Host
let oneShot: Host
let liar: Host
/** Fetching `fetching` too: chunk 0 of 4 verified; `progress` emits 'chunk' (index) and 'done'. */
let fellow: Host
const progress = new EventEmitter()
const fellowChunks = new Uint8Array([1, 0, 0, 0])
progress.on('chunk', (index: number) => { fellowChunks[index] = 1 })
/** Watches the fellow runs now. */
let watches = 0
/** Whether the fellow knows no whole holder of the blob it fetches. */
let fellowUnsourced = false

async function host (): Promise<Host> {
  return await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false })
}

before(async () => {
  [asker, holder, oneShot, liar, fellow] = await Promise.all([host(), host(), host(), host(), host()])
  await handleBlobProtocol(fellow, async cid => cid.equals(fetching) ? { size: 4 << 22, chunks: fellowChunks, unsourced: fellowUnsourced } : undefined, () => 'ticket', { port: 7683, uploads: 0 }, (cid, tell) => {
    if (!cid.equals(fetching) || fellowChunks.every(c => c === 1)) return undefined
    const onChunk = (index: number): void => { tell(index) }
    const onDone = (): void => { stop(); tell(null) }
    let stopped = false
    const stop = (): void => {
      if (stopped) return
      stopped = true
      watches--
      progress.off('chunk', onChunk).off('done', onDone)
    }
    progress.on('chunk', onChunk)
    progress.on('done', onDone)
    watches++
    return stop
  })
  // (`unsourced` from a whole holder is never sent: it holds every chunk.)
  await handleBlobProtocol(holder, async cid => cid.equals(held) ? { size: 100, chunks: null, unsourced: true } : undefined, (_cid, peer) => `ticket-for-${peer.toString().slice(-6)}`, { port: 7682, uploads: 2 })
  // An old-style peer: one answer, then the stream is closed.
  await oneShot.handle(BLOB_PROTOCOL, async (stream: Stream) => {
    const ch = channel(stream, 65536)
    await ch.read()
    await ch.write({ have: true, size: 5, chunks: new Uint8Array([1, 0]), port: 7000, ticket: 't', uploads: 0 })
    await ch.close()
  })
  await liar.handle(BLOB_PROTOCOL, async (stream: Stream) => {
    const ch = channel(stream, 65536)
    await ch.read()
    await ch.write({ have: true, size: -1, port: 'x', ticket: 7 })
    await ch.close()
  })
  for (const h of [holder, oneShot, liar, fellow]) await asker.dial(h.getMultiaddrs()[0] as never)
})

after(async () => {
  await Promise.all([asker, holder, oneShot, liar, fellow].map(async h => { await h.stop() }))
})

test('twenty questions to one peer travel on one stream, and each gets its own answer', async () => {
  const sessions = new AvailabilitySessions(asker)
  let streams = 0
  for (let i = 0; i < 20; i++) {
    const answer = await sessions.ask(holder.peerId, i % 2 === 0 ? held : absent)
    if (i % 2 === 0) {
      assert.equal(answer?.size, 100)
      assert.equal(answer?.chunks, null)
      assert.equal(answer?.uploads, 2)
      assert.equal(answer?.url, 'http://127.0.0.1:7682', 'the data plane is on the address of the libp2p connection')
      assert.equal(answer?.ticket, `ticket-for-${asker.peerId.toString().slice(-6)}`, 'the ticket is issued to the asking peer')
    } else {
      assert.equal(answer, undefined)
    }
    streams = Math.max(streams, asker.getConnections(holder.peerId).flatMap(c => c.streams).filter(s => s.protocol === BLOB_PROTOCOL).length)
  }
  assert.equal(streams, 1, 'one availability stream, reused')
  sessions.close()
})

test('a peer that answers one question per stream is asked again on a fresh one', async () => {
  const sessions = new AvailabilitySessions(asker)
  for (let i = 0; i < 3; i++) {
    const answer = await sessions.ask(oneShot.peerId, held)
    assert.deepEqual(answer?.chunks, new Uint8Array([1, 0]))
    await new Promise(resolve => setTimeout(resolve, 20)) // let its close arrive
  }
  sessions.close()
})

test('a malformed answer is refused as an IntegrityError', async () => {
  const sessions = new AvailabilitySessions(asker)
  await assert.rejects(sessions.ask(liar.peerId, held), (err: Error) => err.name === 'IntegrityError')
  sessions.close()
})

test('asked with watch, a peer fetching the blob too tells of each chunk it verifies, then of the whole; questions keep their own answers', async () => {
  const notices: Array<{ peer: string, chunk: number | null }> = []
  let heard: () => void = () => {}
  const sessions = new AvailabilitySessions(asker, (peer, notice: BlobNotice) => {
    assert.ok(notice.cid.equals(fetching))
    notices.push({ peer: peer.toString(), chunk: notice.chunk })
    heard()
  })
  const until = async (count: number): Promise<void> => {
    while (notices.length < count) await new Promise<void>(resolve => { heard = resolve; setTimeout(resolve, 2_000) })
  }
  // Without watch: an answer, and nothing after it.
  const plain = await sessions.ask(fellow.peerId, fetching)
  assert.deepEqual(plain?.chunks, new Uint8Array([1, 0, 0, 0]))
  assert.equal(plain?.watching, false)
  progress.emit('chunk', 1)
  await new Promise(resolve => setTimeout(resolve, 200))
  assert.deepEqual(notices, [], 'no notice without watch')

  const answer = await sessions.ask(fellow.peerId, fetching, undefined, true)
  assert.deepEqual(answer?.chunks, new Uint8Array([1, 1, 0, 0]))
  assert.equal(answer?.watching, true, 'the answer says notices will follow')
  assert.equal((await sessions.ask(holder.peerId, held, undefined, true))?.watching, false, 'a whole holder has nothing to tell')
  progress.emit('chunk', 2)
  await until(1)
  // A question between notices gets its own answer, on the same stream.
  assert.equal(await sessions.ask(fellow.peerId, held), undefined)
  progress.emit('chunk', 3)
  progress.emit('done')
  await until(3)
  progress.emit('chunk', 0) // after the whole blob: nobody is told any more
  await new Promise(resolve => setTimeout(resolve, 200))
  const peer = fellow.peerId.toString()
  assert.deepEqual(notices, [{ peer, chunk: 2 }, { peer, chunk: 3 }, { peer, chunk: null }])
  assert.equal(watches, 0, 'the watch ended with the download')
  const streams = asker.getConnections(fellow.peerId).flatMap(c => c.streams).filter(s => s.protocol === BLOB_PROTOCOL).length
  assert.equal(streams, 1, 'answers and notices shared one stream')
  sessions.close()
})

test('a peer fetching the blob says whether it knows a whole holder (unsourced); a whole holder never says so', async () => {
  const sessions = new AvailabilitySessions(asker)
  try {
    fellowUnsourced = true
    assert.equal((await sessions.ask(fellow.peerId, fetching))?.unsourced, true)
    fellowUnsourced = false
    assert.equal((await sessions.ask(fellow.peerId, fetching))?.unsourced, false)
    assert.equal((await sessions.ask(holder.peerId, held))?.unsourced, false)
  } finally {
    fellowUnsourced = false
    sessions.close()
  }
})

test('a watch ends with its session: the peer stops listening to its download', async () => {
  fellowChunks.set([1, 0, 0, 0])
  const sessions = new AvailabilitySessions(asker)
  await sessions.ask(fellow.peerId, fetching, undefined, true)
  assert.equal(watches, 1)
  sessions.close()
  const deadline = Date.now() + 5_000
  while (watches > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  assert.equal(watches, 0)
})
