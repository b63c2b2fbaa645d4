/**
 * Upload slots (src/mesh/upload-slots.ts) and the rest a busy answer buys (fetcher.ts `busyRest`):
 * the first upload expected to end sets when the asker comes back, within bounds.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BUSY_REST_MS, MIN_BUSY_REST_MS, busyRest } from '../../src/mesh/fetcher.ts'
import { UploadSlots } from '../../src/mesh/upload-slots.ts'

test('slots are taken and released; full at the limit', () => {
  const slots = new UploadSlots(2)
  const a = slots.take(100)
  assert.equal(slots.full, false)
  const b = slots.take(100)
  assert.equal(slots.taken, 2)
  assert.equal(slots.full, true)
  a.release()
  a.release() // twice is once
  assert.equal(slots.taken, 1)
  b.release()
  assert.equal(slots.taken, 0)
})

test('the first upload to end, each at its own rate so far, says when a slot frees', () => {
  const slots = new UploadSlots(2)
  const slow = slots.take(1000, 0)
  const fast = slots.take(1000, 0)
  assert.equal(slots.freeInMs(100), undefined, 'nothing sent yet: no rate to judge by')
  slow.sent(100) // 1 byte/ms: 900 ms to go
  assert.equal(slots.freeInMs(100), 900)
  fast.sent(500) // 5 bytes/ms: 100 ms to go
  assert.equal(slots.freeInMs(100), 100)
  fast.release()
  assert.equal(slots.freeInMs(100), 900)
  slow.sent(900)
  assert.equal(slots.freeInMs(200), 0, 'all sent: it ends any moment')
})

test('a busy source rests until its estimate, within bounds, plus up to as much again at random', () => {
  assert.equal(busyRest(undefined, 0), BUSY_REST_MS, 'no estimate: the fixed rest')
  assert.equal(busyRest(120, 0), 120)
  assert.equal(busyRest(120, 0.5), 180)
  assert.equal(busyRest(3, 0), MIN_BUSY_REST_MS, 'not sooner than the floor: retries cost both sides a request')
  assert.equal(busyRest(60_000, 0.999), BUSY_REST_MS * 1.999, 'a stalled upload does not keep the asker away for long')
})
