/** The on-demand cache quota: least recently used unpinned blobs go first, and are withdrawn from the DHT. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { Repo } from '../../src/node/repo.ts'
import { Replicator } from '../../src/mesh/replicator.ts'
import type { ContentRouter } from '../../src/mesh/interface.ts'
import { cidOfBytes, type CID } from '../../src/store/cid.ts'
import type { Download } from '../../src/mesh/download.ts'
import { tempDir } from '../utils/home.ts'

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
