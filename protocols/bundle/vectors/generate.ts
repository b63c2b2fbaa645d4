/**
 * Regenerates the protocol test vectors (heads, catalog nodes, a minimal bundle) from a fixed key
 * seed and fixed times: `node protocols/bundle/vectors/generate.ts`. Ed25519 signatures are
 * deterministic, so the same inputs give the same vectors.
 */
import { writeFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ed from '@noble/ed25519'
import { encodeNode } from '../../../src/catalog/node.ts'
import { MemoryNodeStore } from '../../../src/catalog/node-store.ts'
import { updateTree, nodesOf } from '../../../src/catalog/tree.ts'
import { writeBundle } from '../../../src/bundle/writer.ts'
import { cidOfBytes, parseCid } from '../../../src/store/cid.ts'
import { signHead } from '../../../src/trust/head.ts'
import { CHUNK_SIZE, chunksOfBytes } from '../../../src/store/hash.ts'
import type { CatalogEntry } from '../../../src/catalog/interface.ts'

const here = new URL('.', import.meta.url).pathname
const protocols = join(here, '..', '..')
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

const seed = new Uint8Array(32).fill(7)
const key = { secretKey: seed, publicKey: await ed.getPublicKeyAsync(seed) }

// Catalog: an index file (meta), a crate (blob), and a 9 MiB blob with chunk digests.
const index = Buffer.from('{"name":"demo","vers":"1.0.0","deps":[],"cksum":"X","features":{},"yanked":false}\n')
const crate = Buffer.from('not really a crate, but bytes are bytes')
const big = Buffer.alloc(9 << 20, 0x61)
const file = (bytes: Uint8Array, kind: 'meta' | 'blob'): CatalogEntry => {
  const chunks = chunksOfBytes(bytes)
  return chunks === undefined ? { kind, cid: cidOfBytes(bytes), size: bytes.length, mtime: 1700000000000 } : { kind, cid: cidOfBytes(bytes), size: bytes.length, mtime: 1700000000000, chunks }
}
const store = new MemoryNodeStore()
const root = await updateTree(store, undefined, [
  ['cargo/index/de/mo/demo', file(index, 'meta')],
  ['cargo/crates/demo/1.0.0', file(crate, 'blob')],
  ['homebrew/bottles/big-1.0.arm64_sequoia.bottle.tar.gz', file(big, 'blob')]
])
const nodes = []
for await (const cid of nodesOf(store, root)) nodes.push({ cid: cid.toString(), hex: hex(await store.get(cid)) })

const h1 = await signHead({ seq: 1, parent: null, root: root ?? null, time: 1700000000000 }, key)
const h2 = await signHead({ seq: 2, parent: h1.cid, root: root ?? null, time: 1700000001000 }, key)
const tampered = Uint8Array.from(h1.bytes)
tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 1

await writeFile(join(protocols, 'head', 'vectors.json'), JSON.stringify({
  keySeedHex: hex(seed),
  publisher: h1.publisher,
  valid: [h1, h2].map(h => ({ signedHeadHex: hex(h.bytes), cid: h.cid.toString(), publisher: h.publisher, seq: h.seq, parent: h.parent?.toString() ?? null, root: h.root?.toString() ?? null, time: h.time })),
  invalid: [{ signedHeadHex: hex(tampered), error: 'SignatureError', why: 'last signature byte flipped' }]
}, null, 2) + '\n')

const single = encodeNode({ entries: new Map([['demo', { file: file(crate, 'blob') }]]) })
await writeFile(join(protocols, 'catalog', 'vectors.json'), JSON.stringify({
  chunkSize: CHUNK_SIZE,
  root: root?.toString(),
  nodes,
  paths: { 'cargo/crates/demo/1.0.0': cidOfBytes(crate).toString(), 'cargo/index/de/mo/demo': cidOfBytes(index).toString(), 'homebrew/bottles/big-1.0.arm64_sequoia.bottle.tar.gz': cidOfBytes(big).toString() },
  bigChunks: hex(chunksOfBytes(big) ?? new Uint8Array()),
  singleNode: { hex: hex(single.bytes), cid: single.cid.toString(), entries: { demo: { kind: 'blob', cid: cidOfBytes(crate).toString(), size: crate.length, mtime: 1700000000000 } } }
}, null, 2) + '\n')

const dir = await mkdtemp(join(tmpdir(), 'vectors-'))
try {
  const blobs = [
    { cid: cidOfBytes(index), size: index.length, compress: true, source: { bytes: index } },
    { cid: cidOfBytes(crate), size: crate.length, compress: false, source: { bytes: crate } }
  ]
  const bundleNodes = nodes.map(n => ({ cid: parseCid(n.cid), bytes: Buffer.from(n.hex, 'hex') }))
  await writeBundle(join(here, 'minimal.mmb'), { head: h1, base: null, nodes: bundleNodes, blobs })
  await writeFile(join(here, 'minimal.json'), JSON.stringify({
    publisher: h1.publisher, seq: 1, head: h1.cid.toString(), root: root?.toString(), base: null,
    nodes: nodes.map(n => n.cid),
    blobs: blobs.map(b => b.cid.toString()),
    notCarried: [cidOfBytes(big).toString()],
    note: 'the 9 MiB blob is referenced but not carried: a partial bundle, as an on-demand node exports'
  }, null, 2) + '\n')
} finally {
  await rm(dir, { recursive: true, force: true })
}
console.log('vectors written')
