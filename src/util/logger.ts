/** Scoped loggers (pino): one per component, JSON lines on stderr; level from MIRRORMESH_LOG (default info). */
import { pino, type Logger } from 'pino'

const root = pino({ level: process.env.MIRRORMESH_LOG ?? 'info', base: undefined }, pino.destination(2))

/** A logger for one component, e.g. `logger('gateway')`. */
export function logger (component: string): Logger {
  return root.child({ component })
}

export type { Logger }
