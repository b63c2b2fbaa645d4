/**
 * The node's metadata database (LevelDB via `level`): catalog nodes, heads, trust, pins, the audit
 * log. One process at a time may open it; a second gets StoreLockedError (the CLI then talks to
 * the running node instead).
 */
import { Level } from 'level'
import { StoreLockedError } from '../util/errors.ts'

type Bytes = Uint8Array
type Json = Record<string, unknown>

/** The sublevels, by what they hold. Keys are strings; see docs/architecture.md for the layout. */
export class Database {
  readonly level: Level<string, Bytes>
  /** `<node CID>` → dag-cbor catalog node */
  readonly nodes
  /** `<publisher>` → signed head bytes: the head currently adopted */
  readonly heads
  /** `<publisher>/<seq, 16 digits>` → signed head bytes: every head ever adopted */
  readonly history
  /** `<publisher>` → { name, added } */
  readonly trust
  /** `<blob CID>` → {} : blobs this node must keep (imported, or mirrored under `--replicate full`) */
  readonly pins
  /** `<blob CID>` → { atime } : last use of a cached blob, for LRU eviction */
  readonly access
  /** `<16-digit counter>` → audit event */
  readonly audit
  /** `<publisher>/<seq>` → { offered, held, time } : forks seen */
  readonly forks
  /** `<import id>` → { moves: [[staged file, blob CID]] } : committed imports whose blobs are being moved into place */
  readonly pending
  /** misc settings */
  readonly config

  constructor (path: string) {
    this.level = new Level<string, Bytes>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
    this.nodes = this.level.sublevel<string, Bytes>('node', { valueEncoding: 'view' })
    this.heads = this.level.sublevel<string, Bytes>('head', { valueEncoding: 'view' })
    this.history = this.level.sublevel<string, Bytes>('hist', { valueEncoding: 'view' })
    this.trust = this.level.sublevel<string, Json>('trust', { valueEncoding: 'json' })
    this.pins = this.level.sublevel<string, Json>('pin', { valueEncoding: 'json' })
    this.access = this.level.sublevel<string, Json>('atime', { valueEncoding: 'json' })
    this.audit = this.level.sublevel<string, Json>('audit', { valueEncoding: 'json' })
    this.forks = this.level.sublevel<string, Json>('fork', { valueEncoding: 'json' })
    this.pending = this.level.sublevel<string, Json>('pending', { valueEncoding: 'json' })
    this.config = this.level.sublevel<string, Json>('config', { valueEncoding: 'json' })
  }

  /** Open, turning LevelDB's lock error into one that says what to do. */
  async open (): Promise<void> {
    try {
      await this.level.open()
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      if ((err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN' && (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(String(cause)))) {
        throw new StoreLockedError(`the store at ${this.level.location} is in use by another mirrormesh process; stop it, or run this command while it serves so the CLI can go through it`, { cause: err })
      }
      throw err
    }
  }

  async close (): Promise<void> {
    await this.level.close()
  }
}

/** Sequence numbers as fixed-width keys, so that key order is numeric order. */
export function seqKey (seq: number): string {
  return seq.toString().padStart(16, '0')
}
