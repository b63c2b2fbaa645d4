/**
 * The catalog: every file a client reads (cargo index files, Homebrew API files, bottle manifests)
 * and every package blob (crates, bottles), addressed by a path such as `cargo/index/se/rd/serde`.
 * It is stored as a Merkle DAG (see `node.ts`), so two catalogs diff by walking changed subtrees only.
 */
import type { CID } from '../store/cid.ts'

/**
 * `meta`: a metadata file a client reads; always travels with its head.
 * `blob`: a package artifact (a `.crate`, a bottle); replicated according to policy.
 */
export type EntryKind = 'meta' | 'blob'

/** One leaf of the catalog. */
export interface CatalogEntry {
  kind: EntryKind
  /** CIDv1 raw sha2-256 of the content. */
  cid: CID
  /** Size of the content in bytes. */
  size: number
  /** When this content last changed at this path (ms since epoch); gateways send it as Last-Modified. */
  mtime: number
  /**
   * For content larger than one chunk (CHUNK_SIZE): the sha256 of each chunk, concatenated. Signed
   * with the catalog, so a peer can verify and share a large blob chunk by chunk while it arrives.
   */
  chunks?: Uint8Array
}

/** Where new content for a draft comes from: a local file (streamed, never fully buffered) or bytes. */
export type EntrySource = { file: string } | { bytes: Uint8Array }

/**
 * A catalog being built for a bundle: the base catalog plus pending changes. Ecosystem builders
 * (`src/cargo`, `src/homebrew`) fill it from local files.
 */
export interface CatalogDraft {
  /** The entry at `path`, from the pending changes or else the base catalog. */
  get (path: string): Promise<CatalogEntry | undefined>
  /** The content of a `meta` entry at `path` (pending or base), or undefined if there is none. */
  read (path: string): Promise<Uint8Array | undefined>
  /** Every path (pending and base) that starts with `prefix`, sorted. */
  list (prefix: string): AsyncIterable<[string, CatalogEntry]>
  /** Add or replace the entry at `path`; a file source is hashed as a stream. */
  put (path: string, kind: EntryKind, source: EntrySource): Promise<CatalogEntry>
  /** Remove the entry at `path`. */
  delete (path: string): Promise<void>
}
