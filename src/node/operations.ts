/**
 * The operations the CLI offers on a home. Each takes plain JSON arguments (absolute paths), so the
 * same call runs in the CLI's own process or, when a node is serving, inside it via the control API.
 */
import { createBundle } from '../bundle/create.ts'
import { exportDelta } from '../bundle/export.ts'
import { importBundle, type ImportResult } from '../bundle/import.ts'
import { verifyBundle } from '../bundle/verify.ts'
import { readBundleHead } from '../bundle/reader.ts'
import { formatPublicKey, parsePublicKey, readKeyFile } from '../trust/keys.ts'
import { MirrormeshError, UsageError } from '../util/errors.ts'
import { fsck } from './fsck.ts'
import { gc } from './gc.ts'
import type { Repo } from './repo.ts'
import { repoStatus } from './status.ts'

/** Progress reports an operation emits: a phase, and work done of a total (bytes or items). */
export type Progress = (phase: string, done: number, total: number) => void

/** Arguments: JSON values only. */
export type Args = Record<string, unknown>

/** An operation on an open repo. */
export type Operation = (repo: Repo, args: Args, progress: Progress, signal?: AbortSignal) => Promise<unknown>

const str = (args: Args, name: string): string => {
  const value = args[name]
  if (typeof value !== 'string' || value === '') throw new UsageError(`missing ${name}`)
  return value
}
const optStr = (args: Args, name: string): string | undefined => typeof args[name] === 'string' ? args[name] : undefined

/** Bundles in seq order, so `import *.mmb` applies deltas in the order they were made. */
async function oldestFirst (files: string[]): Promise<string[]> {
  const keyed = await Promise.all(files.map(async (file, index) => {
    try {
      const { head } = await readBundleHead(file)
      return { file, index, key: [head.publisher, head.seq] as const }
    } catch {
      return { file, index, key: undefined } // unreadable: its import reports why, in its place
    }
  }))
  // Publishers keep the order they first appear in; within one, lower seq first.
  const firstSeen = new Map<string, number>()
  for (const k of keyed) if (k.key !== undefined && !firstSeen.has(k.key[0])) firstSeen.set(k.key[0], k.index)
  const rank = (k: typeof keyed[number]): [number, number, number] => k.key === undefined ? [k.index, 0, k.index] : [firstSeen.get(k.key[0]) ?? k.index, k.key[1], k.index]
  return keyed.sort((a, b) => {
    const [x, y] = [rank(a), rank(b)]
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
  }).map(k => k.file)
}

/** Every operation, by the name the control API uses. */
export const operations: Record<string, Operation> = {
  'key.trust': async (repo, args) => {
    const publisher = formatPublicKey(parsePublicKey(str(args, 'publisher')))
    const name = optStr(args, 'name') ?? ''
    const added = await repo.trust(publisher, name)
    return { publisher, name, added }
  },
  'key.untrust': async (repo, args) => {
    const publisher = formatPublicKey(parsePublicKey(str(args, 'publisher')))
    if (!await repo.untrust(publisher)) throw new UsageError(`${publisher} is not on the trust list ("mirrormesh key list" shows it)`)
    return { publisher, removed: true }
  },
  'key.list': async repo => {
    const out = []
    for (const item of await repo.trusted()) out.push({ ...item, seq: (await repo.head(item.publisher))?.seq ?? null })
    return out
  },
  'bundle.create': async (repo, args, progress, signal) => await createBundle(repo, {
    key: await readKeyFile(str(args, 'key')),
    out: str(args, 'out'),
    crates: optStr(args, 'crates'),
    cargoIndex: optStr(args, 'cargoIndex'),
    bottles: optStr(args, 'bottles'),
    homebrewApi: optStr(args, 'homebrewApi'),
    base: optStr(args, 'base'),
    onProgress: progress,
    signal
  }),
  'bundle.verify': async (repo, args, progress, signal) => await verifyBundle(str(args, 'file'), {
    trusted: (await repo.trusted()).map(t => t.publisher),
    onProgress: (done, total) => progress('verify', done, total),
    signal
  }),
  import: async (repo, args, progress, signal) => {
    const files = args.files
    if (!Array.isArray(files) || files.length === 0 || !files.every(f => typeof f === 'string')) throw new UsageError('import needs at least one bundle file')
    const results: Array<ImportResult | { file: string, error: { name: string, message: string } }> = []
    for (const file of await oldestFirst(files as string[])) {
      try {
        results.push(await importBundle(repo, file, { onProgress: (done, total) => progress(`import ${file}`, done, total), signal }))
      } catch (err) {
        if (!(err instanceof MirrormeshError) || args.keepGoing !== true) throw err
        results.push({ file, error: { name: err.name, message: err.message } })
      }
    }
    return results
  },
  export: async (repo, args, progress) => await exportDelta(repo, {
    since: Number(args.since),
    out: str(args, 'out'),
    publisher: optStr(args, 'publisher'),
    onProgress: (done, total) => progress('export', done, total)
  }),
  status: async repo => await repoStatus(repo),
  gc: async (repo, args) => await gc(repo, { dryRun: args.dryRun === true }),
  fsck: async (repo, args, progress) => await fsck(repo, { repair: args.repair === true, onProgress: done => progress('fsck', done, 0) }),
  audit: async (repo, args) => {
    const out = []
    for await (const event of repo.auditLog()) out.push(event)
    const limit = Number(args.limit ?? 0)
    return limit > 0 ? out.slice(-limit) : out
  }
}
