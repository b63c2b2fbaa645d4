/** Helpers for multi-process mesh tests: nodes as real `mirrormesh serve` processes on loopback. */
import { cli, startServe } from './cli.ts'

/** A running node process. */
export interface FleetNode {
  home: string
  gateway: string
  peerId: string
  addrs: string[]
  stop: () => Promise<number | null>
  kill: () => void
  stderr: () => string
}

/** Start `mirrormesh serve` on loopback with ephemeral ports and no mDNS. */
export async function startNode (home: string, extra: string[] = []): Promise<FleetNode> {
  const node = await startServe(['--home', home, '--gateway', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-plane', '127.0.0.1:0', '--no-mdns', ...extra])
  const ready = node.ready as unknown as { gateway: string, peerId: string, addrs: string[] }
  return { home, gateway: ready.gateway, peerId: ready.peerId, addrs: ready.addrs, stop: node.stop, kill: () => node.child.kill('SIGKILL'), stderr: node.stderr }
}

/** Trust `publisher` in `home` (through the CLI, as a user would). */
export async function trust (home: string, publisher: string): Promise<void> {
  const r = await cli(['--home', home, 'key', 'trust', publisher])
  if (r.code !== 0) throw new Error(r.stderr)
}

/** The node's /api/status. */
export async function status (node: FleetNode): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${node.gateway}/api/status`)
  return await res.json() as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Poll `check` until it returns true, or fail after `timeoutMs` with `what`. */
export async function waitFor (what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`)
}

/** The seq a node holds for `publisher` (or null). */
export async function seqOf (node: FleetNode, publisher: string): Promise<number | null> {
  const s = await status(node)
  return (s.publishers as Array<{ publisher: string, seq: number | null }>).find(p => p.publisher === publisher)?.seq ?? null
}
