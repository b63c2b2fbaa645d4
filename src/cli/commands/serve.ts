/** `mirrormesh serve`: run the node and its gateway until SIGINT/SIGTERM. */
import { resolve } from 'node:path'
import { Option, type Command } from 'commander'
import { parseHostPort } from '../../gateway/server.ts'
import { clientSetup } from '../../gateway/setup.ts'
import { resolveHome } from '../context.ts'
import { globals } from '../output.ts'
import { UsageError } from '../../util/errors.ts'
import { parseSize } from '../../util/size.ts'

interface ServeFlags {
  gateway: string
  watch?: string
  listen: string[]
  bootstrap: string[]
  replicate: string
  swarmKey?: string
  mdns: boolean
  mesh: boolean
  dataPlane: string
  cacheSize: string
  emulateLink?: string
}

const collect = (value: string, previous: string[]): string[] => [...previous, value]

/** `UP:DOWN` in MiB/s (either may be empty: not capped) as bytes/s. */
function parseLink (text: string): { up?: number, down?: number } {
  const match = /^(\d+(?:\.\d+)?)?:(\d+(?:\.\d+)?)?$/.exec(text)
  if (match === null) throw new UsageError(`--emulate-link ${text}: expected UP:DOWN in MiB/s, e.g. 16:16`)
  const rate = (v: string | undefined): number | undefined => v === undefined || Number(v) === 0 ? undefined : Number(v) * 2 ** 20
  return { up: rate(match[1]), down: rate(match[2]) }
}

/** Register `serve`. */
export function registerServe (program: Command): void {
  program.command('serve')
    .description('run the node: the local gateway for cargo and brew, the control API for the CLI, and the import watcher')
    .option('--gateway <host:port>', 'where the gateway listens (0.0.0.0:PORT serves the LAN)', '127.0.0.1:7680')
    .option('--watch <dir>', 'import bundles (*.mmb) dropped into DIR, moving them to DIR/done or DIR/failed')
    .option('--listen <multiaddr>', 'libp2p listen address (repeatable)', collect, [])
    .option('--bootstrap <multiaddr>', 'a peer to connect to, e.g. another node\'s /api/status addrs (repeatable)', collect, [])
    .option('--replicate <policy>', 'full: mirror every blob of the catalog; on-demand: fetch on a gateway miss', 'on-demand')
    .option('--cache-size <size>', 'on-demand: evict least recently used blobs past this size', '20GiB')
    .option('--swarm-key <file>', 'private mesh: only nodes with this key can connect (see "mirrormesh key swarm")')
    .option('--data-plane <host:port>', 'where peers fetch blob bytes (needs a ticket from the mesh)', '0.0.0.0:7682')
    .option('--no-mdns', 'do not discover peers by mDNS (use --bootstrap)')
    .option('--no-mesh', 'serve only this store: no peers')
    // For simulations on loopback (simulations/fleet): cap the data plane as a LAN link would.
    .addOption(new Option('--emulate-link <up:down>', 'cap data-plane uploads and downloads at UP and DOWN MiB/s').hideHelp())
    .addHelpText('after', '\nExamples:\n  mirrormesh serve\n  mirrormesh serve --gateway 0.0.0.0:7680 --replicate full --watch /srv/incoming\n  mirrormesh serve --bootstrap /ip4/10.0.0.5/tcp/7681/p2p/12D3KooW…')
    .action(async (flags: ServeFlags, command: Command) => {
      const options = globals(command)
      // Listen for signals before anything starts, so a stop that arrives early is still graceful.
      // The first signal stops; repeats (e.g. from the bin shim and a process group) are ignored.
      const stopped = new Promise<void>(resolve => {
        process.on('SIGINT', () => resolve())
        process.on('SIGTERM', () => resolve())
      })
      if (flags.replicate !== 'full' && flags.replicate !== 'on-demand') throw new UsageError(`--replicate ${flags.replicate}: expected full or on-demand`)
      const dataPlane = parseHostPort(flags.dataPlane)
      const { MirrormeshNode } = await import('../../node/node.ts')
      const node = await MirrormeshNode.start({
        home: resolveHome(options),
        gateway: parseHostPort(flags.gateway),
        watch: flags.watch === undefined ? undefined : resolve(flags.watch),
        mesh: flags.mesh
          ? {
              listen: flags.listen.length > 0 ? flags.listen : ['/ip4/0.0.0.0/tcp/7681'],
              bootstrap: flags.bootstrap,
              mdns: flags.mdns,
              swarmKeyFile: flags.swarmKey === undefined ? undefined : resolve(flags.swarmKey),
              dataPlane,
              replicate: flags.replicate,
              cacheBytes: parseSize(flags.cacheSize, '--cache-size'),
              link: flags.emulateLink === undefined ? undefined : parseLink(flags.emulateLink)
            }
          : undefined
      })
      const ready = { gateway: node.gateway.url, home: node.repo.home, peerId: node.mesh?.host.peerId.toString() ?? null, addrs: node.mesh?.host.getMultiaddrs().map(String) ?? [] }
      if (options.json === true) process.stdout.write(JSON.stringify({ ready }) + '\n')
      else process.stdout.write(`mirrormesh is serving ${ready.home}\n  gateway ${ready.gateway}\n${ready.addrs.map(a => `  peer    ${a}\n`).join('')}\n${clientSetup(ready.gateway).cargoConfig}\n${clientSetup(ready.gateway).brewEnv}\nCtrl-C stops it.\n`)
      await stopped
      await node.stop()
    })
}
