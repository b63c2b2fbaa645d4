/** Ending a request with an HTTP error status (typed `never`, unlike `ctx.throw`, so TypeScript narrows after it). */

/** An error whose status and message the client sees. */
export class HttpError extends Error {
  readonly status: number
  readonly expose = true
  constructor (status: number, message: string) {
    super(message)
    this.name = 'HttpError'
    this.status = status
  }
}

/** Throw an HTTP error. */
export function fail (status: number, message: string): never {
  throw new HttpError(status, message)
}
