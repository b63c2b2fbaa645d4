import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FeatureMap, IndexDependency } from '../../src/cargo/index-entry.ts'
import { compareDependencies, serializeIndexEntry, splitFeatures } from '../../src/cargo/index-entry.ts'

const map = (o: Record<string, string[]>): FeatureMap => new Map(Object.entries(o))
const obj = (m: FeatureMap): Record<string, string[]> => Object.fromEntries(m)

// The vectors of crates.io `crates/crates_io_index/src/features.rs` tests, verbatim.
test('splitFeatures: crates.io split_features test vectors', () => {
  let r = splitFeatures(map({ feature1: ['val1', 'val2'], feature2: ['val3'] }))
  assert.deepEqual([obj(r.features), obj(r.features2)], [{ feature1: ['val1', 'val2'], feature2: ['val3'] }, {}])

  r = splitFeatures(map({ feature1: ['dep:val1', 'val2'], feature2: ['val3', 'val4?/val5'] }))
  assert.deepEqual([obj(r.features), obj(r.features2)], [{}, { feature1: ['dep:val1', 'val2'], feature2: ['val3', 'val4?/val5'] }])

  r = splitFeatures(map({ feature1: ['val1', 'val2'], feature2: ['dep:val3'], feature3: ['val4', 'val5?/val6'] }))
  assert.deepEqual([obj(r.features), obj(r.features2)], [{ feature1: ['val1', 'val2'] }, { feature2: ['dep:val3'], feature3: ['val4', 'val5?/val6'] }])

  r = splitFeatures(map({ feature1: ['feature2'], feature2: [], feature3: ['feature1'] }))
  assert.deepEqual([obj(r.features), obj(r.features2)], [{ feature1: ['feature2'], feature2: [], feature3: ['feature1'] }, {}])

  r = splitFeatures(map({ feature1: ['feature2'], feature2: ['feature3'], feature3: ['dep:foo'] }))
  assert.deepEqual([obj(r.features), obj(r.features2)], [{}, { feature1: ['feature2'], feature2: ['feature3'], feature3: ['dep:foo'] }])
})

// crates.io `split_features_clap` snapshot (`crates_io_index__features__tests__split_features_clap.snap`).
test('splitFeatures: the clap snapshot, keys in byte order', () => {
  const clap = {
    env: ['clap_builder/env'], std: ['clap_builder/std'], help: ['clap_builder/help'], cargo: ['clap_builder/cargo'],
    color: ['clap_builder/color'], debug: ['clap_builder/debug', 'clap_derive?/debug'], usage: ['clap_builder/usage'],
    derive: ['dep:clap_derive'], string: ['clap_builder/string'],
    default: ['std', 'color', 'help', 'usage', 'error-context', 'suggestions'], unicode: ['clap_builder/unicode'],
    wrap_help: ['clap_builder/wrap_help'], deprecated: ['clap_builder/deprecated', 'clap_derive?/deprecated'],
    suggestions: ['clap_builder/suggestions'], 'unstable-v5': ['clap_builder/unstable-v5', 'clap_derive?/unstable-v5', 'deprecated'],
    'unstable-doc': ['clap_builder/unstable-doc', 'derive'], 'unstable-ext': ['clap_builder/unstable-ext'],
    'error-context': ['clap_builder/error-context'], 'unstable-styles': ['clap_builder/unstable-styles']
  }
  const { features, features2 } = splitFeatures(map(clap))
  assert.deepEqual([...features.keys()], ['cargo', 'color', 'default', 'env', 'error-context', 'help', 'std', 'string', 'suggestions', 'unicode', 'unstable-ext', 'unstable-styles', 'usage', 'wrap_help'])
  assert.deepEqual([...features2.keys()], ['debug', 'deprecated', 'derive', 'unstable-doc', 'unstable-v5'])
  assert.deepEqual(features2.get('unstable-v5'), ['clap_builder/unstable-v5', 'clap_derive?/unstable-v5', 'deprecated'])
})

const dep = (over: Partial<IndexDependency>): IndexDependency =>
  ({ name: 'a', req: '^1', features: [], optional: false, default_features: true, target: null, kind: 'normal', ...over })

test('deps sort as crates.io `Ord for Dependency`: name, kind (normal, build, dev), req, …', () => {
  const sorted = [
    dep({ name: 'a' }),
    dep({ name: 'a', kind: 'build' }),
    dep({ name: 'a', kind: 'dev', req: '^0.1' }),
    dep({ name: 'a', kind: 'dev', req: '^1', optional: true }),
    dep({ name: 'b', default_features: false }),
    dep({ name: 'b' }),
    dep({ name: 'b', target: 'cfg(unix)' }),
    dep({ name: 'b', target: 'cfg(windows)' }),
    dep({ name: 'c', package: 'real-c' }),
    dep({ name: 'c', package: 'real-c', features: ['x'] }),
    dep({ name: 'c', package: 'real-c', features: ['x', 'y'] }),
    dep({ name: 'c', package: 'real-c', features: ['y'] })
  ]
  assert.deepEqual([...sorted].reverse().sort(compareDependencies), sorted)
})

// The `bar 2.0.0` line of crates.io `src/snapshots/crates_io__index__tests__index_metadata-2.snap`,
// in the compact form `write_crates` produces (checksum made a real one).
test('serializeIndexEntry writes crates.io field order, compact, one field set per line', () => {
  const cksum = '0123456789abcdef'.repeat(4)
  const line = serializeIndexEntry({
    name: 'bar', vers: '2.0.0', cksum, features: new Map(), yanked: false,
    deps: [dep({ name: 'foo', req: '>= 0', default_features: false })]
  })
  assert.equal(line, `{"name":"bar","vers":"2.0.0","deps":[{"name":"foo","req":">= 0","features":[],"optional":false,"default_features":false,"target":null,"kind":"normal"}],"cksum":"${cksum}","features":{},"yanked":false}`)
})

test('serializeIndexEntry: optional fields in order, registry before package, keys sorted by bytes', () => {
  const line = serializeIndexEntry({
    name: 'x', vers: '1.0.0', cksum: 'c', yanked: false, links: 'z', rust_version: '1.70', v: 2,
    features: new Map([['9', []], ['__proto__', ['é']], ['10', []], ['B', []]]),
    features2: map({ w: ['dep:y'] }),
    deps: [dep({ name: 'y', registry: 'sparse+https://r.example/', package: 'real-y', optional: true })]
  })
  assert.equal(line, '{"name":"x","vers":"1.0.0","deps":[{"name":"y","req":"^1","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal","registry":"sparse+https://r.example/","package":"real-y"}],' +
    '"cksum":"c","features":{"10":[],"9":[],"B":[],"__proto__":["é"]},"features2":{"w":["dep:y"]},"yanked":false,"links":"z","rust_version":"1.70","v":2}')
})
