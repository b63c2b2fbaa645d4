import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MemoryDraft } from '../../src/catalog/draft.ts'
import { addCargoIndex, addCrates } from '../../src/cargo/bundle-input.ts'
import { readCrateFile } from '../../src/cargo/crate-file.ts'
import { serializeIndexEntry } from '../../src/cargo/index-entry.ts'
import { crateCatalogPath, indexCatalogPath } from '../../src/cargo/index-path.ts'
import { sha256Hex } from '../../src/store/cid.ts'
import { manifestOf, sha256File, tempDir, writeCrate } from '../utils/cargo-fixtures.ts'

async function crate (dir: string, name: string, version: string, body = ''): Promise<string> {
  const file = join(dir, `${name}-${version}.crate`)
  await writeCrate(file, `${name}-${version}`, manifestOf(name, version), { 'src/lib.rs': body })
  return file
}

async function indexText (draft: MemoryDraft, name: string): Promise<string | undefined> {
  const bytes = await draft.read(indexCatalogPath(name))
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8')
}

async function generatedLine (file: string): Promise<string> {
  return serializeIndexEntry((await readCrateFile(file)).entry)
}

test('addCrates: blobs at cargo/crates/{name}/{version}, index lines in semver order, progress reported', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    await mkdir(join(dir, 'nested', 'deeper'), { recursive: true })
    const files = [
      await crate(dir, 'demo', '1.10.0'),
      await crate(join(dir, 'nested'), 'demo', '1.2.0'),
      await crate(join(dir, 'nested', 'deeper'), 'demo', '1.2.0-rc.1'),
      await crate(dir, 'Upper_Case', '0.1.0')
    ]
    await writeFile(join(dir, 'README.md'), 'not a crate')
    const draft = new MemoryDraft()
    const progress: Array<[number, number]> = []
    const result = await addCrates(dir, draft, { onProgress: (done, total) => progress.push([done, total]) })
    assert.deepEqual(result, { crates: 4, indexFiles: 2 })
    assert.deepEqual(progress, [[1, 4], [2, 4], [3, 4], [4, 4]])

    for (const file of files) {
      const info = await readCrateFile(file)
      const entry = await draft.get(crateCatalogPath(info.name, info.vers))
      assert.ok(entry, `${file} stored`)
      assert.equal(entry.kind, 'blob')
      assert.equal(sha256Hex(entry.cid), await sha256File(file))
      assert.equal(entry.size, info.size)
    }
    const index = await draft.get(indexCatalogPath('demo'))
    assert.equal(index?.kind, 'meta')
    const [v110, v120, rc] = await Promise.all(files.slice(0, 3).map(generatedLine))
    assert.equal(await indexText(draft, 'demo'), `${rc}\n${v120}\n${v110}\n`)
    assert.equal(await indexText(draft, 'upper_case'), `${await generatedLine(files[3] ?? '')}\n`)
    assert.ok(await draft.get('cargo/crates/Upper_Case/0.1.0'), 'the blob keeps the original case')
    assert.ok(await draft.get('cargo/index/up/pe/upper_case'), 'the index path is lowercase')
  } finally {
    await cleanup()
  }
})

test('addCrates keeps existing lines byte-identical and in order, appends new versions', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    const old = await crate(dir, 'demo', '1.0.0')
    await crate(dir, 'demo', '0.5.0')
    const draft = new MemoryDraft()
    await draft.put(crateCatalogPath('demo', '1.0.0'), 'blob', { file: old })
    // An upstream line for 1.0.0 (different formatting, extra field) and one for a version absent here.
    const upstream1 = `{"name":"demo","vers":"1.0.0","deps":[],"cksum":"${await sha256File(old)}","features":{},"yanked":true,"pubtime":"2020-01-01T00:00:00Z"}`
    const upstream2 = `{"name":"demo","vers":"2.0.0","deps":[],"cksum":"${'ab'.repeat(32)}","features":{},"yanked":false}`
    await draft.put(indexCatalogPath('demo'), 'meta', { bytes: Buffer.from(`${upstream2}\n${upstream1}\n`) })
    const result = await addCrates(dir, draft)
    assert.deepEqual(result, { crates: 2, indexFiles: 1 })
    assert.equal(await indexText(draft, 'demo'), `${upstream2}\n${upstream1}\n${await generatedLine(join(dir, 'demo-0.5.0.crate'))}\n`)
  } finally {
    await cleanup()
  }
})

test('addCrates twice changes nothing the second time', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    await crate(dir, 'demo', '1.0.0')
    const puts: string[] = []
    const draft = new class extends MemoryDraft {
      override async put (...args: Parameters<MemoryDraft['put']>): ReturnType<MemoryDraft['put']> {
        puts.push(args[0])
        return await super.put(...args)
      }
    }()
    await addCrates(dir, draft)
    assert.deepEqual(puts, [crateCatalogPath('demo', '1.0.0'), indexCatalogPath('demo')])
    assert.deepEqual(await addCrates(dir, draft), { crates: 1, indexFiles: 0 })
    assert.equal(puts.length, 2, 'no blob or index file written again')
  } finally {
    await cleanup()
  }
})

test('addCrates: the same file twice counts once; the same version with other bytes is refused', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    const file = await crate(dir, 'demo', '1.0.0')
    await mkdir(join(dir, 'copy'))
    await copyFile(file, join(dir, 'copy', 'demo-1.0.0.crate'))
    assert.deepEqual(await addCrates(dir, new MemoryDraft()), { crates: 1, indexFiles: 1 })
    await mkdir(join(dir, 'other'))
    await crate(join(dir, 'other'), 'demo', '1.0.0', 'different bytes')
    await assert.rejects(addCrates(dir, new MemoryDraft()), (err: Error) => err.name === 'BundleInputError' && /never changes/.test(err.message))
  } finally {
    await cleanup()
  }
})

test('addCrates refuses a version whose existing index line or blob has another cksum', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    await crate(dir, 'demo', '1.0.0')
    const lineOnly = new MemoryDraft()
    const other = `{"name":"demo","vers":"1.0.0","deps":[],"cksum":"${'cd'.repeat(32)}","features":{},"yanked":false}\n`
    await lineOnly.put(indexCatalogPath('demo'), 'meta', { bytes: Buffer.from(other) })
    await assert.rejects(addCrates(dir, lineOnly), (err: Error) => err.name === 'BundleInputError' && err.message.includes('cd'.repeat(32)))
    // Build metadata does not make another version (crates.io `num_no_build`).
    const withBuild = new MemoryDraft()
    await withBuild.put(indexCatalogPath('demo'), 'meta', { bytes: Buffer.from(other.replace('"1.0.0"', '"1.0.0+old"')) })
    await assert.rejects(addCrates(dir, withBuild), { name: 'BundleInputError' })

    const blobOnly = new MemoryDraft()
    await blobOnly.put(crateCatalogPath('demo', '1.0.0'), 'blob', { bytes: Buffer.from('other bytes') })
    await assert.rejects(addCrates(dir, blobOnly), { name: 'BundleInputError' })

    const caseClash = new MemoryDraft()
    await caseClash.put(indexCatalogPath('demo'), 'meta', { bytes: Buffer.from(other.replace('"demo"', '"Demo"').replace('"1.0.0"', '"0.1.0"')) })
    await assert.rejects(addCrates(dir, caseClash), (err: Error) => err.name === 'BundleInputError' && /spelled one way/.test(err.message))
  } finally {
    await cleanup()
  }
})

test('addCrates stops when aborted and on a bad crate', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    await crate(dir, 'demo', '1.0.0')
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(addCrates(dir, new MemoryDraft(), { signal: controller.signal }), { name: 'AbortError' })
    await writeFile(join(dir, 'broken-0.1.0.crate'), 'not gzip')
    await assert.rejects(addCrates(dir, new MemoryDraft()), (err: Error) => err.name === 'BundleInputError' && err.message.includes('broken-0.1.0.crate'))
  } finally {
    await cleanup()
  }
})

async function upstreamTree (root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(join(root, rel, '..'), { recursive: true })
    await writeFile(join(root, rel), text)
  }
}

test('addCargoIndex carries upstream lines byte-identical, only for blobs present; upstream wins', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    const crates = join(dir, 'crates')
    await mkdir(crates)
    const v1 = await crate(crates, 'demo', '1.0.0')
    const v11 = await crate(crates, 'demo', '1.1.0')
    const v12 = await crate(crates, 'demo', '1.2.0')
    const draft = new MemoryDraft()
    await addCrates(crates, draft)

    const up09 = `{"name":"demo","vers":"0.9.0","deps":[],"cksum":"${'11'.repeat(32)}","features":{},"yanked":false}`
    const up10 = `{"name":"demo","vers":"1.0.0","deps":[],"cksum":"${await sha256File(v1)}","features":{"x":[]},"yanked":false,"pubtime":"2021-01-01T00:00:00Z"}`
    const up11 = `{"vers":"1.1.0","name":"demo","deps":[ ],"cksum":"${await sha256File(v11)}","features":{},"yanked":true}`
    const index = join(dir, 'index')
    await upstreamTree(index, {
      'config.json': '{"dl":"https://static.crates.io/crates","api":"https://crates.io"}',
      '.git/HEAD': 'ref: refs/heads/master',
      '.git/objects/de/mo': 'not an index file',
      'README.md': '# index',
      'de/mo/demo': `${up09}\n${up11}\n${up10}\n`,
      'ot/he/other': `{"name":"other","vers":"1.0.0","deps":[],"cksum":"${'22'.repeat(32)}","features":{},"yanked":false}\n\n{"name":"other","vers":"1.0.1"}\n`,
      '3/a/abc': 'malformed lines are not even parsed when no blob of the crate is present\n'
    })
    assert.deepEqual(await addCargoIndex(index, draft), { lines: 2, dropped: 4 })
    // Upstream order first (1.1.0 before 1.0.0, as upstream has it), then the generated 1.2.0.
    assert.equal(await indexText(draft, 'demo'), `${up11}\n${up10}\n${await generatedLine(v12)}\n`)
    assert.equal(await draft.get(indexCatalogPath('other')), undefined, 'no blob, no index file')
    assert.equal(await draft.get('cargo/index/config.json'), undefined)
  } finally {
    await cleanup()
  }
})

test('addCargoIndex refuses a line whose cksum disagrees with the blob, or that sits in the wrong file', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    const crates = join(dir, 'crates')
    await mkdir(crates)
    await crate(crates, 'demo', '1.0.0')
    const draft = new MemoryDraft()
    await addCrates(crates, draft)
    const bad = `{"name":"demo","vers":"1.0.0","deps":[],"cksum":"${'33'.repeat(32)}","features":{},"yanked":false}\n`
    await upstreamTree(join(dir, 'a'), { 'de/mo/demo': bad })
    await assert.rejects(addCargoIndex(join(dir, 'a'), draft), (err: Error) => err.name === 'BundleInputError' && /do not belong together/.test(err.message))
    await upstreamTree(join(dir, 'b'), { 'de/mo/demo': bad.replaceAll('"demo"', '"demon"') })
    await assert.rejects(addCargoIndex(join(dir, 'b'), draft), (err: Error) => err.name === 'BundleInputError' && /demon/.test(err.message))
    await upstreamTree(join(dir, 'c'), { 'de/mo/demo': 'not json\n' })
    await assert.rejects(addCargoIndex(join(dir, 'c'), draft), (err: Error) => err.name === 'BundleInputError' && /line 1/.test(err.message))
    await assert.rejects(addCargoIndex(join(dir, 'missing'), draft), { name: 'BundleInputError' })
  } finally {
    await cleanup()
  }
})
