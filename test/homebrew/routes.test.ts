import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseBottleDomainPath, parseGhcrPath } from '../../src/homebrew/routes.ts'

const hex = '4a'.repeat(32)

describe('parseGhcrPath (after /v2/homebrew/core/)', () => {
  it('parses blobs and manifests of images with and without /', () => {
    assert.deepEqual(parseGhcrPath(`openssl/3/blobs/sha256:${hex}`), { image: 'openssl/3', kind: 'blob', sha256: hex })
    assert.deepEqual(parseGhcrPath(`jq/blobs/sha256:${hex}`), { image: 'jq', kind: 'blob', sha256: hex })
    assert.deepEqual(parseGhcrPath(`jq/blobs/sha256%3A${hex}`), { image: 'jq', kind: 'blob', sha256: hex })
    assert.deepEqual(parseGhcrPath('jq/manifests/1.8.2-1'), { image: 'jq', kind: 'manifest', ref: '1.8.2-1' })
    assert.deepEqual(parseGhcrPath('python/3.13/manifests/3.13.5'), { image: 'python/3.13', kind: 'manifest', ref: '3.13.5' })
    assert.deepEqual(parseGhcrPath(`jq/manifests/sha256:${hex}`), { image: 'jq', kind: 'manifest', ref: `sha256:${hex}` })
    // An image may itself be called `blobs`: the kind is read from the end.
    assert.deepEqual(parseGhcrPath('blobs/manifests/1.0'), { image: 'blobs', kind: 'manifest', ref: '1.0' })
  })

  it('rejects traversal, encoded separators, NUL, absolute and over-long paths', () => {
    for (const bad of [
      `../etc/blobs/sha256:${hex}`,
      `openssl/%2e%2e/blobs/sha256:${hex}`,
      `openssl/%2E%2E/manifests/1.0`,
      `openssl%2F3/blobs/sha256:${hex}`,
      `openssl%5C3/blobs/sha256:${hex}`,
      `jq%00/blobs/sha256:${hex}`,
      `jq\u0000/blobs/sha256:${hex}`,
      `/jq/blobs/sha256:${hex}`,
      `jq//blobs/sha256:${hex}`,
      `${'a/'.repeat(600)}blobs/sha256:${hex}`,
      `jq/manifests/${'1'.repeat(200)}`,
      'jq/manifests/..',
      'jq/manifests/1.0?x=1',
      `jq/blobs/sha256:${hex.toUpperCase()}`,
      `jq/blobs/sha256:${hex.slice(1)}`,
      `jq/blobs/${hex}`,
      'jq/tags/list',
      `blobs/sha256:${hex}`,
      `Jq/blobs/sha256:${hex}`,
      'jq/manifests/%zz',
      ''
    ]) assert.equal(parseGhcrPath(bad), undefined, bad)
  })
})

describe('parseBottleDomainPath (after /homebrew/bottles/)', () => {
  it('decodes brew\'s URL-encoded flat names to catalog paths', () => {
    assert.deepEqual(parseBottleDomainPath('openssl%403-3.5.0.arm64_sequoia.bottle.tar.gz'),
      { kind: 'bottle', catalogPath: 'homebrew/bottles/openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz' })
    assert.deepEqual(parseBottleDomainPath('libsigc%2B%2B-3.6.0.x86_64_linux.bottle.tar.gz'),
      { kind: 'bottle', catalogPath: 'homebrew/bottles/libsigc++-3.6.0.x86_64_linux.bottle.tar.gz' })
    assert.deepEqual(parseBottleDomainPath('jq-1.8.2.arm64_tahoe.bottle.1.tar.gz'),
      { kind: 'bottle', catalogPath: 'homebrew/bottles/jq-1.8.2.arm64_tahoe.bottle.1.tar.gz' })
    // Clients that do not encode get the same entry.
    assert.deepEqual(parseBottleDomainPath('openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz'),
      { kind: 'bottle', catalogPath: 'homebrew/bottles/openssl@3-3.5.0.arm64_sequoia.bottle.tar.gz' })
  })

  it('parses manifest requests (brew >= 6.0.13)', () => {
    assert.deepEqual(parseBottleDomainPath('openssl/3/manifests/3.5.0'), { kind: 'manifest', image: 'openssl/3', ref: '3.5.0' })
    assert.deepEqual(parseBottleDomainPath('jq/manifests/1.8.2-1'), { kind: 'manifest', image: 'jq', ref: '1.8.2-1' })
  })

  it('rejects cache-form names, traversal, NUL, over-long input and non-bottles', () => {
    for (const bad of [
      'jq--1.8.2.arm64_tahoe.bottle.1.tar.gz',
      `${'ab'.repeat(32)}--jq-1.8.2.arm64_tahoe.bottle.1.tar.gz`,
      '%2e%2e',
      '..%2Fformula.jws.json',
      '%2e%2e%2fjq-1.8.2.arm64_tahoe.bottle.tar.gz',
      'x/../jq-1.8.2.arm64_tahoe.bottle.tar.gz',
      'jq-1.8.2.arm64_tahoe.bottle.tar.gz%00',
      '/jq-1.8.2.arm64_tahoe.bottle.tar.gz',
      `jq-${'1'.repeat(300)}.arm64_tahoe.bottle.tar.gz`,
      'openssl%25403-3.5.0.arm64_sequoia.bottle.tar.gz',
      'jq-1.8.2.arm64_tahoe.bottle.0.tar.gz',
      'index.html',
      'jq/blobs/sha256:' + hex,
      'jq/manifests/../x',
      ''
    ]) assert.equal(parseBottleDomainPath(bad), undefined, bad)
  })
})
