/**
 * Importing a bundle: read and check everything into a staging area first, then commit with one
 * database batch (nodes, head, pins, audit, and the list of staged blobs to move into place).
 * A crash before that batch leaves the store as it was; after it, recovery finishes the moves.
 */
import { randomBytes } from 'node:crypto'
import { basename, dirname } from 'node:path'
import type { Repo } from '../node/repo.ts'
import { parseCid } from '../store/cid.ts'
import { seqKey } from '../store/database.ts'
import { fsyncDir, SyncQueue } from '../store/blob-store.ts'
import { verifyStream } from '../store/sinks.ts'
import { judgeHead, type Verdict } from '../trust/adopt.ts'
import type { SignedHead } from '../trust/head.ts'
import { BundleFormatError, ForkError, MirrormeshError } from '../util/errors.ts'
import { readBundleFile } from './reader.ts'

/** What an import did. */
export interface ImportResult {
  file: string
  publisher: string
  seq: number
  previousSeq: number | null
  /** `adopt`: the head is new here; `same`: it was already the current head (blobs may still be new). */
  verdict: Verdict
  nodes: number
  blobs: number
  blobBytes: number
  /** Blobs the bundle carried that were already held. */
  alreadyHeld: number
}

/** Options for an import. */
export interface ImportOptions {
  onProgress?: (bytesRead: number, totalBytes: number) => void
  signal?: AbortSignal
}

/** Verify a bundle completely, then adopt its head and store its content atomically. */
export async function importBundle (repo: Repo, file: string, options: ImportOptions = {}): Promise<ImportResult> {
  const id = `import-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  const staging = await repo.blobs.stagingDir(id)
  const moves: Array<[string, string]> = []
  // Staged files are fsynced in the background while the next ones are read, and all of them
  // (and the staging directory) are on disk before the commit batch below.
  const syncs = new SyncQueue()
  let alreadyHeld = 0
  let verdict: Verdict = 'adopt'
  /** The commit batch is written: from here on a failure must leave the staged blobs for recovery. */
  let committed = false
  let current: SignedHead | undefined
  try {
    const result = await readBundleFile(file, {
      signal: options.signal,
      onProgress: options.onProgress,
      onHead: async head => {
        current = await repo.head(head.publisher)
        verdict = await judge(repo, head, current)
      },
      onBlob: async blob => {
        if (await repo.blobs.has(blob.cid)) {
          await verifyStream(blob.stream, blob.cid, blob.size)
          alreadyHeld++
          return
        }
        const staged = await repo.blobs.stage(blob.stream, { cid: blob.cid, size: blob.size }, staging, { syncs })
        moves.push([basename(staged.file), blob.cid.toString()])
      }
    })
    const { head } = result
    await syncs.flush()
    await fsyncDir(staging)
    await fsyncDir(dirname(staging))
    // A delta names nodes it does not carry: this node must hold them (it must hold the base).
    for (const cid of result.externalNodes) {
      if (!await repo.nodes.has(cid)) {
        throw new BundleFormatError(`bundle is a delta against ${result.base?.toString() ?? 'a catalog'} and needs catalog node ${cid.toString()}, which this node does not hold: import the bundles before it first (or ask the sender for "mirrormesh export --since" a seq this node has)`)
      }
    }
    // Metadata always travels with its head: anything not carried must already be here.
    const carried = new Set(result.blobs.map(b => b.cid.toString()))
    for (const [cid, leaf] of result.leaves) {
      if (leaf.kind === 'meta' && !carried.has(cid) && !await repo.blobs.has(parseCid(cid))) {
        throw new BundleFormatError(`bundle lacks metadata file ${cid} that its catalog references and this node does not hold`)
      }
    }
    return await repo.headLock.run(async () => {
      // Judge again under the lock: another import or a peer may have moved the head meanwhile.
      const latest = await repo.head(head.publisher)
      verdict = await judge(repo, head, latest)
      const time = Date.now()
      const batch = repo.db.level.batch()
      for (const node of result.nodes) batch.put(node.cid.toString(), node.bytes, { sublevel: repo.db.nodes })
      if (verdict === 'adopt') {
        batch.put(head.publisher, head.bytes, { sublevel: repo.db.heads })
        batch.put(`${head.publisher}/${seqKey(head.seq)}`, head.bytes, { sublevel: repo.db.history })
        batch.put(repo.nextAuditKey(), { time, event: 'adopt-head', publisher: head.publisher, seq: head.seq, head: head.cid.toString(), root: head.root?.toString() ?? null, previousSeq: latest?.seq ?? null, source: 'import' }, { sublevel: repo.db.audit })
      }
      for (const blob of result.blobs) if (blob.kind === 'blob') batch.put(blob.cid.toString(), { since: time }, { sublevel: repo.db.pins })
      const blobBytes = result.blobs.reduce((sum, b) => sum + b.size, 0)
      batch.put(repo.nextAuditKey(), { time, event: 'import', file: basename(file), publisher: head.publisher, seq: head.seq, verdict, nodes: result.nodes.length, blobs: result.blobs.length, blobBytes }, { sublevel: repo.db.audit })
      batch.put(id, { moves }, { sublevel: repo.db.pending })
      await batch.write()
      committed = true
      // If this process dies before the record is dropped, recovery redoes it (the moves are idempotent).
      try {
        await repo.finishMoves(id, { moves })
      } catch (err) {
        throw new MirrormeshError(`the import is committed, but moving its blobs into the store failed (${(err as Error).message}); they stay staged, and the node finishes the moves when it next opens this home: fix the cause (disk full? permissions?) and run any command`, { cause: err })
      }
      if (verdict === 'adopt') repo.emit('head', head)
      return { file, publisher: head.publisher, seq: head.seq, previousSeq: current?.seq ?? null, verdict, nodes: result.nodes.length, blobs: result.blobs.length, blobBytes, alreadyHeld }
    })
  } catch (err) {
    await syncs.settle()
    // After the commit the staged blobs are the store's: recovery moves them (see Repo.recover).
    if (!committed) await repo.blobs.removeStaging(id)
    throw err
  }
}

/** Apply the adoption rules; a fork is recorded (outside the audit log) before it is refused. */
async function judge (repo: Repo, head: SignedHead, current: SignedHead | undefined): Promise<Verdict> {
  try {
    return judgeHead(head, {
      trusted: await repo.isTrusted(head.publisher),
      current,
      seenAtSeq: await repo.headAt(head.publisher, head.seq)
    })
  } catch (err) {
    if (err instanceof ForkError) await repo.recordFork(head, current)
    throw err
  }
}
