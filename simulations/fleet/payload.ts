/**
 * The payload of a fleet run: the scenario's crates written as real files, a publisher key, and one
 * signed bundle (seq 1) that the seed imports while the fleet watches.
 */
import { join } from 'node:path'
import { Repo } from '../../src/node/repo.ts'
import { cidFromSha256Hex } from '../../src/store/cid.ts'
import { formatPublicKey, generateKey, writeKeyFile } from '../../src/trust/keys.ts'
import { writeCrate } from '../lib/crates.ts'
import { cliOk } from '../lib/node-process.ts'
import { payloadItems, type Scenario } from '../lib/scenario.ts'

/** One blob of the payload as built. */
export interface Blob {
  name: string
  version: string
  size: number
  cid: string
}

/** What `buildPayload` made. */
export interface Payload {
  bundle: string
  publisher: string
  blobs: Blob[]
  bytes: number
}

/** Write the crates and the bundle under `dir`. */
export async function buildPayload (scenario: Scenario, dir: string): Promise<Payload> {
  const crates = join(dir, 'crates')
  const blobs: Blob[] = []
  for (const item of payloadItems(scenario)) {
    const written = await writeCrate(crates, item.name, item.version, item.payload)
    blobs.push({ name: item.name, version: item.version, size: written.size, cid: cidFromSha256Hex(written.sha256).toString() })
  }
  const key = await generateKey()
  await writeKeyFile(join(dir, 'publisher.key'), key)
  const bundle = join(dir, 'payload.mmb')
  await cliOk(['--home', join(dir, 'publisher-home'), 'bundle', 'create', '--key', join(dir, 'publisher.key'), '--crates', crates, '--out', bundle])
  return { bundle, publisher: formatPublicKey(key.publicKey), blobs, bytes: blobs.reduce((s, b) => s + b.size, 0) }
}

/** Trust `publisher` in `home` (creating the home), without starting a CLI process. */
export async function trustIn (home: string, publisher: string): Promise<void> {
  const repo = await Repo.open(home)
  try {
    await repo.db.trust.put(publisher, { name: 'fleet', added: Date.now() })
  } finally {
    await repo.close()
  }
}
