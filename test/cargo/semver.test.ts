import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compareSemver, isSemverVersion, parseSemverVersion, withoutBuild } from '../../src/cargo/semver.ts'
import { normalizeVersionReq, parseVersionReq } from '../../src/cargo/version-req.ts'

test('versions parse as the Rust semver crate parses them', () => {
  for (const good of ['0.0.0', '1.2.3', '1.0.0-alpha.1', '1.0.0-0.3.7', '1.0.0+build.01', '1.0.0-x-y.z+meta', '18446744073709551615.0.0']) {
    assert.ok(isSemverVersion(good), good)
  }
  for (const bad of ['1', '1.2', '01.0.0', '1.0.0-01', '1.0.0-', '1.0.0+', '1.0.0-a..b', 'v1.0.0', ' 1.0.0', '18446744073709551616.0.0', '1.0.0_1']) {
    assert.equal(isSemverVersion(bad), false, bad)
  }
  assert.deepEqual(parseSemverVersion('1.2.3-rc.1+b'), { major: 1n, minor: 2n, patch: 3n, pre: ['rc', '1'], build: 'b' })
  assert.equal(withoutBuild('1.0.0+meta'), '1.0.0')
  assert.equal(withoutBuild('1.0.0-rc.1'), '1.0.0-rc.1')
})

test('semver precedence: the semver.org example order', () => {
  const order = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.2.0', '1.10.0', '2.0.0']
  const parsed = order.map((v) => parseSemverVersion(v))
  const shuffled = [...parsed].reverse().sort((a, b) => compareSemver(a!, b!))
  assert.deepEqual(shuffled, parsed)
})

// Expected values worked out from semver 1.0 `parse.rs` + `display.rs` (the functions crates.io's
// `convert_dependency` runs every `req` through).
test('version requirements normalize as semver::VersionReq::parse(..).to_string()', () => {
  const cases: Array<[string, string]> = [
    ['1', '^1'],
    ['1.0', '^1.0'],
    ['0.2.0', '^0.2.0'],
    ['^1.2.3', '^1.2.3'],
    ['=1.0.152', '=1.0.152'],
    ['~1', '~1'],
    ['~ 1.2', '~1.2'],
    ['>= 0.2,  <0.3', '>=0.2, <0.3'],
    ['>=1.0.0-alpha.1', '>=1.0.0-alpha.1'],
    ['<= 2', '<=2'],
    ['> 1.2.3', '>1.2.3'],
    ['*', '*'],
    ['  *  ', '*'],
    ['x', '*'],
    ['1.*', '1.*'],
    ['1.x', '1.*'],
    ['1.2.*', '1.2.*'],
    ['1.*.*', '1.*'],
    ['>=1.*', '>=1'],
    ['=1.2.X', '=1.2'],
    ['1.0.0+build', '^1.0.0'],
    [' 1.2.3 ', '^1.2.3'],
    ['1.2.3-beta.1, <2', '^1.2.3-beta.1, <2']
  ]
  for (const [input, expected] of cases) assert.equal(parseVersionReq(input), expected, JSON.stringify(input))
})

test('requirements semver rejects are kept as written', () => {
  for (const bad of ['', '1.0-beta', '>= 1.0 < 2.0', '1.2.3 - 2', '01', '1.*.3', '*, 1', 'latest', '\t1.0', '1.0.0-01', Array(33).fill('1').join(',')]) {
    assert.equal(parseVersionReq(bad), undefined, JSON.stringify(bad))
    assert.equal(normalizeVersionReq(bad), bad)
  }
  assert.equal(parseVersionReq(Array(32).fill('1').join(',')), Array(32).fill('^1').join(', '))
})
