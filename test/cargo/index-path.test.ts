import { test } from 'node:test'
import assert from 'node:assert/strict'
import { crateCatalogPath, crateNameProblem, indexCatalogPath, isValidCrateName, sparseIndexPath } from '../../src/cargo/index-path.ts'

test('sparse index paths follow the Cargo book layout for 1, 2, 3 and 4+ characters', () => {
  assert.equal(sparseIndexPath('a'), '1/a')
  assert.equal(sparseIndexPath('ab'), '2/ab')
  assert.equal(sparseIndexPath('abc'), '3/a/abc')
  assert.equal(sparseIndexPath('abcd'), 'ab/cd/abcd')
  assert.equal(sparseIndexPath('serde'), 'se/rd/serde')
  assert.equal(sparseIndexPath('cargo-mirror_x'), 'ca/rg/cargo-mirror_x')
})

test('sparse index paths are lowercase whatever the case of the name', () => {
  assert.equal(sparseIndexPath('A'), '1/a')
  assert.equal(sparseIndexPath('Ab'), '2/ab')
  assert.equal(sparseIndexPath('ABC'), '3/a/abc')
  assert.equal(sparseIndexPath('Inflector'), 'in/fl/inflector')
  assert.equal(indexCatalogPath('Inflector'), 'cargo/index/in/fl/inflector')
})

test('crate blobs keep the name as the index line spells it', () => {
  assert.equal(crateCatalogPath('Inflector', '0.11.4'), 'cargo/crates/Inflector/0.11.4')
  assert.equal(crateCatalogPath('serde', '1.0.0-rc.1+build.5'), 'cargo/crates/serde/1.0.0-rc.1+build.5')
  assert.throws(() => crateCatalogPath('serde', '../../etc'), TypeError)
  assert.throws(() => crateCatalogPath('serde', '1.0'), TypeError)
  assert.throws(() => crateCatalogPath('../x', '1.0.0'), TypeError)
})

test('crate names follow crates.io rules', () => {
  for (const good of ['a', 'serde', 'Serde_Json', 'x-1', 'a'.repeat(64)]) assert.ok(isValidCrateName(good), good)
  for (const bad of ['', '1abc', '_abc', '-abc', 'a.b', 'a b', 'a/b', 'é', 'a'.repeat(65), '..']) {
    assert.equal(isValidCrateName(bad), false, bad)
    assert.equal(typeof crateNameProblem(bad), 'string')
    assert.throws(() => sparseIndexPath(bad), TypeError)
  }
  assert.match(crateNameProblem('a'.repeat(65)) ?? '', /64/)
})
