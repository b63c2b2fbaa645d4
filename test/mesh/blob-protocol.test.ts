/**
 * Availability over libp2p (src/mesh/blob-protocol.ts): questions share one stream per peer; a
 * peer that answers one question per stream (the protocol's first form) is still understood; a
 * malformed answer is an IntegrityError, not a crash.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { AvailabilitySessions, handleBlobProtocol } from '../../src/mesh/blob-protocol.ts'
import { createHost, type Host } from '../../src/mesh/host.ts'
import { BLOB_PROTOCOL } from '../../src/mesh/protocols.ts'
import { channel } from '../../src/mesh/wire.ts'
import { cidFromSha256Hex } from '../../src/store/cid.ts'

const held = cidFromSha256Hex('a'.repeat(64))
const absent = cidFromSha256Hex('b'.repeat(64))
let asker: Host
let holder: Host
let oneShot: Host
let liar: Host

async function host (): Promise<Host> {
  return await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false })
}

before(async () => {
  [asker, holder, oneShot, liar] = await Promise.all([host(), host(), host(), host()])
  await handleBlobProtocol(holder, async cid => cid.equals(held) ? { size: 100, chunks: null } : undefined, (_cid, peer) => `ticket-for-${peer.toString().slice(-6)}`, { port: 7682, uploads: 2 })
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
  for (const h of [holder, oneShot, liar]) await asker.dial(h.getMultiaddrs()[0] as never)
})

after(async () => {
  await Promise.all([asker, holder, oneShot, liar].map(async h => { await h.stop() }))
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
