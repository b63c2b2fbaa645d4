/** How a CLI command reaches a home: through the serving node if there is one, else by opening it. */
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import type { Args } from '../node/operations.ts'
import { Progress } from './progress.ts'

/** Options every command takes. */
export interface GlobalOptions {
  home?: string
  json?: boolean
}

/** The home directory: --home, else $MIRRORMESH_HOME, else ~/.mirrormesh. */
export function resolveHome (options: GlobalOptions): string {
  return resolve(options.home ?? process.env.MIRRORMESH_HOME ?? resolve(homedir(), '.mirrormesh'))
}

/** Run an operation on the home, with a progress bar on a terminal. */
export async function runOperation (options: GlobalOptions, op: string, args: Args): Promise<unknown> {
  const home = resolveHome(options)
  // Loaded on demand: `--help` and quick commands stay fast.
  const { callControl, controlSocketPath, isServing } = await import('../node/control.ts')
  const progress = new Progress(options.json !== true)
  try {
    if (await isServing(controlSocketPath(home))) {
      return await callControl(home, op, args, (phase, done, total) => progress.update(phase, done, total))
    }
    const { operations } = await import('../node/operations.ts')
    const { Repo } = await import('../node/repo.ts')
    const repo = await Repo.open(home)
    const abort = new AbortController()
    const onSignal = (): void => abort.abort()
    process.once('SIGINT', onSignal)
    try {
      const operation = operations[op]
      if (operation === undefined) throw new Error(`unknown operation ${op}`)
      return await operation(repo, args, (phase, done, total) => progress.update(phase, done, total), abort.signal)
    } finally {
      process.off('SIGINT', onSignal)
      await repo.close()
    }
  } finally {
    progress.stop()
  }
}
