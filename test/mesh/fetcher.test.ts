/**
 * The fetcher in process (src/mesh/fetcher.ts): two real meshes on loopback, each on its own store.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { Mesh } from '../../src/mesh/mesh.ts'
import { Repo } from '../../src/node/repo.ts'
import { tempDir } from '../utils/home.ts'

async function mesh (repo: Repo, bootstrap: string[]): Promise<Mesh> {
  return await Mesh.start(repo, { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, mdns: false, dataPlane: { host: '127.0.0.1', port: 0 }, replicate: 'on-demand' })
}

test('a blob counts as fetched from peers by the time it is published', async () => {
  const { dir, cleanup } = await tempDir('mirrormesh-fetcher-')
  const [holderRepo, fetcherRepo] = await Promise.all([Repo.open(join(dir, 'holder')), Repo.open(join(dir, 'fetcher'))])
  const meshes: Mesh[] = []
  try {
    const bytes = randomBytes(1 << 20)
    const { cid, size } = await holderRepo.blobs.put(Readable.from([bytes]))
    const holder = await mesh(holderRepo, [])
    meshes.push(holder)
    const fetcher = await mesh(fetcherRepo, holder.host.getMultiaddrs().map(String))
    meshes.push(fetcher)
    const download = fetcher.fetcher.fetch(cid, { size })
    // A status read while the blob is being published (or right after) sees its bytes counted:
    // the fleet harness reads byte counters once every node holds its payload.
    const atDone = await new Promise<number>((resolve, reject) => {
      download.once('done', () => resolve(fetcher.fetcher.bytesFetched))
      download.once('failed', reject)
    })
    assert.equal(atDone, size)
    assert.equal(await fetcherRepo.blobs.has(cid), true)
    assert.equal(holder.status().bytesServedToPeers, size)
  } finally {
    for (const m of meshes.reverse()) await m.stop()
    await Promise.all([holderRepo.close(), fetcherRepo.close()])
    await cleanup()
  }
})

test('a search that finds no peer with the blob says so (sourceless), and the download goes on to fetch it once a peer has it', async () => {
  const { dir, cleanup } = await tempDir('mirrormesh-fetcher-')
  const [holderRepo, fetcherRepo, spareRepo] = await Promise.all(['holder', 'fetcher', 'spare'].map(async name => await Repo.open(join(dir, name))))
  const meshes: Mesh[] = []
  try {
    const bytes = randomBytes(300_000)
    // Stored elsewhere first, only to learn its CID; the holder gets it later.
    const { cid, size } = await spareRepo!.blobs.put(Readable.from([bytes]))
    const holder = await mesh(holderRepo!, [])
    meshes.push(holder)
    const fetcher = await mesh(fetcherRepo!, holder.host.getMultiaddrs().map(String))
    meshes.push(fetcher)
    const download = fetcher.fetcher.fetch(cid, { size })
    const failed = new Promise<never>((_resolve, reject) => download.once('failed', reject))
    await Promise.race([new Promise<void>(resolve => download.once('sourceless', resolve)), failed])
    assert.equal(download.state, 'running', 'no source is not a failure')
    await holderRepo!.blobs.put(Readable.from([bytes]))
    await Promise.race([download.finished, failed])
    assert.equal(await fetcherRepo!.blobs.has(cid), true)
    assert.equal(fetcher.fetcher.bytesFetched, size)
  } finally {
    for (const m of meshes.reverse()) await m.stop()
    await Promise.all([holderRepo, fetcherRepo, spareRepo].map(async r => await r!.close()))
    await cleanup()
  }
})
