/**
 * Which local process owns the other end of a loopback TCP connection (Linux /proc), so a proxy in
 * front of one node's data plane can charge the bytes to the downloading node's link as well.
 * `/proc/net/tcp` maps the connection's ports to a socket inode; `/proc/<pid>/fd` maps the inode to
 * a process. Only the processes passed in are searched.
 */
import { readFile, readdir, readlink } from 'node:fs/promises'

const hexPort = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0')

/** The inode of the socket bound to `localPort` and connected to `remotePort` (both on 127.0.0.1). */
async function socketInode (localPort: number, remotePort: number): Promise<string | undefined> {
  const table = await readFile('/proc/net/tcp', 'utf8').catch(() => '')
  const local = `0100007F:${hexPort(localPort)}`
  const remote = `0100007F:${hexPort(remotePort)}`
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields[1] === local && fields[2] === remote) return fields[9]
  }
  return undefined
}

/**
 * The pid (among `pids`) holding the client socket `clientPort` → `serverPort`, or undefined
 * (another process, or the connection is already gone).
 */
export async function ownerOf (clientPort: number, serverPort: number, pids: Iterable<number>): Promise<number | undefined> {
  const inode = await socketInode(clientPort, serverPort)
  if (inode === undefined || inode === '0') return undefined
  const target = `socket:[${inode}]`
  const found = await Promise.all([...pids].map(async pid => {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])
    const links = await Promise.all(fds.map(async fd => await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')))
    return links.includes(target) ? pid : undefined
  }))
  return found.find(pid => pid !== undefined)
}
