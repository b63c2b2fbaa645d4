/** mapLimit: bounded concurrency for the mesh's fan-outs (provider sweeps, a head's metadata files). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { mapLimit } from '../../src/util/map-limit.ts'

test('runs every item, never more than the limit at once', async () => {
  let running = 0
  let most = 0
  const done: number[] = []
  await mapLimit(Array.from({ length: 20 }, (_, i) => i), 4, async i => {
    most = Math.max(most, ++running)
    await sleep(i % 3)
    running--
    done.push(i)
  })
  assert.equal(most, 4)
  assert.deepEqual(done.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i))
})

test('after a failure no item starts, and it rejects once the items under way have ended', async () => {
  const started: number[] = []
  const ended: number[] = []
  await assert.rejects(mapLimit([0, 1, 2, 3, 4, 5], 2, async i => {
    started.push(i)
    if (i === 1) throw new Error('item 1 failed')
    await sleep(20)
    ended.push(i)
  }), /item 1 failed/)
  // Item 0 was under way when item 1 failed: it ended before the rejection; item 2 never started.
  assert.deepEqual(started, [0, 1])
  assert.deepEqual(ended, [0])
})
