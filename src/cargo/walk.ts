/** Listing the files of an input directory, in a stable order. */
import { readdir, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { BundleInputError } from '../util/errors.ts'

/** A file found under a directory: its full path and its path relative to that directory, `/`-separated. */
export interface FoundFile {
  path: string
  rel: string
}

/**
 * Every regular file under `dir` (symlinks followed to files), sorted by relative path. Folders
 * whose name starts with `.` (`.git`, `.github`) are skipped when `skipHidden` is set.
 */
export async function listFiles (dir: string, options: { skipHidden?: boolean } = {}): Promise<FoundFile[]> {
  let dirents
  try {
    dirents = await readdir(dir, { recursive: true, withFileTypes: true })
  } catch (err) {
    throw new BundleInputError(`${dir}: cannot list this directory (${(err as Error).message})`, { cause: err })
  }
  const found: FoundFile[] = []
  for (const d of dirents) {
    const path = join(d.parentPath, d.name)
    const rel = relative(dir, path).split(sep).join('/')
    if (options.skipHidden === true && rel.split('/').slice(0, -1).some((part) => part.startsWith('.'))) continue
    if (d.isFile() || (d.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile() === true)) found.push({ path, rel })
  }
  return found.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
}
