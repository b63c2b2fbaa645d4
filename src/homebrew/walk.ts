/** Recursive listing of the regular files under a directory, for bundle input. */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BundleInputError } from '../util/errors.ts'

/**
 * Every regular file under `root`, as `/`-separated paths relative to it, sorted. Symlinks to files
 * are followed (a directory of links is a fine input); symlinks to directories are not, so a link
 * loop cannot hang the walk. A missing or unreadable `root` is a BundleInputError naming `what`.
 */
export async function listFiles (root: string, what: string, signal?: AbortSignal): Promise<string[]> {
  try {
    const top = await stat(root)
    if (!top.isDirectory()) throw new BundleInputError(`${what} ${root} is not a directory; pass the directory that holds the files`)
  } catch (err) {
    if (err instanceof BundleInputError) throw err
    throw new BundleInputError(`${what} ${root} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); check the path`, { cause: err })
  }
  const out: string[] = []
  const visit = async (rel: string): Promise<void> => {
    signal?.throwIfAborted()
    const entries = await readdir(join(root, rel), { withFileTypes: true })
    for (const entry of entries) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) await visit(child)
      else if (entry.isFile()) out.push(child)
      else if (entry.isSymbolicLink()) {
        const target = await stat(join(root, child)).catch(() => undefined)
        if (target?.isFile() === true) out.push(child)
      }
    }
  }
  await visit('')
  return out.sort()
}
