/**
 * `serve --watch DIR`: import bundles dropped into a folder. A file is taken once its size has been
 * stable for one poll (a copy in progress is left alone; `*.partial` never), then moved to `done/`
 * or `failed/` — the latter with `<name>.reason.txt` saying why.
 */
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importBundle, type ImportResult } from '../bundle/import.ts'
import { BUNDLE_EXTENSION } from '../bundle/format.ts'
import { logger } from '../util/logger.ts'
import type { Repo } from './repo.ts'

const log = logger('watch')

/** Outcome of one watched file. */
export type WatchEvent = { file: string, result: ImportResult } | { file: string, error: Error }

/** Polls a directory and imports what lands there. */
export class ImportWatcher {
  readonly #repo: Repo
  readonly #dir: string
  readonly #interval: number
  readonly #sizes = new Map<string, number>()
  readonly #onEvent: ((event: WatchEvent) => void) | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()
  #stopped = false

  constructor (repo: Repo, dir: string, options: { intervalMs?: number, onEvent?: (event: WatchEvent) => void } = {}) {
    this.#repo = repo
    this.#dir = dir
    this.#interval = options.intervalMs ?? 1000
    this.#onEvent = options.onEvent
  }

  async start (): Promise<void> {
    await mkdir(join(this.#dir, 'done'), { recursive: true })
    await mkdir(join(this.#dir, 'failed'), { recursive: true })
    const tick = (): void => {
      this.#running = this.#poll().catch(err => log.error({ err }, 'watch poll failed')).finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#interval)
      })
    }
    tick()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#running
  }

  async #poll (): Promise<void> {
    const names = (await readdir(this.#dir)).filter(n => n.endsWith(BUNDLE_EXTENSION)).sort()
    for (const name of names) {
      if (this.#stopped) return
      const file = join(this.#dir, name)
      const size = (await stat(file).catch(() => undefined))?.size
      if (size === undefined) continue
      if (this.#sizes.get(name) !== size) {
        this.#sizes.set(name, size) // still arriving, or new: look again next poll
        continue
      }
      this.#sizes.delete(name)
      try {
        const result = await importBundle(this.#repo, file)
        await rename(file, join(this.#dir, 'done', name))
        log.info({ file: name, seq: result.seq, verdict: result.verdict, blobs: result.blobs }, 'imported watched bundle')
        this.#onEvent?.({ file: name, result })
      } catch (err) {
        const error = err as Error
        await rename(file, join(this.#dir, 'failed', name))
        await writeFile(join(this.#dir, 'failed', `${name}.reason.txt`), `${error.name}: ${error.message}\n`)
        log.warn({ file: name, error: error.name, reason: error.message }, 'refused watched bundle')
        this.#onEvent?.({ file: name, error })
      }
    }
  }
}
