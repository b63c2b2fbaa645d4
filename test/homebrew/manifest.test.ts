import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { bottlesFromApiFile } from '../../src/homebrew/api.ts'
import { BottleIndex } from '../../src/homebrew/bottle-index.ts'
import { checkManifest, manifestIdentity, parseBottleManifest } from '../../src/homebrew/manifest.ts'
import { fakeSha } from './helpers.ts'

const fixtures = new URL('../fixtures/homebrew/', import.meta.url)
const manifestBytes = await readFile(new URL('manifests/jq/1.8.2-1.json', fixtures))
const index = new BottleIndex()
for (const b of bottlesFromApiFile('formula.jws.json', await readFile(new URL('api/formula.jws.json', fixtures))) ?? []) index.add(b)

/** The fixture manifest with `edit` applied to its parsed JSON. */
function edited (edit: (json: { manifests: Array<{ annotations: Record<string, string> }>, annotations: Record<string, string> }) => void): Buffer {
  const json = JSON.parse(manifestBytes.toString())
  edit(json)
  return Buffer.from(JSON.stringify(json))
}

describe('bottle manifests (OCI image index)', () => {
  it('reads ref name, title and each entry\'s ref name and bottle digest', () => {
    const m = parseBottleManifest(manifestBytes, 'm.json')
    assert.equal(m.refName, '1.8.2-1')
    assert.equal(m.title, 'jq')
    assert.equal(m.entries.length, 6)
    assert.deepEqual(m.entries.find(e => e.refName === '1.8.2.arm64_sequoia.1'), { refName: '1.8.2.arm64_sequoia.1', digest: fakeSha('jq arm64_sequoia') })
    assert.deepEqual(manifestIdentity(m, 'm.json'), { image: 'jq', ref: '1.8.2-1' })
  })

  it('accepts a manifest that agrees with the API', () => {
    assert.doesNotThrow(() => checkManifest(parseBottleManifest(manifestBytes, 'm.json'), manifestBytes, 'jq', '1.8.2-1', index, 'm.json'))
  })

  it('rejects an entry whose sh.brew.bottle.digest is not the API\'s sha256', () => {
    const bytes = edited(json => { (json.manifests[1] as { annotations: Record<string, string> }).annotations['sh.brew.bottle.digest'] = fakeSha('evil') })
    assert.throws(() => checkManifest(parseBottleManifest(bytes, 'm.json'), bytes, 'jq', '1.8.2-1', index, 'm.json'),
      (err: Error) => err.name === 'BundleInputError' && err.message.includes(fakeSha('evil')) && err.message.includes(fakeSha('jq arm64_sequoia')))
  })

  it('ignores entries the API does not list (other tags, other snapshots)', () => {
    const bytes = edited(json => { (json.manifests[1] as { annotations: Record<string, string> }).annotations['org.opencontainers.image.ref.name'] = '1.8.2.arm64_ventura.1' })
    assert.doesNotThrow(() => checkManifest(parseBottleManifest(bytes, 'm.json'), bytes, 'jq', '1.8.2-1', index, 'm.json'))
  })

  it('checks the stored ref against the manifest: tag against ref.name, digest against the bytes', () => {
    const m = parseBottleManifest(manifestBytes, 'm.json')
    assert.throws(() => checkManifest(m, manifestBytes, 'jq', '1.8.2', index, 'm.json'), /ref\.name is 1\.8\.2-1/)
    const digest = `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`
    assert.doesNotThrow(() => checkManifest(m, manifestBytes, 'jq', digest, index, 'm.json'))
    assert.throws(() => checkManifest(m, manifestBytes, 'jq', `sha256:${fakeSha('other')}`, index, 'm.json'), { name: 'BundleInputError' })
  })

  it('rejects files that are not image indexes', () => {
    for (const text of ['not json', '{"schemaVersion": 2}', '{"schemaVersion": 1, "manifests": []}',
      '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "manifests": []}',
      '{"schemaVersion": 2, "manifests": [{"annotations": {"sh.brew.bottle.digest": "xyz"}}]}']) {
      assert.throws(() => parseBottleManifest(Buffer.from(text), '/b/m.json'), (err: Error) => err.name === 'BundleInputError' && err.message.startsWith('/b/m.json'), text)
    }
    const untitled = parseBottleManifest(Buffer.from('{"schemaVersion": 2, "manifests": []}'), 'm.json')
    assert.throws(() => manifestIdentity(untitled, 'm.json'), /manifests\/\{image\}\/\{tag\}\.json/)
  })
})
