/** Streaming sha256 of files and byte streams, yielding blob CIDs. */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import type { CID } from './cid.ts'
import { cidFromSha256 } from './cid.ts'

/** CID and size of a file, hashed as a stream. */
export async function hashFile (path: string, signal?: AbortSignal): Promise<{ cid: CID, size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { cid: cidFromSha256(hash.digest()), size }
}
