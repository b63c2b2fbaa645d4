/**
 * The sweeping announcer on real libp2p hosts (loopback, one process): batched records land on the
 * K closest peers and are found with plain DHT lookups; withdraw, late joiners, hostile peers; and
 * the wire vectors of protocols/provide decode as the spec says.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { sha256 } from 'multiformats/hashes/sha2'
import type { PeerId, Stream } from '@libp2p/interface'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import { byteStream, lpStream } from '@libp2p/utils'
import { createAnnouncer, type Announcer } from '../../src/mesh/announcer.ts'
import { createHost, type Host } from '../../src/mesh/host.ts'
import { PROVIDE_PROTOCOL } from '../../src/mesh/protocols.ts'
import { cidPoint, closest, peerPoint } from '../../src/mesh/provide/keyspace.ts'
import { decodeRequest, decodeResponse, encodeRequest, MAX_CIDS_PER_MESSAGE, ProvideMessageError, Status } from '../../src/mesh/provide/messages.ts'
import { OrderedMemoryDatastore } from '../../src/mesh/provide/datastore.ts'
import { providerStore } from '../../src/mesh/provide/records.ts'
import { mapLimit } from '../../src/util/map-limit.ts'
import { CID, cidFromSha256 } from '../../src/store/cid.ts'

// Fewer replicas than nodes, so that placement on the K closest (not everyone) is what is tested.
const K = 3
const hosts: Host[] = []
const announcers: Announcer[] = []

async function startNode (bootstrap: Host | undefined, withAnnouncer = true): Promise<{ host: Host, announcer?: Announcer }> {
  const host = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: bootstrap === undefined ? [] : bootstrap.getMultiaddrs().map(String),
    mdns: false
  })
  hosts.push(host)
  if (!withAnnouncer) return { host }
  // A generous exploration budget: CI machines are shared, and a cut-short exploration would
  // (correctly, but unpredictably) place records on a partial view.
  const announcer = createAnnouncer(host, { replicas: K, exploreTimeout: 20_000, catchUpDelay: 300 })
  await announcer.start()
  announcers.push(announcer)
  return { host, announcer }
}

const randomCid = (): CID => cidFromSha256(randomBytes(32))
const all = async <T>(source: AsyncIterable<T> | Iterable<T>): Promise<T[]> => { const out: T[] = []; for await (const item of source) out.push(item); return out }
const holds = async (host: Host, cid: CID, provider: PeerId): Promise<boolean> =>
  (await providerStore(host).getProviders(cid)).some(peer => peer.equals(provider))

/** The hosts among `among` that should hold `cid`'s records: its K closest by XOR distance. */
function expectedHolders (cid: CID, among: Host[]): Set<string> {
  return new Set(closest(cidPoint(cid), among.map(host => ({ host, point: peerPoint(host.peerId) })), K).map(c => c.host.peerId.toString()))
}

async function actualHolders (cid: CID, provider: PeerId): Promise<Set<string>> {
  const out = new Set<string>()
  for (const host of hosts) if (host.status === 'started' && await holds(host, cid, provider)) out.add(host.peerId.toString())
  return out
}

async function finds (announcer: Announcer, cid: CID, provider: PeerId, ms = 10_000): Promise<boolean> {
  for await (const peer of announcer.findProviders(cid, { signal: AbortSignal.timeout(ms) })) if (peer.equals(provider)) return true
  return false
}

async function until (what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

describe('protocols/provide vectors', () => {
  it('decode as the spec says', async () => {
    const vectors = JSON.parse(await readFile(new URL('../../protocols/provide/vectors.json', import.meta.url), 'utf8'))
    assert.equal(vectors.protocol, PROVIDE_PROTOCOL)
    assert.deepEqual(vectors.statuses, Status)
    for (const v of vectors.requests) {
      const bytes = v.repeat === undefined
        ? Buffer.from(v.hex, 'hex')
        : dagCbor.encode({ [v.repeat.field]: Array.from({ length: v.repeat.count }, () => CID.parse(v.repeat.cid).bytes) })
      if (v.valid === true) {
        const request = decodeRequest(bytes)
        assert.deepEqual(request.add.map(String), v.add, v.name)
        assert.deepEqual(request.remove.map(String), v.remove, v.name)
        // Our encoder produces the same bytes for vectors that only use spec fields.
        if (!/unknown|empty/.test(v.name)) assert.equal(Buffer.from(encodeRequest(request)).toString('hex'), v.hex, v.name)
      } else {
        assert.throws(() => decodeRequest(bytes), (err: unknown) => err instanceof ProvideMessageError && err.name === 'ProvideMessageError' && err.status === v.status, v.name)
      }
    }
    for (const v of vectors.responses) {
      assert.deepEqual(decodeResponse(Buffer.from(v.hex, 'hex')), v.error === undefined ? { status: v.status } : { status: v.status, error: v.error }, v.name)
    }
    for (const v of vectors.framed) {
      const framed = Buffer.from(v.hex, 'hex')
      assert.equal(framed[0], framed.length - 1, 'a one-byte varint length prefix')
      assert.equal(framed.subarray(1).toString('hex'), v.body)
      decodeRequest(framed.subarray(1))
    }
  })
})

describe('keyspace', () => {
  it('orders peers by XOR distance of sha256 keys, as kad-dht does', async () => {
    const peers = await Promise.all(Array.from({ length: 40 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    for (let round = 0; round < 20; round++) {
      const cid = randomCid()
      const target = cidPoint(cid)
      assert.equal(Buffer.from(target.key).toString('hex'), Buffer.from((await sha256.digest(cid.multihash.bytes)).digest).toString('hex'))
      const big = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString('hex')}`)
      const brute = [...peers].sort((x, y) => {
        const dx = big(target.key) ^ big(peerPoint(x).key)
        const dy = big(target.key) ^ big(peerPoint(y).key)
        return dx < dy ? -1 : dx > dy ? 1 : 0
      }).slice(0, 8).map(String)
      assert.deepEqual(closest(target, peers.map(peer => ({ peer, point: peerPoint(peer) })), 8).map(c => c.peer.toString()), brute)
    }
  })
})

describe('OrderedMemoryDatastore', () => {
  it('answers like MemoryDatastore, prefix queries included', async () => {
    const ordered = new OrderedMemoryDatastore()
    const reference = new MemoryDatastore()
    const names = ['/dht/provider/CIQA/p1', '/dht/provider/CIQA/p2', '/dht/provider/CIQAB/p1', '/dht/provider/CIQB/p3', '/peers/x', '/peers/y', '/a', '/dht/providerz']
    for (let i = 0; i < 400; i++) {
      const key = new Key(names[i % names.length] as string)
      if (i % 5 === 3) {
        await ordered.delete(key)
        await reference.delete(key)
      } else {
        await ordered.put(key, new Uint8Array([i & 0xff]))
        await reference.put(key, new Uint8Array([i & 0xff]))
      }
      const prefix = ['/dht/provider/CIQA', '/dht/provider/CIQA/', '/dht/provider', '/peers', '', '/zzz'][i % 6] as string
      const sorted = (pairs: Array<{ key: Key, value: Uint8Array }>): string[] => pairs.map(p => `${p.key.toString()}=${p.value[0]}`).sort()
      assert.deepEqual(sorted(await all(ordered.query({ prefix }))), sorted(await all(reference.query({ prefix }))), prefix)
      assert.deepEqual((await all(ordered.queryKeys({ prefix }))).map(String).sort(), (await all(reference.queryKeys({ prefix }))).map(String).sort())
    }
    await ordered.delete(new Key('/a'))
    assert.throws(() => ordered.get(new Key('/a')), (err: Error) => err.name === 'NotFoundError')
  })
})

describe('announcer on a 7-node loopback mesh', { timeout: 120_000 }, () => {
  const cids = Array.from({ length: 500 }, randomCid)
  const early = Array.from({ length: 100 }, randomCid)
  let a: Announcer
  let aHost: Host

  before(async () => {
    const { host: first } = await startNode(undefined)
    for (let i = 1; i < 7; i++) await startNode(first)
    aHost = hosts[1] as Host
    a = announcers[1] as Announcer
    // What every node does at startup: announce its store before it knows the mesh.
    ;(announcers[6] as Announcer).provide(early)
  })

  after(async () => {
    await Promise.all(announcers.map(async announcer => { await announcer.stop() }))
    await Promise.all(hosts.map(async host => { await host.stop() }))
  })

  it('places 500 CIDs on their K closest peers in one message per peer, found from every node', async () => {
    // Measure placement on a formed mesh (the next test covers announcing before it forms).
    const table = ((hosts[0] as Host).services.dht as unknown as SingleKadDHT).routingTable
    await until('the bootstrap node to know the fleet', async () => table.size >= 6)
    await until('A to know its bootstrap node', async () => a.stats().view >= 1)
    a.provide(cids)
    await a.flush()
    const stats = a.stats()
    assert.equal(stats.view, 6, 'exploration found the whole fleet')
    assert.ok(stats.messagesSent <= 6, `one message per peer, got ${stats.messagesSent}`)
    for (const cid of cids.slice(0, 25)) assert.deepEqual(await actualHolders(cid, aHost.peerId), expectedHolders(cid, hosts), cid.toString())
    const others = announcers.filter(x => x !== a)
    const lookups = others.flatMap(node => cids.slice(100, 110).map(cid => ({ node, cid })))
    await mapLimit(lookups, 6, async ({ node, cid }) => { assert.ok(await finds(node, cid, aHost.peerId), `lookup of ${cid.toString()}`) })
  })

  it('records announced before the mesh formed reach their K closest peers (catch-up)', async () => {
    const provider = (hosts[6] as Host).peerId
    const fleet = hosts.slice(0, 7)
    await until('early records on their K closest peers', async () => {
      for (const cid of early.slice(0, 20)) {
        const actual = await actualHolders(cid, provider)
        if (![...expectedHolders(cid, fleet)].every(peer => actual.has(peer))) return false
      }
      return true
    })
    assert.ok(await finds(announcers[0] as Announcer, early[0] as CID, provider))
  })

  it('withdraw removes the records from their holders and from lookups', async () => {
    const gone = cids.slice(0, 50)
    a.withdraw(gone)
    await a.flush()
    assert.equal(a.stats().held, 450)
    for (const cid of gone.slice(0, 25)) assert.deepEqual(await actualHolders(cid, aHost.peerId), new Set(), cid.toString())
    const others = announcers.filter(x => x !== a)
    await mapLimit(others.flatMap(node => gone.slice(0, 3).map(cid => ({ node, cid }))), 6, async ({ node, cid }) => {
      assert.equal(await finds(node, cid, aHost.peerId, 5000).catch(() => false), false)
    })
  })

  it('a node that joins later receives its share (catch-up) and finds providers', async () => {
    const { host: late, announcer: lateAnnouncer } = await startNode(hosts[2])
    const held = cids.slice(50)
    const mine = held.filter(cid => expectedHolders(cid, hosts).has(late.peerId.toString()))
    assert.ok(mine.length > 0)
    for (const cid of held.slice(0, 10)) assert.ok(await finds(lateAnnouncer as Announcer, cid, aHost.peerId), cid.toString())
    // A learns of the late node when they connect (the lookups above usually did); identify then
    // triggers A's catch-up. Dial explicitly so the test does not depend on the lookup's path.
    await late.dial(aHost.getMultiaddrs())
    await until('catch-up records on the late node', async () => {
      for (const cid of mine) if (!(await holds(late, cid, aHost.peerId))) return false
      return true
    })
  })

  it('ignores hostile peers without crashing', async () => {
    const { host: hostile } = await startNode(hosts[0], false)
    const target = hosts[3] as Host
    const receiver = announcers[3] as Announcer
    const request = async (body: Uint8Array): Promise<number> => {
      const stream = await hostile.dialProtocol(target.getMultiaddrs(), PROVIDE_PROTOCOL)
      const lp = lpStream(stream)
      await lp.write(body)
      const reply = decodeResponse((await lp.read()).subarray())
      await stream.close()
      return reply.status
    }
    const expectReset = async (send: (stream: Stream) => Promise<void>): Promise<void> => {
      const stream = await hostile.dialProtocol(target.getMultiaddrs(), PROVIDE_PROTOCOL)
      await send(stream)
      await assert.rejects(lpStream(stream).read({ signal: AbortSignal.timeout(10_000) }))
    }
    const good = randomCid()
    const other = randomCid()

    assert.equal(await request(new Uint8Array([0xff, 0x00])), Status.INVALID, 'garbage')
    assert.equal(await request(dagCbor.encode({ add: [good.bytes, new Uint8Array([1, 2, 3])] })), Status.INVALID, 'one bad CID')
    assert.equal(await holds(target, good, hostile.peerId), false, 'a rejected request stores nothing')
    assert.equal(await request(dagCbor.encode({ add: Array.from({ length: MAX_CIDS_PER_MESSAGE + 1 }, () => good.bytes) })), Status.TOO_MANY)
    assert.equal(await request(new Uint8Array(200_000).fill(0x81)), Status.INVALID, 'absurd nesting')
    // Oversize: a length prefix of 10 MB is refused before the body is read.
    await expectReset(async stream => { await byteStream(stream).write(new Uint8Array([0x80, 0xad, 0xe2, 0x04])) })
    // Truncated: half a message, then the writer closes.
    await expectReset(async stream => {
      await byteStream(stream).write(new Uint8Array([100, 0xa1, 0x63]))
      await stream.close()
    })
    // Records for another peer: the message cannot name one; they are stored for the sender only.
    assert.equal(await request(dagCbor.encode({ add: [other.bytes], provider: aHost.peerId.toMultihash().bytes })), Status.OK)
    assert.equal(await holds(target, other, hostile.peerId), true)
    assert.equal(await holds(target, other, aHost.peerId), false)

    const inbound = receiver.stats().inbound
    assert.ok(inbound.rejected >= 4 && inbound.reset >= 2, JSON.stringify(inbound))
    assert.ok(hosts.every(host => host.status === 'started'))
    // The receiver still serves honest peers.
    const after = randomCid()
    a.provide([after])
    await a.flush()
    assert.ok(await finds(receiver, after, aHost.peerId))
  })
})

describe('announcer of a node that is fetching', { timeout: 60_000 }, () => {
  const local: { hosts: Host[], announcers: Announcer[] } = { hosts: [], announcers: [] }
  let fetching = true

  after(async () => {
    await Promise.all(local.announcers.map(async announcer => { await announcer.stop() }))
    await Promise.all(local.hosts.map(async host => { await host.stop() }))
  })

  it('gathers new records while the node fetches (up to busySweepDelay), and sweeps once it is idle', async () => {
    const start = async (bootstrap: Host | undefined, options: Parameters<typeof createAnnouncer>[1]): Promise<{ host: Host, announcer: Announcer }> => {
      const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap === undefined ? [] : bootstrap.getMultiaddrs().map(String), mdns: false })
      const announcer = createAnnouncer(host, options)
      await announcer.start()
      local.hosts.push(host)
      local.announcers.push(announcer)
      return { host, announcer }
    }
    const { host: b } = await start(undefined, {})
    const { host: a, announcer } = await start(b, { replicas: 3, sweepDelay: 50, busySweepDelay: 10_000, catchUpDelay: 100, busy: () => fetching })
    await until('A to be connected to B', async () => a.getPeers().length >= 1)

    // Fetching: a record waits, well past the usual debounce, and a peer joining meanwhile (whose
    // catch-up runs the announcer's loop) does not send it either…
    const first = randomCid()
    const provided = Date.now()
    announcer.provide([first])
    const { host: c } = await start(a, {})
    await until('A to know C', async () => announcer.stats().view >= 2)
    await new Promise(resolve => setTimeout(resolve, 1_000))
    assert.ok(Date.now() - provided < 9_000, 'still within busySweepDelay (else the checks below prove nothing)')
    assert.equal(await holds(b, first, a.peerId), false, 'no sweep while fetching, within busySweepDelay')
    assert.equal(await holds(c, first, a.peerId), false, 'nor through the catch-up of a joiner')
    assert.equal(announcer.stats().recordsSent, 0, 'no record sent to anyone')
    // …and goes out once the node is idle.
    fetching = false
    await until('the record on B and C once A is idle', async () => await holds(b, first, a.peerId) && await holds(c, first, a.peerId), 3_000)

    // Still fetching after busySweepDelay: records go out anyway.
    fetching = true
    const second = randomCid()
    const queued = Date.now()
    announcer.provide([second])
    await until('the record on B after busySweepDelay', async () => await holds(b, second, a.peerId), 16_000)
    assert.ok(Date.now() - queued >= 9_900, `swept after ${Date.now() - queued} ms, not before busySweepDelay`)
  })
})
