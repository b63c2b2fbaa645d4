/** Sparing the uploader (src/mesh/spare-list.ts): who is declined a range, for how long, and whom they are sent to instead. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SPARE_FACTOR, SPARE_IN_FLIGHT_MS, SPARE_MIN_MS, SpareList, slowToResend } from '../../src/mesh/spare-list.ts'

test('a range sent whole to one peer is declined to others within the window, naming the first', () => {
  const spare = new SpareList(4000)
  assert.equal(spare.declines('cid', 0, 9, 'bob', 0, 1000), undefined, 'nothing sent yet')
  spare.sent('cid', 0, 9, 'alice', 100, 1000) // sent in 100 ms: declined for 800 ms
  assert.deepEqual(spare.declines('cid', 0, 9, 'bob', 0, 1500), { holder: 'alice', forMs: 300 })
  assert.equal(spare.declines('cid', 0, 9, 'alice', 0, 1500), undefined, 'never declined to the peer that received it')
  assert.equal(spare.declines('cid', 10, 19, 'bob', 0, 1500), undefined, 'another range')
  assert.equal(spare.declines('other', 0, 9, 'bob', 0, 1500), undefined, 'another blob')
  assert.equal(spare.declines('cid', 0, 9, 'bob', 0, 1800), undefined, 'the window is over')
})

test('the window is eight sends long, within 250 ms and the longest window', () => {
  const spare = new SpareList(4000)
  assert.equal(SPARE_FACTOR, 8)
  spare.sent('fast', 0, 9, 'alice', 5, 0) // a LAN: the recipient passes it on within milliseconds
  assert.deepEqual(spare.declines('fast', 0, 9, 'bob', 0, 0), { holder: 'alice', forMs: SPARE_MIN_MS })
  spare.sent('slow', 0, 9, 'alice', 2000, 0) // a slow link: the longest window
  assert.deepEqual(spare.declines('slow', 0, 9, 'bob', 0, 0), { holder: 'alice', forMs: 4000 })
})

test('the latest recipient is the one named', () => {
  const spare = new SpareList(4000)
  spare.sent('cid', 0, 9, 'alice', 1000, 0)
  spare.sent('cid', 0, 9, 'bob', 1000, 5000)
  assert.equal(spare.declines('cid', 0, 9, 'carol', 0, 6000)?.holder, 'bob')
  assert.equal(spare.declines('cid', 0, 9, 'alice', 0, 6000)?.holder, 'bob')
})

const MiB = 1 << 20
const CHUNK = 4 * MiB

test('a range in flight is declined to others only while resending it would be slow', () => {
  const slow = new SpareList(4000)
  const ended = slow.sending('cid', 0, CHUNK - 1, 'alice')
  // 2 MiB/s over the last two seconds, two uploads: a resend would get 2/3 MiB/s, six seconds.
  slow.uploaded(4 * MiB, 10_000)
  assert.deepEqual(slow.declines('cid', 0, CHUNK - 1, 'bob', 2, 10_500), { holder: 'alice', forMs: 4000 }, 'slow uploader: wait for alice')
  assert.equal(slow.declines('cid', 0, CHUNK - 1, 'alice', 2, 10_500), undefined, 'never declined to its recipient')
  assert.equal(slow.declines('cid', 0, 99_999, 'bob', 2, 10_500), undefined, 'a small range is cheap to send again')
  ended()
  assert.equal(slow.declines('cid', 0, CHUNK - 1, 'bob', 1, 10_500), undefined, 'an upload that ended unfinished spares nothing')

  const fast = new SpareList(4000)
  fast.sending('cid', 0, CHUNK - 1, 'alice')
  fast.uploaded(500 * MiB, 10_000) // 250 MiB/s: a resend takes ~50 ms
  assert.equal(fast.declines('cid', 0, CHUNK - 1, 'bob', 2, 10_500), undefined, 'fast uploader: send it again')

  const idle = new SpareList(4000)
  idle.sending('cid', 0, CHUNK - 1, 'alice')
  assert.equal(idle.declines('cid', 0, CHUNK - 1, 'bob', 1, 10_500), undefined, 'no rate measured yet: send it')
})

test('the upload rate is the bytes of the last two seconds', () => {
  const spare = new SpareList(4000)
  spare.uploaded(4 * MiB, 10_000)
  spare.uploaded(2 * MiB, 11_200)
  assert.equal(spare.rate(11_500), 3 * MiB)
  assert.equal(spare.rate(12_300), MiB, 'the first second has rolled out')
  assert.equal(spare.rate(20_000), 0, 'nothing lately')
  assert.ok(slowToResend(CHUNK, 2 * MiB, 1) && !slowToResend(CHUNK, 100 * MiB, 1) && SPARE_IN_FLIGHT_MS === 1000)
})
