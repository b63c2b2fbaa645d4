import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { apiFileKind, bottlesFromApiFile, bottlesFromPackages, type ApiBottle } from '../../src/homebrew/api.ts'
import { jwsPayload } from '../../src/homebrew/jws.ts'
import { fakeSha, jws } from './helpers.ts'

const fixtures = new URL('../fixtures/homebrew/api/', import.meta.url)
const read = async (rel: string): Promise<Buffer> => await readFile(new URL(rel, fixtures))
const find = (bottles: ApiBottle[], name: string, tag: string): ApiBottle | undefined => bottles.find(b => b.name === name && b.tag === tag)

describe('formula.jws.json (brew 4.x–5.x)', async () => {
  const bottles = bottlesFromApiFile('formula.jws.json', await read('formula.jws.json')) ?? []

  it('lists one bottle per formula and tag, skipping formulae without bottles', () => {
    assert.equal(bottles.length, 17)
    assert.equal(bottles.filter(b => b.name === 'jq').length, 6)
    assert.equal(bottles.some(b => b.name === 'nobottle'), false)
  })

  it('reads version, revision, rebuild, sha256 and cellar', () => {
    assert.deepEqual(find(bottles, 'jq', 'arm64_tahoe'),
      { name: 'jq', version: '1.8.2', revision: 0, rebuild: 1, tag: 'arm64_tahoe', sha256: fakeSha('jq arm64_tahoe'), cellar: ':any' })
    assert.deepEqual(find(bottles, 'openssl@3', 'arm64_sequoia'),
      { name: 'openssl@3', version: '3.5.0', revision: 0, rebuild: 0, tag: 'arm64_sequoia', sha256: fakeSha('openssl@3 arm64_sequoia'), cellar: '/opt/homebrew/Cellar' })
    assert.deepEqual(find(bottles, 'imagemagick', 'x86_64_linux'),
      { name: 'imagemagick', version: '7.1.1-47', revision: 1, rebuild: 0, tag: 'x86_64_linux', sha256: fakeSha('imagemagick x86_64_linux'), cellar: ':any' })
    assert.deepEqual(find(bottles, 'gtk+3', 'arm64_sequoia'),
      { name: 'gtk+3', version: '3.24.49', revision: 2, rebuild: 1, tag: 'arm64_sequoia', sha256: fakeSha('gtk+3 arm64_sequoia'), cellar: ':any' })
    assert.equal(find(bottles, 'ca-certificates', 'all')?.sha256, fakeSha('ca-certificates all'))
    assert.equal(find(bottles, 'libsigc++', 'x86_64_linux')?.sha256, fakeSha('libsigc++ x86_64_linux'))
  })

  it('applies per-tag variations (brew merge_variations)', () => {
    assert.equal(find(bottles, 'util-linux', 'x86_64_linux')?.version, '2.41.1')
    assert.equal(find(bottles, 'util-linux', 'arm64_sequoia')?.version, '2.41')
  })
})

describe('internal/packages.{tag}.jws.json (brew 6.x)', async () => {
  const bottles = bottlesFromApiFile('internal/packages.arm64_sequoia.jws.json', await read('internal/packages.arm64_sequoia.jws.json')) ?? []

  it('lists the one bottle per formula that serves the file\'s tag', () => {
    assert.deepEqual(bottles.map(b => `${b.name} ${b.tag}`).sort(), [
      'ca-certificates all', 'gtk+3 arm64_sequoia', 'imagemagick arm64_sequoia', 'jq arm64_sequoia',
      'libsigc++ arm64_sequoia', 'openssl@3 arm64_sequoia', 'util-linux arm64_sequoia'
    ])
  })

  it('reads stable_version, revision, bottle_rebuild, bottle_tag and bottle_cellar', () => {
    assert.deepEqual(find(bottles, 'jq', 'arm64_sequoia'),
      { name: 'jq', version: '1.8.2', revision: 0, rebuild: 1, tag: 'arm64_sequoia', sha256: fakeSha('jq arm64_sequoia'), cellar: ':any' })
    assert.deepEqual(find(bottles, 'gtk+3', 'arm64_sequoia'),
      { name: 'gtk+3', version: '3.24.49', revision: 2, rebuild: 1, tag: 'arm64_sequoia', sha256: fakeSha('gtk+3 arm64_sequoia'), cellar: ':any' })
    assert.equal(find(bottles, 'openssl@3', 'arm64_sequoia')?.cellar, '/opt/homebrew/Cellar')
    // `bottle_tag: ":all"` names the tag; an absent bottle_cellar means :any_skip_relocation.
    assert.deepEqual(find(bottles, 'ca-certificates', 'all'),
      { name: 'ca-certificates', version: '2025-05-20', revision: 0, rebuild: 0, tag: 'all', sha256: fakeSha('ca-certificates all'), cellar: ':any_skip_relocation' })
  })

  it('agrees with formula.jws.json on every shared bottle', async () => {
    const v2 = bottlesFromApiFile('formula.jws.json', await read('formula.jws.json')) ?? []
    for (const b of bottles) assert.deepEqual(find(v2, b.name, b.tag), b)
  })

  it('reads the older nested and stub forms', () => {
    const nested = bottlesFromPackages({ formulae: { jq: { stable_version: '1.8.2', bottle: { rebuild: 1, tag: ':all', cellar: ':any', checksum: fakeSha('n') } } } }, 'sonoma', 'f')
    assert.deepEqual(nested, [{ name: 'jq', version: '1.8.2', revision: 0, rebuild: 1, tag: 'all', sha256: fakeSha('n'), cellar: ':any' }])
    const stubs = bottlesFromPackages({ formulae: { magick: ['7.1.1-47_3', 2, fakeSha('s')], none: ['1.0', 0, null] } }, 'sonoma', 'f')
    assert.deepEqual(stubs, [{ name: 'magick', version: '7.1.1-47', revision: 3, rebuild: 2, tag: 'sonoma', sha256: fakeSha('s') }])
  })
})

describe('API file kinds and malformed files', () => {
  it('knows which files carry bottle checksums', () => {
    assert.deepEqual(apiFileKind('formula.jws.json'), { kind: 'formula' })
    assert.deepEqual(apiFileKind('internal/packages.arm64_tahoe.jws.json'), { kind: 'internal', tag: 'arm64_tahoe' })
    assert.deepEqual(apiFileKind('internal/formula.x86_64_linux.jws.json'), { kind: 'internal', tag: 'x86_64_linux' })
    assert.equal(apiFileKind('cask.jws.json'), undefined)
    assert.equal(apiFileKind('formula_tap_migrations.jws.json'), undefined)
  })

  it('rejects malformed envelopes with the file name', () => {
    const good = JSON.parse(jws([])) as { payload: string, signatures: Array<Record<string, unknown>> }
    const cases: Array<[string, string]> = [
      ['{"payload": "[]", "signatures": [', 'invalid JSON'],
      ['[]', 'not an object'],
      [JSON.stringify({ signatures: good.signatures }), '"payload" is not a string'],
      [JSON.stringify({ payload: '[]' }), '"signatures" is not an array'],
      [JSON.stringify({ payload: '[]', signatures: [{ ...good.signatures[0], header: { kid: 'other' } }] }), 'no signature with kid'],
      [JSON.stringify({ payload: '[]', signatures: [{ ...good.signatures[0], protected: Buffer.from('{"alg":"RS256"}').toString('base64url') }] }), 'PS512'],
      [JSON.stringify({ payload: '[}', signatures: good.signatures }), 'payload is not JSON']
    ]
    for (const [text, why] of cases) {
      assert.throws(() => jwsPayload(Buffer.from(text), '/x/formula.jws.json'),
        (err: Error) => err.name === 'BundleInputError' && err.message.includes('/x/formula.jws.json') && err.message.includes(why), why)
    }
  })

  it('rejects payloads of the wrong shape or with bad fields', () => {
    const bad = (payload: unknown, rel = 'formula.jws.json'): void => {
      assert.throws(() => bottlesFromApiFile(rel, Buffer.from(jws(payload)), `/x/${rel}`), { name: 'BundleInputError' })
    }
    bad({ formulae: [] })
    bad([{ name: 'jq', versions: { stable: '1.0' }, bottle: { stable: { rebuild: 0, files: { sonoma: { sha256: 'nothex' } } } } }])
    bad([{ name: 'jq', versions: { stable: '1.0' }, bottle: { stable: { rebuild: -1, files: { sonoma: { sha256: fakeSha('x') } } } } }])
    bad([{ name: '../jq', versions: { stable: '1.0' }, bottle: { stable: { files: { sonoma: { sha256: fakeSha('x') } } } } }])
    bad([{ name: 'jq', versions: {}, bottle: { stable: { files: { sonoma: { sha256: fakeSha('x') } } } } }])
    bad([], 'internal/packages.sonoma.jws.json')
    bad({ metadata: { bottle_tag: 'arm64_tahoe' }, formulae: {} }, 'internal/packages.sonoma.jws.json')
    bad({ formulae: { jq: { stable_version: '1.0', bottle_checksum: fakeSha('x'), bottle_tag: ':Bad Tag' } } }, 'internal/packages.sonoma.jws.json')
  })
})
