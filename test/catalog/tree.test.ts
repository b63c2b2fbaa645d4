import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryNodeStore } from '../../src/catalog/node-store.ts'
import { getEntry, listPrefix, nodesOf, updateTree, walk } from '../../src/catalog/tree.ts'
import { diffTrees } from '../../src/catalog/diff.ts'
import { MAX_ENTRIES, decodeNode, encodeNode } from '../../src/catalog/node.ts'
import { cidOfBytes, DAG_CBOR } from '../../src/store/cid.ts'
import type { CatalogEntry } from '../../src/catalog/interface.ts'

const plain = (e: CatalogEntry | undefined): unknown => e === undefined ? undefined : { ...e, cid: e.cid.toString() }
const leaf = (text: string, kind: 'meta' | 'blob' = 'blob'): CatalogEntry =>
  ({ kind, cid: cidOfBytes(Buffer.from(text)), size: text.length, mtime: 1000 })

test('get, list and walk a small tree', async () => {
  const store = new MemoryNodeStore()
  const root = await updateTree(store, undefined, [
    ['cargo/index/se/rd/serde', leaf('serde-index', 'meta')],
    ['cargo/crates/serde/1.0.0', leaf('serde-1.0.0')],
    ['homebrew/api/formula.jws.json', leaf('formula', 'meta')]
  ])
  assert.ok(root)
  assert.deepEqual(plain(await getEntry(store, root, 'cargo/crates/serde/1.0.0')), plain(leaf('serde-1.0.0')))
  assert.equal(await getEntry(store, root, 'cargo/crates/serde/9.9.9'), undefined)
  assert.equal(await getEntry(store, root, 'cargo/crates'), undefined, 'a directory is not a file')
  const listed = []
  for await (const [path] of listPrefix(store, root, 'cargo/')) listed.push(path)
  assert.deepEqual(listed, ['cargo/crates/serde/1.0.0', 'cargo/index/se/rd/serde'])
  const all = []
  for await (const [path] of walk(store, root)) all.push(path)
  assert.equal(all.length, 3)
})

test('the root is a function of the content, not of the order of updates', async () => {
  const paths = Array.from({ length: MAX_ENTRIES * 3 }, (_, i) => `d/f${i}`)
  const store = new MemoryNodeStore()
  const all = await updateTree(store, undefined, paths.map(p => [p, leaf(p)]))
  let stepwise: ReturnType<typeof updateTree> extends Promise<infer T> ? T : never
  stepwise = await updateTree(store, undefined, paths.slice(0, 10).map(p => [p, leaf(p)]))
  stepwise = await updateTree(store, stepwise, paths.slice(10).reverse().map(p => [p, leaf(p)]))
  assert.equal(all?.toString(), stepwise?.toString(), 'same content, same root')
  // Shrink below the split threshold and back: the collapsed shape must equal a fresh build.
  const shrunk = await updateTree(store, all, paths.slice(5).map(p => [p, null]))
  const fresh = await updateTree(store, undefined, paths.slice(0, 5).map(p => [p, leaf(p)]))
  assert.equal(shrunk?.toString(), fresh?.toString())
  assert.equal(await updateTree(store, fresh, paths.slice(0, 5).map(p => [p, null])), undefined, 'empty catalog')
  for (const p of paths) assert.deepEqual(plain(await getEntry(store, all, p)), plain(leaf(p)))
})

test('diff walks only changed subtrees and lists exactly the new nodes', async () => {
  const store = new MemoryNodeStore()
  const paths = Array.from({ length: 1000 }, (_, i) => `cargo/crates/c${i}/1.0.0`)
  const before = await updateTree(store, undefined, paths.map(p => [p, leaf(p)]))
  const after = await updateTree(store, before, [
    ['cargo/crates/c7/1.0.0', leaf('changed')],
    ['cargo/crates/new/2.0.0', leaf('new')],
    ['cargo/crates/c9/1.0.0', null]
  ])
  const changes = []
  const nodes = []
  for await (const event of diffTrees(store, before, after)) {
    if (event.type === 'change') changes.push([event.path, event.before?.cid.toString(), event.after?.cid.toString()])
    else nodes.push(event.cid.toString())
  }
  assert.deepEqual(changes.map(c => c[0]).sort(), ['cargo/crates/c7/1.0.0', 'cargo/crates/c9/1.0.0', 'cargo/crates/new/2.0.0'])
  const beforeNodes = new Set<string>()
  for await (const cid of nodesOf(store, before)) beforeNodes.add(cid.toString())
  const afterNodes = new Set<string>()
  for await (const cid of nodesOf(store, after)) afterNodes.add(cid.toString())
  const expected = [...afterNodes].filter(c => !beforeNodes.has(c)).sort()
  assert.deepEqual([...new Set(nodes)].sort(), expected)
  assert.ok(nodes.length < afterNodes.size / 10, `diff touched ${nodes.length} of ${afterNodes.size} nodes`)
  // From nothing, the diff is the whole tree.
  let count = 0
  for await (const event of diffTrees(store, undefined, after)) if (event.type === 'change') count++
  assert.equal(count, 1000)
})

test('a node that does not hash to its CID, or has a bad shape, is refused', () => {
  const { bytes, cid } = encodeNode({ entries: new Map([['a', { file: leaf('a') }]]) })
  assert.doesNotThrow(() => decodeNode(bytes, cid))
  const tampered = Uint8Array.from(bytes)
  tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 1
  assert.throws(() => decodeNode(tampered, cid), { name: 'IntegrityError' })
  const evil = encodeNode({ entries: new Map([['..', { file: leaf('a') }]]) })
  assert.throws(() => decodeNode(evil.bytes, evil.cid), { name: 'IntegrityError' })
  const notNode = new Uint8Array([0xa0])
  assert.throws(() => decodeNode(notNode, cidOfBytes(notNode, DAG_CBOR)), { name: 'IntegrityError' })
})
