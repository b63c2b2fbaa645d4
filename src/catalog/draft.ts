/** A catalog under construction: a base catalog plus pending puts and deletes, kept in memory. */
import type { CID } from '../store/cid.ts'
import { cidOfBytes, sameCid } from '../store/cid.ts'
import { chunksOfBytes, hashFile } from '../store/hash.ts'
import type { CatalogDraft, CatalogEntry, EntryKind, EntrySource } from './interface.ts'

/** Read access to an existing catalog, as a draft needs it. */
export interface CatalogReader {
  get (path: string): Promise<CatalogEntry | undefined>
  list (prefix: string): AsyncIterable<[string, CatalogEntry]>
  /** The bytes of a blob held locally. */
  readBlob (cid: CID): Promise<Uint8Array>
}

/** A pending change: the new entry and where its content is, or null for a delete. */
export interface PendingEntry {
  entry: CatalogEntry
  source: EntrySource
}

/** An in-memory draft over an optional base. `changes()` gives what a bundle must carry. */
export class MemoryDraft implements CatalogDraft {
  readonly #base: CatalogReader | undefined
  readonly #pending = new Map<string, PendingEntry | null>()
  readonly #now: number

  constructor (base?: CatalogReader, now: number = Date.now()) {
    this.#base = base
    this.#now = now
  }

  async get (path: string): Promise<CatalogEntry | undefined> {
    const pending = this.#pending.get(path)
    if (pending !== undefined) return pending?.entry
    return await this.#base?.get(path)
  }

  async read (path: string): Promise<Uint8Array | undefined> {
    const pending = this.#pending.get(path)
    if (pending === null) return undefined
    if (pending !== undefined) {
      if ('bytes' in pending.source) return pending.source.bytes
      const { readFile } = await import('node:fs/promises')
      return await readFile(pending.source.file)
    }
    const entry = await this.#base?.get(path)
    if (entry === undefined || this.#base === undefined) return undefined
    return await this.#base.readBlob(entry.cid)
  }

  async * list (prefix: string): AsyncIterable<[string, CatalogEntry]> {
    const merged = new Map<string, CatalogEntry>()
    if (this.#base !== undefined) {
      for await (const [path, entry] of this.#base.list(prefix)) merged.set(path, entry)
    }
    for (const [path, pending] of this.#pending) {
      if (!path.startsWith(prefix)) continue
      if (pending === null) merged.delete(path)
      else merged.set(path, pending.entry)
    }
    yield * [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  }

  async put (path: string, kind: EntryKind, source: EntrySource): Promise<CatalogEntry> {
    const { cid, size, chunks } = 'bytes' in source
      ? { cid: cidOfBytes(source.bytes), size: source.bytes.length, chunks: chunksOfBytes(source.bytes) }
      : await hashFile(source.file)
    const previous = await this.get(path)
    // Keep the old mtime when the content did not change, so Last-Modified stays stable.
    const mtime = previous !== undefined && sameCid(previous.cid, cid) ? previous.mtime : this.#now
    const entry: CatalogEntry = chunks === undefined ? { kind, cid, size, mtime } : { kind, cid, size, mtime, chunks }
    this.#pending.set(path, { entry, source })
    return entry
  }

  async delete (path: string): Promise<void> {
    this.#pending.set(path, null)
  }

  /** The pending changes in path order: an entry with its content source, or null for a delete. */
  changes (): Array<[string, PendingEntry | null]> {
    return [...this.#pending].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  }
}
