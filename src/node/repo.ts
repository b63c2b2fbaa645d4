/**
 * A node's home on disk: the blob store, the metadata database, and the operations that keep the
 * two consistent (recovery of interrupted imports, heads, trust, audit log).
 *
 *   <home>/blobs/   blob files (see BlobStore)
 *   <home>/db/      LevelDB (see Database)
 */
import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { BlobStore } from '../store/blob-store.ts'
import type { CID } from '../store/cid.ts'
import { Database, seqKey } from '../store/database.ts'
import type { NodeStore } from '../catalog/node-store.ts'
import type { CatalogReader } from '../catalog/draft.ts'
import type { CatalogEntry } from '../catalog/interface.ts'
import { getEntry, listPrefix } from '../catalog/tree.ts'
import { openSignedHead, type SignedHead } from '../trust/head.ts'
import { NotFoundError } from '../util/errors.ts'
import { Mutex } from '../util/mutex.ts'

/** One line of the audit log. */
export interface AuditEvent {
  time: number
  event: 'adopt-head' | 'import' | 'trust' | 'untrust' | 'gc' | 'evict'
  [field: string]: unknown
}

/** A staged import's blob moves, recorded in the same batch that adopts its head. */
export interface PendingMoves {
  /** [file name in the import's staging dir, blob CID] */
  moves: Array<[string, string]>
}

/** Catalog nodes in the database. */
class LevelNodeStore implements NodeStore {
  readonly #db: Database
  constructor (db: Database) { this.#db = db }

  async get (cid: CID): Promise<Uint8Array> {
    const bytes = await this.#db.nodes.get(cid.toString())
    if (bytes === undefined) throw new NotFoundError(`catalog node ${cid.toString()} is not held`)
    return bytes
  }

  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    await this.#db.nodes.put(cid.toString(), bytes)
  }

  async has (cid: CID): Promise<boolean> {
    return (await this.#db.nodes.get(cid.toString())) !== undefined
  }
}

/** Events a repo emits: `head` when a publisher's head is adopted. */
interface RepoEvents {
  head: [SignedHead]
}

/** An open home. Only one process may hold it open (LevelDB's lock). */
export class Repo extends EventEmitter<RepoEvents> {
  readonly home: string
  readonly blobs: BlobStore
  readonly db: Database
  readonly nodes: NodeStore
  /** Serialises head adoption (imports, heads from peers). */
  readonly headLock = new Mutex()
  #auditSeq = 0
  /** The last head opened per publisher, with the stored bytes it was opened from (see head()). */
  readonly #openedHeads = new Map<string, { bytes: Uint8Array, head: Promise<SignedHead> }>()
  #trusted: Promise<Array<{ publisher: string, name: string, added: number }>> | undefined

  private constructor (home: string) {
    super()
    this.home = home
    this.blobs = new BlobStore(join(home, 'blobs'))
    this.db = new Database(join(home, 'db'))
    this.nodes = new LevelNodeStore(this.db)
  }

  /** Open (creating if needed) the home, and finish or undo whatever a crash interrupted. */
  static async open (home: string): Promise<Repo> {
    await mkdir(home, { recursive: true, mode: 0o700 })
    const repo = new Repo(home)
    await repo.db.open()
    try {
      await repo.blobs.open()
      await repo.#recover()
      for await (const key of repo.db.audit.keys({ reverse: true, limit: 1 })) repo.#auditSeq = Number(key)
    } catch (err) {
      await repo.db.close()
      throw err
    }
    return repo
  }

  async close (): Promise<void> {
    await this.db.close()
  }

  /**
   * An import commits by one database batch that also records its pending blob moves; the moves
   * happen after. Redo the moves of committed imports; drop staging dirs of uncommitted ones.
   */
  async #recover (): Promise<void> {
    const committed = new Set<string>()
    for await (const [id, value] of this.db.pending.iterator()) {
      await this.finishMoves(id, value as unknown as PendingMoves)
      committed.add(id)
    }
    for (const dir of await this.blobs.stagingDirs()) {
      if (!committed.has(dir)) await this.blobs.removeStaging(dir)
    }
  }

  /** Move an import's staged blobs into place (idempotent), then forget the record. */
  async finishMoves (id: string, pending: PendingMoves): Promise<void> {
    await this.blobs.publishStaged(id, pending.moves)
    await this.db.pending.del(id)
    await this.blobs.removeStaging(id)
  }

  /** The head currently adopted for a publisher. */
  async head (publisher: string): Promise<SignedHead | undefined> {
    const bytes = await this.db.heads.get(publisher)
    if (bytes === undefined) return undefined
    // Its signature was checked when these exact bytes were opened: every gateway lookup reads the
    // heads, and an Ed25519 verification per lookup was the top of the gateway's profile.
    // Concurrent callers share one check: a new head is read by many at once (every peer pushes it).
    const known = this.#openedHeads.get(publisher)
    if (known !== undefined && Buffer.from(known.bytes).equals(bytes)) return await known.head
    const head = openSignedHead(bytes)
    this.#openedHeads.set(publisher, { bytes, head })
    head.catch(() => { if (this.#openedHeads.get(publisher)?.head === head) this.#openedHeads.delete(publisher) })
    return await head
  }

  /** The head once adopted at `seq`. */
  async headAt (publisher: string, seq: number): Promise<SignedHead | undefined> {
    const bytes = await this.db.history.get(`${publisher}/${seqKey(seq)}`)
    return bytes === undefined ? undefined : await openSignedHead(bytes)
  }

  /** Every adopted head of a publisher, oldest first. */
  async * history (publisher: string): AsyncGenerator<SignedHead> {
    for await (const bytes of this.db.history.values({ gt: `${publisher}/`, lt: `${publisher}/~` })) yield await openSignedHead(bytes)
  }

  /** The current heads, in the order their publishers were trusted. */
  async heads (): Promise<SignedHead[]> {
    const out: SignedHead[] = []
    for (const { publisher } of await this.trusted()) {
      const head = await this.head(publisher)
      if (head !== undefined) out.push(head)
    }
    return out
  }

  /** Record a fork (two heads, one seq). Kept apart from the audit log: a refused head changes nothing else. */
  async recordFork (offered: SignedHead, held: SignedHead | undefined): Promise<void> {
    await this.db.forks.put(`${offered.publisher}/${seqKey(offered.seq)}/${offered.cid.toString()}`, {
      time: Date.now(), publisher: offered.publisher, seq: offered.seq, offered: offered.cid.toString(), held: held?.cid.toString() ?? null
    })
  }

  /**
   * The trust list, oldest first. Kept in memory once read (changes go through `trust` and
   * `untrust`): every heads() call needs it, and a LevelDB scan per call was a visible part of a
   * busy replica's CPU.
   */
  async trusted (): Promise<Array<{ publisher: string, name: string, added: number }>> {
    this.#trusted ??= (async () => {
      const out = []
      for await (const [publisher, value] of this.db.trust.iterator()) out.push({ publisher, name: String(value.name ?? ''), added: Number(value.added ?? 0) })
      return out.sort((a, b) => a.added - b.added)
    })()
    const list = this.#trusted
    list.catch(() => { if (this.#trusted === list) this.#trusted = undefined })
    return (await list).map(item => ({ ...item }))
  }

  async isTrusted (publisher: string): Promise<boolean> {
    return (await this.trusted()).some(item => item.publisher === publisher)
  }

  /** Add `publisher` to the trust list (audited); false if it was on it already. */
  async trust (publisher: string, name: string): Promise<boolean> {
    if (await this.isTrusted(publisher)) return false
    const time = Date.now()
    const batch = this.db.level.batch()
    batch.put(publisher, { name, added: time }, { sublevel: this.db.trust })
    batch.put(this.nextAuditKey(), { time, event: 'trust', publisher, name }, { sublevel: this.db.audit })
    await batch.write()
    this.#trusted = undefined // after the write: a read meanwhile would cache the old list
    return true
  }

  /** Take `publisher` off the trust list (audited); false if it was not on it. */
  async untrust (publisher: string): Promise<boolean> {
    if (!await this.isTrusted(publisher)) return false
    const batch = this.db.level.batch()
    batch.del(publisher, { sublevel: this.db.trust })
    batch.put(this.nextAuditKey(), { time: Date.now(), event: 'untrust', publisher }, { sublevel: this.db.audit })
    await batch.write()
    this.#trusted = undefined // after the write: a read meanwhile would cache the old list
    return true
  }

  /** Next audit key: callers put the event in the same batch as the change it records. */
  nextAuditKey (): string {
    return seqKey(++this.#auditSeq)
  }

  /** Append an event on its own. */
  async audit (event: AuditEvent): Promise<void> {
    await this.db.audit.put(this.nextAuditKey(), event)
  }

  /** The audit log, oldest first. */
  async * auditLog (): AsyncGenerator<AuditEvent & { id: number }> {
    for await (const [key, value] of this.db.audit.iterator()) yield { ...(value as unknown as AuditEvent), id: Number(key) }
  }

  /** The catalog of a root, readable as a draft's base. */
  catalogReader (root: CID | null): CatalogReader {
    return {
      get: async path => root === null ? undefined : await getEntry(this.nodes, root, path),
      list: prefix => listPrefix(this.nodes, root ?? undefined, prefix),
      readBlob: async cid => await this.blobs.read(cid)
    }
  }

  /** Find a catalog path in the current heads' catalogs (first trusted publisher first). */
  async lookup (path: string): Promise<{ entry: CatalogEntry, head: SignedHead } | undefined> {
    for (const head of await this.heads()) {
      if (head.root === null) continue
      const entry = await getEntry(this.nodes, head.root, path)
      if (entry !== undefined) return { entry, head }
    }
    return undefined
  }
}
