/** `mirrormesh bundle verify`: check a bundle offline — its signature and every hash — without storing anything. */
import { verifyStream } from '../store/sinks.ts'
import { readBundleFile } from './reader.ts'

/** What a verified bundle holds. */
export interface VerifyReport {
  file: string
  publisher: string
  seq: number
  time: number
  head: string
  parent: string | null
  root: string | null
  base: string | null
  nodes: number
  blobs: number
  blobBytes: number
  /** Catalog nodes the bundle relies on the receiver holding (non-zero only for deltas). */
  externalNodes: number
  /** Whether the publisher is on the given trust list (undefined when none was given). */
  trusted?: boolean
}

/** Read the whole bundle, checking the signature and every hash; throws a named error on the first problem. */
export async function verifyBundle (file: string, options: { trusted?: string[], onProgress?: (read: number, total: number) => void, signal?: AbortSignal } = {}): Promise<VerifyReport> {
  const result = await readBundleFile(file, {
    signal: options.signal,
    onProgress: options.onProgress,
    onBlob: async blob => { await verifyStream(blob.stream, blob.cid, blob.size) }
  })
  const { head } = result
  return {
    file,
    publisher: head.publisher,
    seq: head.seq,
    time: head.time,
    head: head.cid.toString(),
    parent: head.parent?.toString() ?? null,
    root: head.root?.toString() ?? null,
    base: result.base?.toString() ?? null,
    nodes: result.nodes.length,
    blobs: result.blobs.length,
    blobBytes: result.blobs.reduce((sum, b) => sum + b.size, 0),
    externalNodes: result.externalNodes.length,
    trusted: options.trusted === undefined ? undefined : options.trusted.includes(head.publisher)
  }
}
