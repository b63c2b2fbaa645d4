/** The chunk scheduling policy (src/mesh/chunk-plan.ts), without a network. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hasOrphans, ownerOf, planPulls, type PlanInput, type PlanSource } from '../../src/mesh/chunk-plan.ts'

const COUNT = 16
const seed: PlanSource = { key: 'seed', chunks: null, inflight: 0 }

function input (over: Partial<PlanInput> = {}): PlanInput {
  return {
    count: COUNT,
    verified: new Uint8Array(COUNT),
    inflight: new Set(),
    wanted: [],
    sources: [{ ...seed }],
    self: 'me',
    slots: 8,
    perSource: 3,
    greedy: false,
    readerStalled: false,
    random: () => 0.5,
    ...over
  }
}

function bitmap (held: number[]): Uint8Array {
  const out = new Uint8Array(COUNT)
  for (const i of held) out[i] = 1
  return out
}

test('alone with a reader: the chunk it waits for first, then in order from it, within the per-source limit', () => {
  const pulls = planPulls(input({ wanted: [5], order: 'reader' }))
  assert.deepEqual(pulls, [{ chunk: 5, source: 'seed' }, { chunk: 6, source: 'seed' }, { chunk: 7, source: 'seed' }])
})

test('slow start: one pull per full holder until told otherwise', () => {
  assert.deepEqual(planPulls(input({ wanted: [0], perFullSource: 1 })), [{ chunk: 0, source: 'seed' }])
})

test('ring order: downloaders that cannot see each other start at different chunks', () => {
  const starts = new Set(['a', 'b', 'c', 'd', 'e', 'f'].map(self => planPulls(input({ self, order: 'ring', perSource: 1 }))[0]?.chunk))
  assert.ok(starts.size >= 4, `starts spread over the ring: ${[...starts].join(',')}`)
})

test('every chunk has exactly one owner, whichever member computes it', () => {
  const members = ['a', 'b', 'c', 'd'].map((key, i) => ({ key, seed: 0x1234567 * (i + 1) }))
  const owners = new Map<string, number>()
  for (let chunk = 0; chunk < 256; chunk++) {
    const owner = ownerOf(chunk, members) ?? ''
    assert.equal(ownerOf(chunk, [...members].reverse()), owner, 'order of members does not matter')
    owners.set(owner, (owners.get(owner) ?? 0) + 1)
  }
  assert.equal(owners.size, 4)
  for (const n of owners.values()) assert.ok(n > 32 && n < 100, `balanced: ${[...owners.values()].join(',')}`)
})

test('in a swarm, chunks a partial holder has never come from the seed; seed-only chunks come from their owner', () => {
  const peers: PlanSource[] = [{ key: 'p1', chunks: bitmap([0, 1, 2, 3]), inflight: 0 }, { key: 'p2', chunks: bitmap([4, 5]), inflight: 0 }]
  const views = ['me', 'p1', 'p2'].map(self => planPulls(input({
    self,
    sources: [{ ...seed }, ...peers.filter(p => p.key !== self).map(p => ({ ...p })), ...(self === 'me' ? [] : [{ key: 'me', chunks: bitmap([]), inflight: 0 }])],
    verified: self === 'me' ? bitmap([]) : (peers.find(p => p.key === self)?.chunks ?? bitmap([])),
    slots: 64,
    perSource: 64
  })))
  const mine = views[0] ?? []
  for (const pull of mine) if (pull.chunk <= 5) assert.notEqual(pull.source, 'seed', `chunk ${pull.chunk} is held by a peer`)
  // Seed-only chunks 6..15: each is taken from the seed by exactly one of the three.
  for (let chunk = 6; chunk < COUNT; chunk++) {
    const takers = views.filter(v => v.some(p => p.chunk === chunk && p.source === 'seed')).length
    assert.equal(takers, 1, `chunk ${chunk} taken from the seed by ${takers}`)
  }
})

test('a partial holder that knows no whole holder (unsourced) owns no chunk: the others take them all', () => {
  // p1 cannot reach the seed (at its connection limit, it refused p1): counted as an owner, it
  // would leave its chunks to wait for the stall timer in every view.
  const p1: PlanSource = { key: 'p1', chunks: bitmap([]), inflight: 0 }
  const taken = (unsourced: boolean): number => planPulls(input({ sources: [{ ...seed }, { ...p1, unsourced }], slots: 64, perSource: 64 })).length
  assert.ok(taken(false) > 0 && taken(false) < COUNT, `sharing with p1: ${taken(false)} of ${COUNT}`)
  assert.equal(taken(true), COUNT, 'p1 said it cannot take any: every seed-only chunk is mine')
})

test('rarest first among partial holders', () => {
  const sources: PlanSource[] = [
    { ...seed },
    { key: 'p1', chunks: bitmap([0, 1]), inflight: 0 },
    { key: 'p2', chunks: bitmap([0]), inflight: 0 },
    { key: 'p3', chunks: bitmap([0]), inflight: 0 }
  ]
  const pulls = planPulls(input({ sources, verified: bitmap([...Array(COUNT).keys()].slice(2)), slots: 1 }))
  assert.deepEqual(pulls, [{ chunk: 1, source: 'p1' }])
})

test('stalled: ownership is ignored; a reader that waited too long takes its chunk from the seed', () => {
  const sources: PlanSource[] = [{ ...seed }, { key: 'zzz', chunks: bitmap([]), inflight: 0 }]
  const all = (over: Partial<PlanInput>): number[] => planPulls(input({ sources, slots: 64, perSource: 64, ...over })).map(p => p.chunk).sort((a, b) => a - b)
  const owned = all({})
  assert.ok(owned.length > 0 && owned.length < COUNT, 'without a stall, only owned chunks')
  assert.equal(all({ greedy: true }).length, COUNT)
  const notMine = [...Array(COUNT).keys()].find(c => !owned.includes(c)) ?? -1
  assert.ok(all({ wanted: [notMine], readerStalled: true }).includes(notMine))
  assert.ok(!all({ wanted: [notMine] }).includes(notMine), 'a patient reader waits for the owner')
})

test('among holders of a chunk, the idlest by reported uploads is asked first', () => {
  const busy: PlanSource = { key: 'seed', chunks: null, inflight: 0, uploads: 9 }
  const idle: PlanSource = { key: 'peer', chunks: null, inflight: 0, uploads: 1 }
  const pulls = planPulls(input({ sources: [busy, idle], slots: 2, perSource: 3, random: () => 0.5 }))
  assert.deepEqual(pulls.map(p => p.source), ['peer', 'peer'])
  // Once this node's own pulls make the idle one as busy, the other is used too; slots still bound it.
  const more = planPulls(input({ sources: [busy, { ...idle, inflight: 0, uploads: 8 }], slots: 4, perSource: 3, random: () => 0.5 }))
  assert.equal(more.length, 4)
  assert.ok(more.some(p => p.source === 'seed') && more.some(p => p.source === 'peer'))
})

test('orphans: a chunk still to fetch that no known source holds (a whole holder holds them all)', () => {
  const verified = bitmap([0, 1])
  const partial = (held: number[], key = 'p'): PlanSource => ({ key, chunks: bitmap(held), inflight: 0 })
  const rest = Array.from({ length: COUNT - 3 }, (_, i) => i + 3)
  assert.equal(hasOrphans(COUNT, verified, new Set(), [partial(rest)]), true, 'chunk 2: nobody known has it')
  assert.equal(hasOrphans(COUNT, verified, new Set([2]), [partial(rest)]), false, 'chunk 2 is in flight')
  assert.equal(hasOrphans(COUNT, verified, new Set(), [partial(rest), partial([2], 'q')]), false, 'q has chunk 2')
  assert.equal(hasOrphans(COUNT, verified, new Set(), [partial([]), { ...seed }]), false, 'the seed has everything')
  assert.equal(hasOrphans(COUNT, bitmap(Array.from({ length: COUNT }, (_, i) => i)), new Set(), []), false, 'nothing left to fetch')
})

test('a chunk every partial holder declined comes from a whole holder a decline named, whoever owns it, and never from the others', () => {
  const all = Array.from({ length: COUNT }, (_, i) => i)
  const verified = bitmap(all.filter(c => c !== 3)) // only chunk 3 is missing
  // p1 holds chunk 3 but declined it: it sent it to w, now a whole holder.
  const p1: PlanSource = { key: 'p1', chunks: bitmap(all), inflight: 0, declined: new Set([3]) }
  const named: PlanSource = { key: 'w', chunks: null, inflight: 0, named: new Set([3]) }
  const pulls = planPulls(input({ verified, sources: [{ ...seed }, p1, named] }))
  assert.deepEqual(pulls, [{ chunk: 3, source: 'w' }])
  // Without a named holder it waits for p1 (the seed is spared), as before.
  assert.deepEqual(planPulls(input({ verified, sources: [{ ...seed }, { ...p1 }] })), [])
  // A partial holder that has not declined it is still preferred to any whole holder.
  const p2: PlanSource = { key: 'p2', chunks: bitmap([3]), inflight: 0 }
  assert.deepEqual(planPulls(input({ verified, sources: [{ ...seed }, p1, named, p2] })), [{ chunk: 3, source: 'p2' }])
})
