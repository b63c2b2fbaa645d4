/**
 * The replicator's policies: the on-demand cache quota (least recently used unpinned blobs go first,
 * and are withdrawn from the DHT), and the full policy's workers, which park downloads no peer can
 * serve yet.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { Repo } from '../../src/node/repo.ts'
import { PARKED, Replicator, WORKERS } from '../../src/mesh/replicator.ts'
import { createBundle } from '../../src/bundle/create.ts'
import { importBundle } from '../../src/bundle/import.ts'
import type { ContentRouter } from '../../src/mesh/interface.ts'
import { cidOfBytes, type CID } from '../../src/store/cid.ts'
import type { Download } from '../../src/mesh/download.ts'
import { newKey, tempDir, trustIn, writeCrates } from '../utils/home.ts'

/** An in-memory ContentRouter that records what was provided and withdrawn. */
class RecordingRouter implements ContentRouter {
  readonly provided = new Set<string>()
  readonly withdrawn = new Set<string>()
  async start (): Promise<void> {}
  async stop (): Promise<void> {}
  provide (cids: CID[]): void { for (const c of cids) this.provided.add(c.toString()) }
  withdraw (cids: CID[]): void { for (const c of cids) { this.withdrawn.add(c.toString()); this.provided.delete(c.toString()) } }
  async * findProviders (): AsyncIterable<PeerId> {}
  knownPeers (): number { return 0 }
  async flush (): Promise<void> {}
}

test('past the quota, the least recently used unpinned blobs are evicted and withdrawn; pinned ones stay', async () => {
  const { dir, cleanup } = await tempDir()
  const repo = await Repo.open(join(dir, 'home'))
  try {
    const blobs = Array.from({ length: 5 }, (_, i) => Buffer.alloc(100_000, i + 1))
    const cids = blobs.map(b => cidOfBytes(b))
    for (const bytes of blobs) await repo.blobs.put(Readable.from([bytes]))
    await repo.db.pins.put(cids[0]!.toString(), { since: 0 }) // imported: never evicted
    const router = new RecordingRouter()
    const replicator = new Replicator(repo, { fetch: () => { throw new Error('unused') }, downloads: new Map<string, Download>() }, router, { policy: 'on-demand', quotaBytes: 250_000 })
    // Use order: 4 most recent, then 3; 1 and 2 were used long ago (no record: their file times).
    replicator.touch(cids[3]!)
    await new Promise(resolve => setTimeout(resolve, 5))
    replicator.touch(cids[4]!)
    replicator.start()
    await replicator.idle()
    assert.deepEqual([...router.provided].sort(), [...cids].map(String).filter(c => !router.withdrawn.has(c)).sort(), 'held blobs were announced')
    const held = await Promise.all(cids.map(async c => await repo.blobs.has(c)))
    assert.deepEqual(held, [true, false, false, true, true], 'pinned 0 kept; 1 and 2 evicted; recent 3 and 4 kept (4 unpinned × 100 kB > 250 kB)')
    assert.deepEqual([...router.withdrawn].sort(), [cids[1]!, cids[2]!].map(String).sort())
    assert.equal(replicator.status().evicted, 2)
    await replicator.stop()
    const audit = []
    for await (const e of repo.auditLog()) audit.push(e.event)
    assert.deepEqual(audit, ['evict'])
  } finally {
    await repo.close()
    await cleanup()
  }
})

/** A download the test settles by hand, and tells when a search found no source. */
class HandDownload extends EventEmitter<{ sourceless: [] }> {
  readonly cid: string
  readonly finished: Promise<void>
  end: (err?: Error) => void = () => {}
  constructor (cid: string) {
    super()
    this.cid = cid
    this.finished = new Promise<void>((resolve, reject) => { this.end = err => { if (err === undefined) resolve(); else reject(err) } })
  }
}

test('full policy: a download no peer can serve yet is parked, and its worker takes the next blob; at most PARKED at once', async () => {
  const { dir, cleanup } = await tempDir()
  const key = await newKey(join(dir, 'pub.key'))
  const count = WORKERS + PARKED + 4
  await writeCrates(join(dir, 'crates'), 'parked', count)
  const publisher = await Repo.open(join(dir, 'publisher'))
  await createBundle(publisher, { key, out: join(dir, 'b.mmb'), crates: join(dir, 'crates') })
  await publisher.close()
  await trustIn(join(dir, 'home'), key.publisher)
  const repo = await Repo.open(join(dir, 'home'))
  const started: HandDownload[] = []
  const replicator = new Replicator(repo, {
    fetch: (cid: CID) => { const d = new HandDownload(cid.toString()); started.push(d); return d as unknown as Download },
    downloads: new Map<string, Download>()
  }, new RecordingRouter(), { policy: 'full', self: 'test' })
  try {
    await importBundle(repo, join(dir, 'b.mmb'))
    // The catalog's blobs, not held: every one is for the replicator to fetch.
    for await (const { file } of repo.blobs.list()) await rm(file)
    replicator.start()
    // The pass reads the store and the catalog first: wait for what it should start, and give it
    // time to start more where it should not.
    const settle = async (): Promise<void> => await new Promise(resolve => setTimeout(resolve, 50))
    const reach = async (n: number): Promise<void> => { for (let ms = 0; started.length < n && ms < 10_000; ms += 5) await new Promise(resolve => setTimeout(resolve, 5)) }
    await reach(WORKERS)
    await settle()
    assert.equal(started.length, WORKERS, 'one download per worker')
    // Sourceless, one after another: each parks, and its worker starts the next blob.
    for (let parked = 0; parked < PARKED; parked++) {
      started[started.length - WORKERS]!.emit('sourceless')
      await reach(WORKERS + parked + 1)
      assert.equal(started.length, WORKERS + parked + 1, `parked ${String(parked + 1)}: another download started`)
    }
    // Every place taken: a worker whose download finds no source keeps it.
    for (const d of started.slice(-WORKERS)) d.emit('sourceless')
    await settle()
    assert.equal(started.length, WORKERS + PARKED, 'no more than PARKED parked downloads')
    // A parked download ends (it found a source after all): its place frees, not a worker.
    started[0]!.end()
    await settle()
    assert.equal(started.length, WORKERS + PARKED, 'a parked download that ends starts nothing by itself')
    started.at(-1)!.emit('sourceless')
    await reach(WORKERS + PARKED + 1)
    assert.equal(started.length, WORKERS + PARKED + 1, 'the freed place parks the next sourceless download')
    // The pass ends once every download, parked or not, has ended; a failed one is not held.
    let idle = false
    void replicator.idle().then(() => { idle = true })
    started[1]!.end(new Error('no peer could provide it'))
    for (let ended = 2; ended < count - 1; ended++) {
      await reach(ended + 1)
      started[ended]!.end()
    }
    await settle()
    assert.equal(started.length, count, 'every missing blob was fetched, once')
    assert.equal(new Set(started.map(d => d.cid)).size, count)
    assert.equal(idle, false, 'the pass waits for its last download')
    started.at(-1)!.end()
    await replicator.idle()
    assert.equal(replicator.status().held, count - 1, 'held: every download but the failed one')
  } finally {
    for (const d of started) d.end()
    await replicator.stop()
    await repo.close()
    await cleanup()
  }
})
