/**
 * Committing a new head with everything it needs, in one database batch: catalog nodes, the head
 * and its history entry, the audit event, and the staged blobs to move into place. Used for heads
 * learned from peers; the same rules as an import (judged again under the head lock).
 */
import type { CID } from '../store/cid.ts'
import { seqKey } from '../store/database.ts'
import { judgeHead, type Verdict } from '../trust/adopt.ts'
import type { SignedHead } from '../trust/head.ts'
import { ForkError } from '../util/errors.ts'
import type { Repo } from './repo.ts'

/** What to commit. */
export interface Adoption {
  head: SignedHead
  nodes: Array<{ cid: CID, bytes: Uint8Array }>
  /** Staged blob files (in the staging dir `id`) to move into place once committed. */
  staged?: { id: string, moves: Array<[string, string]> }
  /** Where the head came from, for the audit log (e.g. `peer:12D3…`). */
  source: string
}

/** Judge a head against what this repo holds; forks are recorded before they are refused. */
export async function judgeFor (repo: Repo, head: SignedHead): Promise<Verdict> {
  const current = await repo.head(head.publisher)
  try {
    return judgeHead(head, { trusted: await repo.isTrusted(head.publisher), current, seenAtSeq: await repo.headAt(head.publisher, head.seq) })
  } catch (err) {
    if (err instanceof ForkError) await repo.recordFork(head, current)
    throw err
  }
}

/** Adopt `head` atomically (a no-op returning 'same' if it is already current). */
export async function commitAdoption (repo: Repo, adoption: Adoption): Promise<Verdict> {
  const { head } = adoption
  return await repo.headLock.run(async () => {
    const previous = await repo.head(head.publisher)
    const verdict = await judgeFor(repo, head)
    if (verdict === 'same') {
      if (adoption.staged !== undefined) await repo.blobs.removeStaging(adoption.staged.id)
      return verdict
    }
    const time = Date.now()
    const batch = repo.db.level.batch()
    for (const node of adoption.nodes) batch.put(node.cid.toString(), node.bytes, { sublevel: repo.db.nodes })
    batch.put(head.publisher, head.bytes, { sublevel: repo.db.heads })
    batch.put(`${head.publisher}/${seqKey(head.seq)}`, head.bytes, { sublevel: repo.db.history })
    batch.put(repo.nextAuditKey(), { time, event: 'adopt-head', publisher: head.publisher, seq: head.seq, head: head.cid.toString(), root: head.root?.toString() ?? null, previousSeq: previous?.seq ?? null, source: adoption.source }, { sublevel: repo.db.audit })
    if (adoption.staged !== undefined) batch.put(adoption.staged.id, { moves: adoption.staged.moves }, { sublevel: repo.db.pending })
    await batch.write()
    if (adoption.staged !== undefined) await repo.finishMoves(adoption.staged.id, { moves: adoption.staged.moves })
    repo.emit('head', head)
    return verdict
  })
}
