/** Test helpers for homes: temp dirs, trusted keys, crate inputs, and whole-store snapshots. */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { Repo } from '../../src/node/repo.ts'
import { formatPublicKey, generateKey, writeKeyFile, type KeyPair } from '../../src/trust/keys.ts'
import { writeCrate, manifestOf } from './cargo-fixtures.ts'

/** A temp dir removed by `cleanup`. */
export async function tempDir (prefix = 'mirrormesh-test-'): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: async () => await rm(dir, { recursive: true, force: true }) }
}

/** A new key written to `file`. */
export async function newKey (file: string): Promise<KeyPair & { publisher: string }> {
  const key = await generateKey()
  await writeKeyFile(file, key)
  return { ...key, publisher: formatPublicKey(key.publicKey) }
}

/** Open a repo, trust `publisher` in it, close it. */
export async function trustIn (home: string, publisher: string): Promise<void> {
  const repo = await Repo.open(home)
  try {
    await repo.db.trust.put(publisher, { name: 'test', added: Date.now() })
  } finally {
    await repo.close()
  }
}

/** Write `count` small synthetic crates (`name` v`1.0.i`) into `dir`, `size` bytes of payload each. */
export async function writeCrates (dir: string, name: string, count: number, size = 1000, seed = ''): Promise<void> {
  for (let i = 0; i < count; i++) {
    const version = `1.0.${i}`
    const filler = createHash('sha256').update(`${seed}${name}${i}`).digest('hex').repeat(Math.ceil(size / 64)).slice(0, size)
    await writeCrate(join(dir, `${name}-${version}.crate`), `${name}-${version}`, manifestOf(name, version), { 'src/lib.rs': `// ${filler}\n` })
  }
}

/** Everything observable in a home: current heads, catalog nodes, blob files (with hashes), audit log. */
export interface Snapshot {
  heads: Record<string, string>
  history: string[]
  nodes: string[]
  blobs: Record<string, string>
  audit: string[]
  pins: string[]
}

/** Take a snapshot of a home (opens and closes it, which also runs crash recovery). */
export async function snapshot (home: string): Promise<Snapshot> {
  const repo = await Repo.open(home)
  try {
    const snap: Snapshot = { heads: {}, history: [], nodes: [], blobs: {}, audit: [], pins: [] }
    for await (const [key, value] of repo.db.heads.iterator()) snap.heads[key] = Buffer.from(value).toString('base64')
    for await (const key of repo.db.history.keys()) snap.history.push(key)
    for await (const key of repo.db.nodes.keys()) snap.nodes.push(key)
    for await (const key of repo.db.pins.keys()) snap.pins.push(key)
    for await (const [key, value] of repo.db.audit.iterator()) snap.audit.push(`${key} ${JSON.stringify(value)}`)
    for (const file of await listFiles(repo.blobs.root)) {
      snap.blobs[relative(repo.blobs.root, file)] = createHash('sha256').update(await readFile(file)).digest('hex')
    }
    return snap
  } finally {
    await repo.close()
  }
}

async function listFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await listFiles(path))
    else out.push(path)
  }
  return out
}
