import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  apiCatalogPath, bottleCatalogPath, cacheBottleName, encodedFlatBottleName, flatBottleName, imageName,
  manifestCatalogPath, manifestTag, parseBottleFileName, pkgVersion, platformRefName, urlEncode
} from '../../src/homebrew/names.ts'

const openssl = { name: 'openssl@3', version: '3.5.0', revision: 0, tag: 'arm64_sequoia', rebuild: 0 }
const jq = { name: 'jq', version: '1.8.2', revision: 0, tag: 'arm64_tahoe', rebuild: 1 }
const sigc = { name: 'libsigc++', version: '3.6.0', revision: 0, tag: 'x86_64_linux', rebuild: 0 }
const magick = { name: 'imagemagick', version: '7.1.1-47', revision: 1, tag: 'arm64_sequoia', rebuild: 0 }
const gtk = { name: 'gtk+3', version: '3.24.49', revision: 2, tag: 'arm64_sequoia', rebuild: 1 }
const certs = { name: 'ca-certificates', version: '2025-05-20', revision: 0, tag: 'all', rebuild: 0 }

describe('bottle file names (brew Bottle::Filename)', () => {
  it('builds the flat name with pkg_version and an optional rebuild', () => {
    assert.equal(flatBottleName(openssl), 'openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz')
    assert.equal(flatBottleName(jq), 'jq-1.8.2.arm64_tahoe.bottle.1.tar.gz')
    assert.equal(flatBottleName(sigc), 'libsigc++-3.6.0.x86_64_linux.bottle.tar.gz')
    assert.equal(flatBottleName(magick), 'imagemagick-7.1.1-47_1.arm64_sequoia.bottle.tar.gz')
    assert.equal(flatBottleName(gtk), 'gtk+3-3.24.49_2.arm64_sequoia.bottle.1.tar.gz')
    assert.equal(flatBottleName(certs), 'ca-certificates-2025-05-20.all.bottle.tar.gz')
  })

  it('omits rebuild 0 and revision 0', () => {
    assert.equal(flatBottleName({ ...jq, rebuild: 0 }), 'jq-1.8.2.arm64_tahoe.bottle.tar.gz')
    assert.equal(pkgVersion('1.8.2', 0), '1.8.2')
    assert.equal(pkgVersion('7.1.1-47', 1), '7.1.1-47_1')
  })

  it('builds brew\'s own name with a double dash', () => {
    assert.equal(cacheBottleName(openssl), 'openssl@3--3.5.0.arm64_sequoia.bottle.tar.gz')
    assert.equal(cacheBottleName(gtk), 'gtk+3--3.24.49_2.arm64_sequoia.bottle.1.tar.gz')
  })

  it('URL-encodes like ERB::Util.url_encode', () => {
    assert.equal(encodedFlatBottleName(openssl), 'openssl%403-3.5.0.arm64_sequoia.bottle.tar.gz')
    assert.equal(encodedFlatBottleName(sigc), 'libsigc%2B%2B-3.6.0.x86_64_linux.bottle.tar.gz')
    assert.equal(encodedFlatBottleName(jq), 'jq-1.8.2.arm64_tahoe.bottle.1.tar.gz')
    // Stricter than encodeURIComponent: !'()* are encoded too; ~ . _ - are not.
    assert.equal(urlEncode("a b!'()*~._-Z9"), 'a%20b%21%27%28%29%2A~._-Z9')
    assert.equal(urlEncode('é/'), '%C3%A9%2F')
  })

  it('refuses unusable parts', () => {
    assert.throws(() => flatBottleName({ ...jq, name: 'a/b' }), TypeError)
    assert.throws(() => flatBottleName({ ...jq, name: '..' }), TypeError)
    assert.throws(() => flatBottleName({ ...jq, version: '1.0\u0000' }), TypeError)
    assert.throws(() => flatBottleName({ ...jq, version: '1--2' }), TypeError)
    assert.throws(() => flatBottleName({ ...jq, tag: 'Arm64' }), TypeError)
    assert.throws(() => flatBottleName({ ...jq, rebuild: -1 }), RangeError)
    assert.throws(() => flatBottleName({ ...jq, revision: 1.5 }), RangeError)
  })
})

describe('parseBottleFileName', () => {
  it('parses flat names, including @, +, revisions, rebuilds and dashed versions', () => {
    assert.deepEqual(parseBottleFileName('openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz'),
      { name: 'openssl@3', pkgVersion: '3.5.0', tag: 'arm64_sequoia', rebuild: 0, form: 'flat' })
    assert.deepEqual(parseBottleFileName('jq-1.8.2.arm64_tahoe.bottle.1.tar.gz'),
      { name: 'jq', pkgVersion: '1.8.2', tag: 'arm64_tahoe', rebuild: 1, form: 'flat' })
    assert.deepEqual(parseBottleFileName('gtk+3-3.24.49_2.arm64_sequoia.bottle.12.tar.gz'),
      { name: 'gtk+3', pkgVersion: '3.24.49_2', tag: 'arm64_sequoia', rebuild: 12, form: 'flat' })
    assert.deepEqual(parseBottleFileName('imagemagick-7.1.1-47_1.arm64_sequoia.bottle.tar.gz'),
      { name: 'imagemagick', pkgVersion: '7.1.1-47_1', tag: 'arm64_sequoia', rebuild: 0, form: 'flat' })
    assert.deepEqual(parseBottleFileName('ca-certificates-2025-05-20.all.bottle.tar.gz'),
      { name: 'ca-certificates', pkgVersion: '2025-05-20', tag: 'all', rebuild: 0, form: 'flat' })
  })

  it('parses brew\'s cache names, with and without the URL-hash prefix', () => {
    const expected = { name: 'openssl@3', pkgVersion: '3.5.0', tag: 'arm64_sequoia', rebuild: 0, form: 'cache' }
    assert.deepEqual(parseBottleFileName('openssl@3--3.5.0.arm64_sequoia.bottle.tar.gz'), expected)
    assert.deepEqual(parseBottleFileName(`${'ab'.repeat(32)}--openssl@3--3.5.0.arm64_sequoia.bottle.tar.gz`), expected)
    assert.deepEqual(parseBottleFileName(`${'0f'.repeat(32)}--jq-1.8.2.arm64_tahoe.bottle.1.tar.gz`),
      { name: 'jq', pkgVersion: '1.8.2', tag: 'arm64_tahoe', rebuild: 1, form: 'flat' })
  })

  it('round-trips every name it builds', () => {
    for (const id of [openssl, jq, sigc, magick, gtk, certs]) {
      const parsed = parseBottleFileName(flatBottleName(id))
      assert.equal(parsed?.name, id.name)
      assert.equal(parsed?.pkgVersion, pkgVersion(id.version, id.revision))
      assert.equal(parsed?.rebuild, id.rebuild)
      assert.equal(parseBottleFileName(cacheBottleName(id))?.name, id.name)
    }
  })

  it('rejects non-canonical rebuilds, traversal, separators, NUL, over-long and encoded names', () => {
    for (const bad of [
      'jq-1.8.2.arm64_tahoe.bottle.0.tar.gz',
      'jq-1.8.2.arm64_tahoe.bottle.01.tar.gz',
      '../jq-1.8.2.arm64_tahoe.bottle.tar.gz',
      'jq-1..2.arm64_tahoe.bottle.tar.gz',
      'jq--1--2.arm64_tahoe.bottle.tar.gz',
      'a/jq-1.8.2.arm64_tahoe.bottle.tar.gz',
      'a\\jq-1.8.2.arm64_tahoe.bottle.tar.gz',
      'jq-1.8.2\u0000.arm64_tahoe.bottle.tar.gz',
      `jq-${'1'.repeat(250)}.arm64_tahoe.bottle.tar.gz`,
      'openssl%403-3.5.0.arm64_sequoia.bottle.tar.gz',
      'jq-1.8.2.tar.gz',
      'jq-1.8.2.Arm64.bottle.tar.gz',
      'jq.arm64_tahoe.bottle.tar.gz',
      ''
    ]) assert.equal(parseBottleFileName(bad), undefined, bad)
  })
})

describe('image and manifest names (brew github_packages.rb)', () => {
  it('maps @ to / and + to x', () => {
    assert.equal(imageName('openssl@3'), 'openssl/3')
    assert.equal(imageName('python@3.13'), 'python/3.13')
    assert.equal(imageName('libsigc++'), 'libsigcxx')
    assert.equal(imageName('gtk+3'), 'gtkx3')
    assert.equal(imageName('jq'), 'jq')
    assert.throws(() => imageName('a/b'), TypeError)
  })

  it('builds manifest tags and per-platform ref names', () => {
    assert.equal(manifestTag('1.8.2', 1), '1.8.2-1')
    assert.equal(manifestTag('3.5.0', 0), '3.5.0')
    assert.equal(manifestTag('7.1.1-47_1', 0), '7.1.1-47_1')
    assert.equal(manifestTag('1.0+git', 2), '1.0.git-2')
    assert.equal(platformRefName('1.8.2', 'arm64_tahoe', 1), '1.8.2.arm64_tahoe.1')
    assert.equal(platformRefName('2025-05-20', 'all', 0), '2025-05-20.all')
  })
})

describe('catalog paths', () => {
  it('puts bottles, API files and manifests under homebrew/', () => {
    assert.equal(bottleCatalogPath('openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz'), 'homebrew/bottles/openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz')
    assert.equal(apiCatalogPath('formula.jws.json'), 'homebrew/api/formula.jws.json')
    assert.equal(apiCatalogPath('internal/packages.arm64_sequoia.jws.json'), 'homebrew/api/internal/packages.arm64_sequoia.jws.json')
    assert.equal(manifestCatalogPath('openssl/3', '3.5.0'), 'homebrew/manifests/openssl/3/3.5.0')
    assert.equal(manifestCatalogPath('jq', `sha256:${'a'.repeat(64)}`), `homebrew/manifests/jq/sha256:${'a'.repeat(64)}`)
  })

  it('refuses anything that is not a canonical, safe name', () => {
    assert.throws(() => bottleCatalogPath('openssl@3--3.5.0.arm64_sequoia.bottle.tar.gz'), TypeError)
    assert.throws(() => bottleCatalogPath(`${'ab'.repeat(32)}--jq-1.8.2.arm64_tahoe.bottle.tar.gz`), TypeError)
    assert.throws(() => bottleCatalogPath('../jq-1.8.2.arm64_tahoe.bottle.tar.gz'), TypeError)
    for (const bad of ['../formula.jws.json', '/formula.jws.json', 'internal//x.json', 'a\u0000b', 'internal/..', 'a\\b', 'x/'.repeat(600)]) {
      assert.throws(() => apiCatalogPath(bad), TypeError, bad)
    }
    assert.throws(() => manifestCatalogPath('OpenSSL', '3.5.0'), TypeError)
    assert.throws(() => manifestCatalogPath('openssl/../x', '3.5.0'), TypeError)
    assert.throws(() => manifestCatalogPath('jq', '1.8/2'), TypeError)
    assert.throws(() => manifestCatalogPath('jq', '..'), TypeError)
  })
})
