/**
 * The rules for adopting a publisher's head: only trusted keys (signatures are checked when a head
 * is opened), never a lower seq (rollback), never a second head for a seq already seen (fork).
 */
import { ForkError, RollbackError, UntrustedKeyError } from '../util/errors.ts'
import type { SignedHead } from './head.ts'
import { sameCid } from '../store/cid.ts'

/** What a node knows when it judges a candidate head. */
export interface AdoptionContext {
  /** Whether the candidate's publisher is on the trust list. */
  trusted: boolean
  /** The publisher's current head here, if any. */
  current?: SignedHead
  /** The head this node once held at the candidate's seq, if any. */
  seenAtSeq?: SignedHead
}

/** `adopt`: a newer head to take; `same`: the current head again (a harmless no-op). */
export type Verdict = 'adopt' | 'same'

/** Judge a head whose signature is already verified; throws a named error for each refusal. */
export function judgeHead (candidate: SignedHead, context: AdoptionContext): Verdict {
  const { current, seenAtSeq } = context
  if (!context.trusted) {
    throw new UntrustedKeyError(`head ${candidate.seq} is signed by ${candidate.publisher}, which this node does not trust: if you trust that publisher, run "mirrormesh key trust ${candidate.publisher}"`)
  }
  if (seenAtSeq !== undefined && !sameCid(seenAtSeq.cid, candidate.cid)) {
    throw new ForkError(`publisher ${candidate.publisher} signed two different heads with seq ${candidate.seq} (${seenAtSeq.cid.toString()} and ${candidate.cid.toString()}): refusing both the new one and any further change until an operator investigates the key`)
  }
  if (current === undefined) return 'adopt'
  if (candidate.seq < current.seq) {
    throw new RollbackError(`head ${candidate.seq} of ${candidate.publisher} is older than the held head ${current.seq}: refusing to roll back`)
  }
  if (candidate.seq === current.seq) {
    if (sameCid(candidate.cid, current.cid)) return 'same'
    throw new ForkError(`publisher ${candidate.publisher} signed two different heads with seq ${candidate.seq} (${current.cid.toString()} held, ${candidate.cid.toString()} offered)`)
  }
  if (candidate.seq === current.seq + 1 && (candidate.parent === null || !sameCid(candidate.parent, current.cid))) {
    throw new ForkError(`head ${candidate.seq} of ${candidate.publisher} does not follow the held head ${current.seq} (${current.cid.toString()}): the publisher's history has forked`)
  }
  return 'adopt'
}
