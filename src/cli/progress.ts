/** Progress bars on stderr, only when it is a terminal (never in --json mode or in logs). */
import cliProgress from 'cli-progress'

/** A bar per phase; byte totals are shown as MiB. */
export class Progress {
  readonly #enabled: boolean
  #bar: cliProgress.SingleBar | undefined
  #phase = ''

  constructor (enabled: boolean) {
    this.#enabled = enabled && process.stderr.isTTY === true
  }

  update (phase: string, done: number, total: number): void {
    if (!this.#enabled) return
    const bytes = total > 1 << 20
    const scale = bytes ? 1 << 20 : 1
    if (phase !== this.#phase) {
      this.#bar?.stop()
      this.#phase = phase
      this.#bar = new cliProgress.SingleBar({
        stream: process.stderr,
        format: `${phase.padEnd(14).slice(0, 40)} [{bar}] {percentage}% {value}/{total}${bytes ? ' MiB' : ''} {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true
      }, cliProgress.Presets.shades_classic)
      this.#bar.start(Math.max(1, Math.round(total / scale)), 0)
    }
    this.#bar?.setTotal(Math.max(1, Math.round(total / scale)))
    this.#bar?.update(Math.round(done / scale))
  }

  stop (): void {
    this.#bar?.stop()
    this.#bar = undefined
  }
}
