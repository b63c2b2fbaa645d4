/** What the gateway needs from the node: catalog lookups and blob bytes (local, or fetched from peers). */
import type { FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import type { CatalogEntry } from '../catalog/interface.ts'
import type { CID } from '../store/cid.ts'

/** A byte range, inclusive at both ends (as HTTP and fs streams count). */
export interface ByteRange {
  start: number
  end: number
}

/** The content a gateway serves. */
export interface GatewayContent {
  /** The catalog entry at a path in the current heads, or undefined. */
  lookup (path: string): Promise<CatalogEntry | undefined>
  /** Size and mtime of a blob this node can serve by CID alone (held, or findable on the mesh). */
  stat (cid: CID): Promise<{ size: number, mtime: number } | undefined>
  /**
   * A stream of a blob's bytes (or a range of them). Bytes fetched from peers are verified; if
   * verification fails mid-stream the stream errors, and the gateway aborts the response.
   */
  open (cid: CID, size: number, range?: ByteRange): Promise<Readable>
  /**
   * The blob as an open file when this node holds it (undefined otherwise): the gateway sends it
   * through reused buffers, much cheaper than a stream. The caller closes it. Counts as a hit.
   */
  openFile? (cid: CID): Promise<FileHandle | undefined>
  /** A small metadata file in memory (cached). */
  read (entry: CatalogEntry): Promise<Uint8Array>
}

/** Facts for `/api/status` and the status page. */
export interface GatewayStatusSource {
  status (): Promise<Record<string, unknown>>
}
