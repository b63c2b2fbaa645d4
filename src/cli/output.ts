/** Printing results: JSON for scripts (--json), short human text otherwise. */
import type { Command } from 'commander'
import type { GlobalOptions } from './context.ts'

/** The global options, as seen from any subcommand. */
export function globals (command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>()
}

/** Print `result` as JSON or through `human`. */
export function emit<T> (options: GlobalOptions, result: T, human: (result: T) => string): void {
  if (options.json === true) process.stdout.write(JSON.stringify(result, null, 2) + '\n')
  else {
    const text = human(result)
    if (text !== '') process.stdout.write(text.endsWith('\n') ? text : text + '\n')
  }
}

/** Bytes as a short human string. */
export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/** A timestamp (ms) as ISO text. */
export function formatTime (ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString()
}
