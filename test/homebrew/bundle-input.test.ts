import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { MemoryDraft } from '../../src/catalog/draft.ts'
import { sha256Hex } from '../../src/store/cid.ts'
import { addHomebrew, type HomebrewProgress } from '../../src/homebrew/bundle-input.ts'
import { bottleManifest, bottleTarGz, fakeSha, formulaV2, jws, packagesPayload, pkg, tempDir, type TestFormula } from './helpers.ts'

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
const urlHash = (url: string): string => createHash('sha256').update(url).digest('hex')

async function put (root: string, rel: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true })
  await writeFile(join(root, rel), bytes)
}

/**
 * A bundle input like one copied from a Mac and brew's cache: real bottle tarballs whose sha256 the
 * generated API files name, in flat, brew and cache-hash file names, plus manifests and a stray file.
 */
async function makeInput (root: string): Promise<{ apiDir: string, bottlesDir: string, formulae: TestFormula[], tarballs: Map<string, Buffer> }> {
  const apiDir = join(root, 'api')
  const bottlesDir = join(root, 'bottles')
  const tarballs = new Map<string, Buffer>()
  const real = async (name: string, pkgVersion: string, tag: string, cellar?: string): Promise<{ tag: string, sha256: string, cellar?: string, size: number }> => {
    const bytes = await bottleTarGz(name, pkgVersion, tag)
    tarballs.set(`${name} ${tag}`, bytes)
    return { tag, sha256: sha(bytes), size: bytes.length, ...(cellar === undefined ? {} : { cellar }) }
  }
  const formulae: TestFormula[] = [
    { name: 'openssl@3', version: '3.5.0', bottles: [await real('openssl@3', '3.5.0', 'arm64_sequoia', '/opt/homebrew/Cellar'), { tag: 'sonoma', sha256: fakeSha('o s') }] },
    { name: 'jq', version: '1.8.2', rebuild: 1, bottles: [await real('jq', '1.8.2', 'arm64_sequoia', ':any'), await real('jq', '1.8.2', 'x86_64_linux')] },
    { name: 'libsigc++', version: '3.6.0', bottles: [await real('libsigc++', '3.6.0', 'x86_64_linux', ':any')] },
    { name: 'imagemagick', version: '7.1.1-47', revision: 1, bottles: [await real('imagemagick', '7.1.1-47_1', 'arm64_sequoia', ':any')] },
    { name: 'ca-certificates', version: '2025-05-20', bottles: [await real('ca-certificates', '2025-05-20', 'all')] }
  ]
  await put(apiDir, 'formula.jws.json', jws(formulae.map(formulaV2)))
  await put(apiDir, 'internal/packages.arm64_sequoia.jws.json', jws(packagesPayload(formulae, 'arm64_sequoia')))
  await put(apiDir, 'cask.jws.json', jws([{ token: 'firefox', version: '141.0' }]))
  await put(apiDir, 'formula_tap_migrations.jws.json', jws({}))

  const t = (key: string): Buffer => tarballs.get(key) ?? Buffer.alloc(0)
  await put(bottlesDir, 'openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz', t('openssl@3 arm64_sequoia'))
  await put(bottlesDir, 'linux/jq-1.8.2.x86_64_linux.bottle.1.tar.gz', t('jq x86_64_linux'))
  await put(bottlesDir, 'libsigc%2B%2B-3.6.0.x86_64_linux.bottle.tar.gz', t('libsigc++ x86_64_linux'))
  await put(bottlesDir, 'imagemagick--7.1.1-47_1.arm64_sequoia.bottle.tar.gz', t('imagemagick arm64_sequoia'))
  await put(bottlesDir, 'ca-certificates-2025-05-20.all.bottle.tar.gz', t('ca-certificates all'))
  // brew's cache: downloads/{sha256 of the URL}--{basename}, for a bottle and its manifest.
  const jqBlob = `https://ghcr.io/v2/homebrew/core/jq/blobs/sha256:${sha(t('jq arm64_sequoia'))}`
  await put(bottlesDir, `downloads/${urlHash(jqBlob)}--jq--1.8.2.arm64_sequoia.bottle.1.tar.gz`, t('jq arm64_sequoia'))
  const jq = formulae[1] as TestFormula
  await put(bottlesDir, `downloads/${urlHash('https://ghcr.io/v2/homebrew/core/jq/manifests/1.8.2-1')}--jq-1.8.2-1.bottle_manifest.json`, JSON.stringify(bottleManifest(jq)))
  await put(bottlesDir, 'manifests/openssl/3/3.5.0.json', JSON.stringify(bottleManifest(formulae[0] as TestFormula)))
  await put(bottlesDir, 'README.txt', 'copied from a Mac\n')
  return { apiDir, bottlesDir, formulae, tarballs }
}

describe('addHomebrew', () => {
  let root = ''
  let cleanup = async (): Promise<void> => {}
  let input: Awaited<ReturnType<typeof makeInput>>

  before(async () => {
    ({ dir: root, cleanup } = await tempDir())
    input = await makeInput(join(root, 'good'))
  })
  after(async () => { await cleanup() })

  it('puts API files, verified bottles and manifests at their catalog paths', async () => {
    const draft = new MemoryDraft()
    const progress: HomebrewProgress[] = []
    const result = await addHomebrew({ apiDir: input.apiDir, bottlesDir: input.bottlesDir, onProgress: p => progress.push(p) }, draft)
    assert.deepEqual(result, { bottles: 6, apiFiles: 4, manifests: 2, skipped: ['README.txt'] })
    assert.deepEqual(draft.changes().map(([path, change]) => `${change?.entry.kind} ${path}`), [
      'meta homebrew/api/cask.jws.json',
      'meta homebrew/api/formula.jws.json',
      'meta homebrew/api/formula_tap_migrations.jws.json',
      'meta homebrew/api/internal/packages.arm64_sequoia.jws.json',
      'blob homebrew/bottles/ca-certificates-2025-05-20.all.bottle.tar.gz',
      'blob homebrew/bottles/imagemagick-7.1.1-47_1.arm64_sequoia.bottle.tar.gz',
      'blob homebrew/bottles/jq-1.8.2.arm64_sequoia.bottle.1.tar.gz',
      'blob homebrew/bottles/jq-1.8.2.x86_64_linux.bottle.1.tar.gz',
      'blob homebrew/bottles/libsigc++-3.6.0.x86_64_linux.bottle.tar.gz',
      'blob homebrew/bottles/openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz',
      'meta homebrew/manifests/jq/1.8.2-1',
      'meta homebrew/manifests/openssl/3/3.5.0'
    ])
    for (const [key, bytes] of input.tarballs) {
      const [name = '', tag = ''] = key.split(' ')
      const f = input.formulae.find(x => x.name === name) as TestFormula
      const flat = `${name}-${pkg(f)}.${tag}.bottle${(f.rebuild ?? 0) > 0 ? `.${f.rebuild ?? 0}` : ''}.tar.gz`
      const entry = await draft.get(`homebrew/bottles/${flat}`)
      assert.equal(entry === undefined ? undefined : sha256Hex(entry.cid), sha(bytes), flat)
      assert.equal(entry?.size, bytes.length)
    }
    for (const rel of ['formula.jws.json', 'internal/packages.arm64_sequoia.jws.json', 'cask.jws.json']) {
      assert.deepEqual(Buffer.from(await draft.read(`homebrew/api/${rel}`) ?? []), await readFile(join(input.apiDir, rel)), rel)
    }
    const manifest = await draft.read('homebrew/manifests/openssl/3/3.5.0')
    assert.deepEqual(Buffer.from(manifest ?? []), await readFile(join(input.bottlesDir, 'manifests/openssl/3/3.5.0.json')))
    assert.deepEqual(progress.filter(p => p.phase === 'bottles').map(p => `${p.done}/${p.total}`), ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6'])
    assert.equal(progress.filter(p => p.phase === 'api').length, 4)
  })

  /** A copy of the good input with `change` applied; returns its directories. */
  async function variant (name: string, change: (dirs: { apiDir: string, bottlesDir: string }) => Promise<void>): Promise<{ apiDir: string, bottlesDir: string }> {
    const dirs = { apiDir: join(root, name, 'api'), bottlesDir: join(root, name, 'bottles') }
    const { cp } = await import('node:fs/promises')
    await cp(join(root, 'good'), join(root, name), { recursive: true })
    await change(dirs)
    return dirs
  }

  it('rejects a bottle whose sha256 is not the API\'s, naming the file and both hashes', async () => {
    const file = 'openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz'
    const dirs = await variant('wrong-sha', async ({ bottlesDir }) => {
      const bytes = await readFile(join(bottlesDir, file))
      bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff
      await writeFile(join(bottlesDir, file), bytes)
    })
    const actual = sha(await readFile(join(dirs.bottlesDir, file)))
    const expected = sha(input.tarballs.get('openssl@3 arm64_sequoia') ?? Buffer.alloc(0))
    await assert.rejects(addHomebrew(dirs, new MemoryDraft()), (err: Error) =>
      err.name === 'BundleInputError' && err.message.includes(join(dirs.bottlesDir, file)) && err.message.includes(actual) && err.message.includes(expected))
  })

  it('rejects a bottle the API does not list', async () => {
    const dirs = await variant('unknown', async ({ bottlesDir }) => {
      await writeFile(join(bottlesDir, 'jq-1.7.1.arm64_sequoia.bottle.tar.gz'), await bottleTarGz('jq', '1.7.1'))
    })
    await assert.rejects(addHomebrew(dirs, new MemoryDraft()), (err: Error) =>
      err.name === 'BundleInputError' && err.message.includes('jq-1.7.1.arm64_sequoia.bottle.tar.gz') && err.message.includes('not listed'))
  })

  it('rejects a bottle name brew would never produce', async () => {
    const dirs = await variant('bad-name', async ({ bottlesDir }) => {
      await writeFile(join(bottlesDir, 'jq-1.8.2.arm64_sequoia.bottle.0.tar.gz'), 'x')
    })
    await assert.rejects(addHomebrew(dirs, new MemoryDraft()), /bottle\.0\.tar\.gz: not a valid bottle file name/)
  })

  it('rejects a malformed JWS API file', async () => {
    const dirs = await variant('bad-jws', async ({ apiDir }) => {
      const text = await readFile(join(apiDir, 'formula.jws.json'), 'utf8')
      await writeFile(join(apiDir, 'formula.jws.json'), text.slice(0, text.length / 2))
    })
    await assert.rejects(addHomebrew(dirs, new MemoryDraft()), (err: Error) =>
      err.name === 'BundleInputError' && err.message.includes(join(dirs.apiDir, 'formula.jws.json')) && err.message.includes('invalid JSON'))
  })

  it('rejects a malformed JWS even in a file that lists no bottles', async () => {
    const dirs = await variant('bad-cask', async ({ apiDir }) => { await writeFile(join(apiDir, 'cask.jws.json'), '{"payload": []}') })
    await assert.rejects(addHomebrew(dirs, new MemoryDraft()), /cask\.jws\.json: not a Homebrew JWS API file/)
  })

  it('rejects a manifest whose bottle digest disagrees with the API', async () => {
    const dirs = await variant('bad-manifest', async ({ bottlesDir }) => {
      const f = input.formulae[0] as TestFormula
      await writeFile(join(bottlesDir, 'manifests/openssl/3/3.5.0.json'), JSON.stringify(bottleManifest(f, { arm64_sequoia: fakeSha('tampered') })))
    })
    await assert.rejects(addHomebrew(dirs, new MemoryDraft()), (err: Error) =>
      err.name === 'BundleInputError' && err.message.includes('manifests/openssl/3/3.5.0.json') && err.message.includes(fakeSha('tampered')))
  })

  it('rejects a manifest stored under the wrong tag or a bad path', async () => {
    const wrongTag = await variant('manifest-tag', async ({ bottlesDir }) => {
      await mkdir(join(bottlesDir, 'manifests/jq'), { recursive: true })
      await writeFile(join(bottlesDir, 'manifests/jq/1.8.2.json'), JSON.stringify(bottleManifest(input.formulae[1] as TestFormula)))
    })
    await assert.rejects(addHomebrew(wrongTag, new MemoryDraft()), /ref\.name is 1\.8\.2-1/)
    const badPath = await variant('manifest-path', async ({ bottlesDir }) => {
      await writeFile(join(bottlesDir, 'manifests/OpenSSL.json'), '{}')
    })
    await assert.rejects(addHomebrew(badPath, new MemoryDraft()), /manifests\/\{image\}\/\{tag\}\.json/)
  })

  it('rejects a missing directory and honours an aborted signal', async () => {
    await assert.rejects(addHomebrew({ apiDir: join(root, 'nope'), bottlesDir: input.bottlesDir }, new MemoryDraft()),
      (err: Error) => err.name === 'BundleInputError' && err.message.includes(join(root, 'nope')))
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(addHomebrew({ ...input, signal: controller.signal }, new MemoryDraft()), { name: 'AbortError' })
  })

  it('takes bottles from brew 6.x API files alone', async () => {
    const dirs = await variant('only-internal', async ({ apiDir, bottlesDir }) => {
      await rm(join(apiDir, 'formula.jws.json'))
      // The 6.x file for arm64_sequoia knows only that tag (and `all`): keep just those bottles.
      for (const rel of ['linux/jq-1.8.2.x86_64_linux.bottle.1.tar.gz', 'libsigc%2B%2B-3.6.0.x86_64_linux.bottle.tar.gz']) await rm(join(bottlesDir, rel))
    })
    const result = await addHomebrew(dirs, new MemoryDraft())
    assert.deepEqual(result, { bottles: 4, apiFiles: 3, manifests: 2, skipped: ['README.txt'] })
  })
})
