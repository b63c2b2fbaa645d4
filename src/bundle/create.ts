/**
 * `mirrormesh bundle create`: build a signed bundle from local files. The ecosystem modules turn
 * input directories into catalog entries; this module decides the base, signs the head and writes
 * only what the base lacks.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import type { Repo } from '../node/repo.ts'
import type { CID } from '../store/cid.ts'
import { parseCid, sameCid } from '../store/cid.ts'
import { MemoryDraft } from '../catalog/draft.ts'
import { MemoryNodeStore } from '../catalog/node-store.ts'
import { updateTree } from '../catalog/tree.ts'
import { addCargoIndex, addCrates } from '../cargo/bundle-input.ts'
import { addHomebrew } from '../homebrew/bundle-input.ts'
import { formatPublicKey, type KeyPair } from '../trust/keys.ts'
import { openSignedHead, signHead, type SignedHead } from '../trust/head.ts'
import { NotFoundError, UsageError } from '../util/errors.ts'
import { collectDelta } from './delta.ts'
import { readBundleHead } from './reader.ts'
import { writeBundle, type BlobInput, type WriteResult } from './writer.ts'

/** Inputs of `bundle create`. */
export interface CreateOptions {
  key: KeyPair
  out: string
  crates?: string
  cargoIndex?: string
  bottles?: string
  homebrewApi?: string
  /** A bundle file, a head CID or a seq of this publisher, already imported into this home. */
  base?: string
  onProgress?: (phase: string, done: number, total: number) => void
  signal?: AbortSignal
  now?: number
}

/** What `bundle create` wrote. */
export interface CreateResult extends WriteResult {
  out: string
  publisher: string
  seq: number
  base: string | null
  root: string | null
  changed: number
  removed: number
}

/** Build, sign and write a bundle. */
export async function createBundle (repo: Repo, options: CreateOptions): Promise<CreateResult> {
  if (options.crates === undefined && options.cargoIndex === undefined && options.bottles === undefined && options.homebrewApi === undefined) {
    throw new UsageError('nothing to bundle: give --crates DIR, --cargo-index DIR, or --bottles DIR with --homebrew-api DIR')
  }
  if ((options.bottles === undefined) !== (options.homebrewApi === undefined)) {
    throw new UsageError('--bottles and --homebrew-api go together: bottles are named by the API files that list their sha256')
  }
  const publisher = formatPublicKey(options.key.publicKey)
  const latest = await latestHead(repo, publisher)
  const base = options.base === undefined ? undefined : await resolveBase(repo, publisher, options.base)
  if (base !== undefined && latest !== undefined && !sameCid(base.cid, latest.cid)) {
    throw new UsageError(`--base is seq ${base.seq} but the latest head this home knows for the key is seq ${latest.seq}: a delta must build on the latest head, or receivers would see a fork`)
  }
  const now = options.now ?? Date.now()
  const draft = new MemoryDraft(base === undefined ? undefined : repo.catalogReader(base.root), now)
  const progress = (phase: string) => (done: number, total: number) => options.onProgress?.(phase, done, total)
  if (options.crates !== undefined) await addCrates(options.crates, draft, { onProgress: progress('crates'), signal: options.signal })
  if (options.cargoIndex !== undefined) await addCargoIndex(options.cargoIndex, draft)
  if (options.bottles !== undefined && options.homebrewApi !== undefined) {
    await addHomebrew({ bottlesDir: options.bottles, apiDir: options.homebrewApi, onProgress: p => options.onProgress?.(p.phase, p.done, p.total), signal: options.signal }, draft)
  }
  const nodes = new MemoryNodeStore(repo.nodes)
  const changes = draft.changes()
  const root = await updateTree(nodes, base?.root ?? undefined, changes.map(([path, pending]) => [path, pending?.entry ?? null]))
  const sources = new Map(changes.flatMap(([path, pending]) => pending === null ? [] : [[path, pending.source] as const]))
  const delta = await collectDelta(nodes, base?.root ?? null, root ?? null, async (path, entry) =>
    sources.get(path) ?? (await repo.blobs.has(entry.cid) ? { file: repo.blobs.path(entry.cid) } : undefined))
  const head = await signHead({ seq: (latest?.seq ?? 0) + 1, parent: latest?.cid ?? null, root: root ?? null, time: now }, options.key)
  const total = delta.blobs.reduce((sum, b) => sum + b.size, 0)
  const written = await writeBundle(options.out, { head, base: base?.cid ?? null, nodes: delta.nodes, blobs: delta.blobs }, done => options.onProgress?.('write', done, total))
  await recordPublished(repo, head, delta.nodes, delta.blobs)
  return { ...written, out: options.out, publisher, seq: head.seq, base: base?.cid.toString() ?? null, root: root?.toString() ?? null, changed: delta.changed, removed: delta.removed }
}

const PUBLISHED = 'published/'

/**
 * The newest head of this publisher that this home knows: adopted (imported) or published (created
 * here). Each new bundle continues from it, so successive bundles never reuse a seq.
 */
async function latestHead (repo: Repo, publisher: string): Promise<SignedHead | undefined> {
  const adopted = await repo.head(publisher)
  const bytes = await repo.db.config.get(PUBLISHED + publisher)
  const published = bytes === undefined ? undefined : await openSignedHead(Buffer.from(String(bytes.head), 'base64'))
  if (adopted === undefined) return published
  if (published === undefined) return adopted
  return published.seq > adopted.seq ? published : adopted
}

/**
 * Remember what was published so the next `bundle create --base` can build on it without an
 * import: the head, the new catalog nodes, and the metadata files (builders merge into them).
 */
async function recordPublished (repo: Repo, head: SignedHead, nodes: Array<{ cid: CID, bytes: Uint8Array }>, blobs: BlobInput[]): Promise<void> {
  for (const blob of blobs) {
    if (!blob.compress || await repo.blobs.has(blob.cid)) continue
    const source = 'file' in blob.source ? createReadStream(blob.source.file) : 'bytes' in blob.source ? Readable.from([blob.source.bytes]) : blob.source.open()
    await repo.blobs.put(source, { cid: blob.cid, size: blob.size })
  }
  const batch = repo.db.level.batch()
  for (const node of nodes) batch.put(node.cid.toString(), node.bytes, { sublevel: repo.db.nodes })
  batch.put(PUBLISHED + head.publisher, { head: Buffer.from(head.bytes).toString('base64'), seq: head.seq }, { sublevel: repo.db.config })
  await batch.write()
}

/** Find the base head (which must be known to this home, with its catalog) from a file, CID or seq. */
async function resolveBase (repo: Repo, publisher: string, text: string): Promise<SignedHead> {
  let wanted: { cid?: CID, seq?: number }
  if (await isFile(text)) wanted = { cid: (await readBundleHead(text)).head.cid }
  else if (/^\d+$/.test(text)) wanted = { seq: Number(text) }
  else {
    try {
      wanted = { cid: parseCid(text) }
    } catch {
      throw new UsageError(`--base ${text}: not a bundle file, a head CID, or a seq number`)
    }
  }
  const candidates: SignedHead[] = []
  for await (const head of repo.history(publisher)) candidates.push(head)
  const latest = await latestHead(repo, publisher)
  if (latest !== undefined) candidates.push(latest)
  for (const head of candidates) {
    if ((wanted.seq !== undefined && head.seq === wanted.seq) || (wanted.cid !== undefined && sameCid(head.cid, wanted.cid))) return head
  }
  throw new NotFoundError(`--base ${text} is not a head of ${publisher} that this home created or imported: create bundles from the same --home, or import the base bundle here first ("mirrormesh import FILE")`)
}

async function isFile (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}
