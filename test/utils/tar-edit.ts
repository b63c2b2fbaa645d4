/** Rewriting bundle tar files entry by entry, to build malformed and hostile bundles for fault tests. */
import { readFile, writeFile } from 'node:fs/promises'
import tar from 'tar-stream'

/** One tar entry in memory. */
export interface RawEntry {
  name: string
  type: 'file' | 'directory' | 'symlink'
  body: Buffer
}

/** Every entry of a tar file. */
export async function readEntries (file: string): Promise<RawEntry[]> {
  const extract = tar.extract()
  const done = (async () => {
    const out: RawEntry[] = []
    for await (const entry of extract) {
      const chunks: Buffer[] = []
      for await (const chunk of entry) chunks.push(chunk as Buffer)
      out.push({ name: entry.header.name, type: (entry.header.type ?? 'file') as RawEntry['type'], body: Buffer.concat(chunks) })
    }
    return out
  })()
  extract.end(await readFile(file))
  return await done
}

/** Write entries as a tar file. */
export async function writeEntries (file: string, entries: RawEntry[]): Promise<void> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  const done = (async () => { for await (const chunk of pack) chunks.push(chunk as Buffer) })()
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ name: e.name, type: e.type, size: e.type === 'file' ? e.body.length : 0, linkname: e.type === 'symlink' ? '/etc/passwd' : undefined }, e.type === 'file' ? e.body : Buffer.alloc(0), err => err != null ? reject(err) : resolve())
    })
  }
  pack.finalize()
  await done
  await writeFile(file, Buffer.concat(chunks))
}

/** Flip bits of one byte in place (tests of tampering). */
export function flipByte (bytes: Uint8Array, at: number, mask = 0x01): void {
  bytes[at] = (bytes[at] ?? 0) ^ mask
}
