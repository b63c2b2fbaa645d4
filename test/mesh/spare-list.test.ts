/** Sparing the uploader (src/mesh/spare-list.ts): who is declined a range, for how long, and whom they are sent to instead. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SpareList } from '../../src/mesh/spare-list.ts'

test('a range sent whole to one peer is declined to others within the window, naming the first', () => {
  const spare = new SpareList(4000)
  assert.equal(spare.declines('cid', 0, 9, 'bob', 1000), undefined, 'nothing sent yet')
  spare.sent('cid', 0, 9, 'alice', 1000)
  assert.equal(spare.declines('cid', 0, 9, 'bob', 1500), 'alice')
  assert.equal(spare.declines('cid', 0, 9, 'alice', 1500), undefined, 'never declined to the peer that received it')
  assert.equal(spare.declines('cid', 10, 19, 'bob', 1500), undefined, 'another range')
  assert.equal(spare.declines('other', 0, 9, 'bob', 1500), undefined, 'another blob')
  assert.equal(spare.declines('cid', 0, 9, 'bob', 5000), undefined, 'the window is over')
})

test('the latest recipient is the one named', () => {
  const spare = new SpareList(4000)
  spare.sent('cid', 0, 9, 'alice', 0)
  spare.sent('cid', 0, 9, 'bob', 5000)
  assert.equal(spare.declines('cid', 0, 9, 'carol', 6000), 'bob')
  assert.equal(spare.declines('cid', 0, 9, 'alice', 6000), 'bob')
})
