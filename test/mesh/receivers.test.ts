/** Whom a busy data plane names (src/mesh/receivers.ts): the newest receivers of the blob, never the asker, at most NAMED_RECEIVERS. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NAMED_RECEIVERS, Receivers } from '../../src/mesh/receivers.ts'

const asIs = (holder: string): string => holder

test('the newest receivers of that blob are named, the asker left out', () => {
  const receivers = new Receivers()
  assert.deepEqual(receivers.named('cid', 'dave', asIs), [], 'nobody yet')
  for (const holder of ['alice', 'bob', 'carol']) receivers.add('cid', holder)
  receivers.add('other', 'erin')
  assert.equal(NAMED_RECEIVERS, 2)
  assert.deepEqual(receivers.named('cid', 'dave', asIs), ['carol', 'bob'])
  assert.deepEqual(receivers.named('cid', 'carol', asIs), ['bob', 'alice'], 'never the asker')
  assert.deepEqual(receivers.named('other', 'dave', asIs), ['erin'], 'per blob')
})

test('a receiver sent to again moves to the front; one without a name (unknown, disconnected) is skipped', () => {
  const receivers = new Receivers()
  for (const holder of ['alice', 'bob', 'carol', 'alice']) receivers.add('cid', holder)
  assert.deepEqual(receivers.named('cid', 'dave', asIs), ['alice', 'carol'])
  assert.deepEqual(receivers.named('cid', 'dave', h => (h === 'alice' ? undefined : `peer-${h}`)), ['peer-carol', 'peer-bob'])
})
