import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { judgeHead } from '../../src/trust/adopt.ts'
import { openSignedHead, signHead, type SignedHead } from '../../src/trust/head.ts'
import { formatPublicKey, generateKey, parsePublicKey, readKeyFile, writeKeyFile } from '../../src/trust/keys.ts'
import { cidOfBytes, DAG_CBOR } from '../../src/store/cid.ts'
import { tempDir } from '../utils/home.ts'

const root = cidOfBytes(new Uint8Array([1]), DAG_CBOR)

test('a signed head round-trips and names its publisher', async () => {
  const key = await generateKey()
  const head = await signHead({ seq: 1, parent: null, root, time: 1700000000000 }, key)
  const opened = await openSignedHead(head.bytes)
  assert.equal(opened.publisher, formatPublicKey(key.publicKey))
  assert.equal(opened.seq, 1)
  assert.equal(opened.root?.toString(), root.toString())
  assert.equal(opened.cid.toString(), head.cid.toString())
})

test('any altered byte of a signed head is refused', async () => {
  const key = await generateKey()
  const head = await signHead({ seq: 7, parent: root, root, time: 1 }, key)
  let refused = 0
  for (let i = 0; i < head.bytes.length; i++) {
    const bytes = Uint8Array.from(head.bytes)
    bytes[i] = (bytes[i] ?? 0) ^ 0x01
    await assert.rejects(openSignedHead(bytes), (err: Error) => ['SignatureError', 'IntegrityError'].includes(err.name), `byte ${i}`)
    refused++
  }
  assert.equal(refused, head.bytes.length)
})

test('a head re-signed by another key is attributed to that key, not the original publisher', async () => {
  const alice = await generateKey()
  const mallory = await generateKey()
  const forged = await signHead({ seq: 99, parent: null, root, time: 1 }, mallory)
  assert.equal((await openSignedHead(forged.bytes)).publisher, formatPublicKey(mallory.publicKey))
  assert.notEqual((await openSignedHead(forged.bytes)).publisher, formatPublicKey(alice.publicKey))
  // Swapping the publisher field inside the signed bytes breaks the signature.
  const envelope = dagCbor.decode(forged.bytes) as { head: Uint8Array, sig: Uint8Array }
  const inner = dagCbor.decode(envelope.head) as Record<string, unknown>
  const swapped = dagCbor.encode({ head: dagCbor.encode({ ...inner, publisher: alice.publicKey }), sig: envelope.sig })
  await assert.rejects(openSignedHead(swapped), { name: 'SignatureError' })
})

test('adoption rules: trust, rollback, fork, same, parent', async () => {
  const key = await generateKey()
  const h1 = await signHead({ seq: 1, parent: null, root, time: 1 }, key)
  const h2 = await signHead({ seq: 2, parent: h1.cid, root, time: 2 }, key)
  const h2b = await signHead({ seq: 2, parent: h1.cid, root: null, time: 3 }, key)
  const h3orphan = await signHead({ seq: 3, parent: h1.cid, root, time: 4 }, key)
  const h5 = await signHead({ seq: 5, parent: h1.cid, root, time: 5 }, key)
  const judge = (c: SignedHead, current?: SignedHead, seenAtSeq?: SignedHead, trusted = true): string => {
    try { return judgeHead(c, { trusted, current, seenAtSeq }) } catch (err) { return (err as Error).name }
  }
  assert.equal(judge(h1, undefined, undefined, false), 'UntrustedKeyError')
  assert.equal(judge(h1), 'adopt')
  assert.equal(judge(h2, h1), 'adopt')
  assert.equal(judge(h1, h2), 'RollbackError')
  assert.equal(judge(h2, h2), 'same')
  assert.equal(judge(h2b, h2), 'ForkError')
  assert.equal(judge(h2b, h1, h2), 'ForkError', 'a second head for a seq seen before')
  assert.equal(judge(h3orphan, h2), 'ForkError', 'seq+1 that does not follow the held head')
  assert.equal(judge(h5, h2), 'adopt', 'a later head after a gap is taken (the chain between is unknown)')
})

test('key files: created 0600, never overwritten, refused when others can read them', async () => {
  const { dir, cleanup } = await tempDir()
  try {
    const file = join(dir, 'k.key')
    const key = await generateKey()
    await writeKeyFile(file, key)
    assert.equal(formatPublicKey((await readKeyFile(file)).publicKey), formatPublicKey(key.publicKey))
    await assert.rejects(writeKeyFile(file, await generateKey()), { name: 'KeyFileError' })
    await chmod(file, 0o644)
    await assert.rejects(readKeyFile(file), { name: 'KeyFileError' })
    await writeFile(join(dir, 'bad.key'), '{"type":"ed25519"}', { mode: 0o600 })
    await assert.rejects(readKeyFile(join(dir, 'bad.key')), { name: 'KeyFileError' })
    assert.throws(() => parsePublicKey('ed25519:xyz'), { name: 'UsageError' })
    assert.equal(parsePublicKey(formatPublicKey(key.publicKey)).length, 32)
  } finally {
    await cleanup()
  }
})
