/**
 * Crash safety: kill -9 the importer at many random instants; after recovery the store must hold
 * exactly the old head or exactly the new one, with no partial or orphaned blob visible.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { cp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createBundle } from '../../src/bundle/create.ts'
import { importBundle } from '../../src/bundle/import.ts'
import { Repo } from '../../src/node/repo.ts'
import { readKeyFile } from '../../src/trust/keys.ts'
import { BIN, cli } from '../utils/cli.ts'
import { newKey, snapshot, tempDir, trustIn, writeCrates, type Snapshot } from '../utils/home.ts'

const TRIALS = 24
let dir: string
let cleanup: () => Promise<void>

/** A snapshot without the audit log's timestamps (they differ from run to run). */
function comparable (snap: Snapshot): unknown {
  return { ...snap, audit: snap.audit.map(line => line.replace(/"time":\d+,?/g, '').replace(/"since":\d+/g, '')) }
}

before(async () => {
  ({ dir, cleanup } = await tempDir('mirrormesh-crash-'))
  const { publisher } = await newKey(join(dir, 'pub.key'))
  await writeCrates(join(dir, 'c1'), 'base', 3, 5000)
  await writeCrates(join(dir, 'c2'), 'bulk', 60, 120_000)
  const pub = await Repo.open(join(dir, 'pub'))
  try {
    const key = await readKeyFile(join(dir, 'pub.key'))
    await createBundle(pub, { key, out: join(dir, 'b1.mmb'), crates: join(dir, 'c1') })
    await createBundle(pub, { key, out: join(dir, 'b2.mmb'), crates: join(dir, 'c2'), base: '1' })
  } finally {
    await pub.close()
  }
  await trustIn(join(dir, 'old'), publisher)
  const repo = await Repo.open(join(dir, 'old'))
  try { await importBundle(repo, join(dir, 'b1.mmb')) } finally { await repo.close() }
  await cp(join(dir, 'old'), join(dir, 'new'), { recursive: true })
  const done = await cli(['--home', join(dir, 'new'), 'import', join(dir, 'b2.mmb')])
  assert.equal(done.code, 0, done.stderr)
})
after(async () => await cleanup())

test(`kill -9 during import at ${TRIALS} random instants: old or new state, never a mix`, async () => {
  const oldState = comparable(await snapshot(join(dir, 'old')))
  const newState = comparable(await snapshot(join(dir, 'new')))
  assert.notDeepEqual(oldState, newState)
  // Time one whole import run (process start included) to spread the kills over it.
  await cp(join(dir, 'old'), join(dir, 'timing'), { recursive: true })
  const started = performance.now()
  await cli(['--home', join(dir, 'timing'), 'import', join(dir, 'b2.mmb')])
  const span = performance.now() - started
  const outcomes = { old: 0, new: 0 }
  for (let i = 0; i < TRIALS; i++) {
    const home = join(dir, `trial-${i}`)
    await cp(join(dir, 'old'), home, { recursive: true })
    const delay = Math.random() * span * 1.1
    const child = spawn(process.execPath, [BIN, '--home', home, 'import', join(dir, 'b2.mmb')], { stdio: 'ignore', env: { ...process.env, MIRRORMESH_LOG: 'silent' } })
    const exited = new Promise(resolve => child.once('exit', resolve))
    await new Promise(resolve => setTimeout(resolve, delay))
    child.kill('SIGKILL')
    await exited
    const state = comparable(await snapshot(home)) // opening runs recovery
    const isOld = JSON.stringify(state) === JSON.stringify(oldState)
    const isNew = JSON.stringify(state) === JSON.stringify(newState)
    assert.ok(isOld || isNew, `trial ${i} (killed after ${delay.toFixed(0)} ms) left a mixed state`)
    outcomes[isOld ? 'old' : 'new']++
    const fsck = await cli(['--home', home, '--json', 'fsck'])
    assert.equal(fsck.code, 0, `fsck after trial ${i}: ${fsck.stdout}`)
    assert.equal((fsck.json as { ok: boolean }).ok, true)
    assert.deepEqual(await readdir(join(home, 'blobs', 'staging')).catch(() => []), [], 'no staging left after recovery')
    assert.deepEqual(await readdir(join(home, 'blobs', 'tmp')), [], 'no temp files left after recovery')
  }
  console.log(`# crash trials over ${span.toFixed(0)} ms imports: ${outcomes.old} old, ${outcomes.new} new`)
})
