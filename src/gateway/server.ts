/** Running the gateway's HTTP server: friendly listen errors and a graceful close. */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { MirrormeshError, UsageError } from '../util/errors.ts'

/** Parse `HOST:PORT` (IPv6 as `[::1]:PORT`). */
export function parseHostPort (text: string): { host: string, port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
  const port = Number(match?.[3])
  if (match === null || port > 65535) throw new UsageError(`--gateway ${text}: expected HOST:PORT, e.g. 127.0.0.1:7680 (or 0.0.0.0:7680 to serve the LAN)`)
  return { host: match[1] ?? match[2] ?? '', port }
}

/** How long a graceful close waits for in-flight responses before cutting them off. */
export const CLOSE_GRACE_MS = 30_000

/** A listening gateway. */
export interface RunningGateway {
  server: Server
  url: string
  /** Stop accepting; resolve once in-flight responses finished, or were cut off after `graceMs`. */
  close: (graceMs?: number) => Promise<void>
}

/** Listen on host:port with `handler` (a Koa app's callback); errors become one-line messages that say what to do. */
export async function listenGateway (handler: RequestListener, host: string, port: number): Promise<RunningGateway> {
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 30_000 }, handler)
  server.maxHeadersCount = 100
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new MirrormeshError(`${host}:${port} is already in use (another mirrormesh?): choose another port with --gateway ${host}:PORT`))
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') reject(new MirrormeshError(`cannot listen on ${host}: not an address of this machine`))
      else if (err.code === 'EACCES') reject(new MirrormeshError(`not allowed to listen on ${host}:${port}: use a port above 1023`))
      else reject(err)
    })
    // A fleet of clients connecting at once overflows the default backlog (511): dropped SYNs come back 1 s, 3 s later.
    server.listen({ port, host, backlog: 4096 }, () => resolve())
  })
  const address = server.address() as AddressInfo
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  // While closing, a keep-alive connection that was busy becomes idle when its response ends; Node's
  // server.close() only drops the connections idle at the moment it is called, so without this the
  // close would wait for the keep-alive timeout (65 s) of every client that had a download in flight.
  let closing = false
  server.on('request', (_req, res) => {
    if (closing && !res.headersSent) res.setHeader('Connection', 'close')
    res.once('close', () => { if (closing) setImmediate(() => server.closeIdleConnections()) })
  })
  return {
    server,
    url: `http://${shownHost}:${address.port}`,
    // Stop accepting, let in-flight responses finish, drop keep-alive connections as they go idle.
    // A client that stopped reading must not keep the process alive forever: after the grace period
    // its connection is cut (it sees a truncated body, never a complete-looking wrong one).
    close: async (graceMs = CLOSE_GRACE_MS) => await new Promise<void>(resolve => {
      closing = true
      const timer = setTimeout(() => server.closeAllConnections(), graceMs)
      timer.unref()
      server.close(() => { clearTimeout(timer); resolve() })
      server.closeIdleConnections()
    })
  }
}
