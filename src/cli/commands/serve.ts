/** `mirrormesh serve`: run the node and its gateway until SIGINT/SIGTERM. */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { parseHostPort } from '../../gateway/server.ts'
import { clientSetup } from '../../gateway/setup.ts'
import { MirrormeshNode } from '../../node/node.ts'
import { resolveHome } from '../context.ts'
import { globals } from '../output.ts'

interface ServeFlags { gateway: string, watch?: string }

/** Register `serve`. */
export function registerServe (program: Command): void {
  program.command('serve')
    .description('run the node: the local gateway for cargo and brew, the control API for the CLI, and the import watcher')
    .option('--gateway <host:port>', 'where the gateway listens (0.0.0.0:PORT serves the LAN)', '127.0.0.1:7680')
    .option('--watch <dir>', 'import bundles (*.mmb) dropped into DIR, moving them to DIR/done or DIR/failed')
    .action(async (flags: ServeFlags, command: Command) => {
      const options = globals(command)
      const node = await MirrormeshNode.start({
        home: resolveHome(options),
        gateway: parseHostPort(flags.gateway),
        watch: flags.watch === undefined ? undefined : resolve(flags.watch)
      })
      const ready = { gateway: node.gateway.url, home: node.repo.home }
      if (options.json === true) process.stdout.write(JSON.stringify({ ready }) + '\n')
      else process.stdout.write(`mirrormesh is serving ${ready.home}\n  gateway ${ready.gateway}\n\n${clientSetup(ready.gateway).cargoConfig}\n${clientSetup(ready.gateway).brewEnv}\nCtrl-C stops it.\n`)
      // The first signal stops gracefully; repeats (e.g. from the bin shim and a process group) are ignored.
      await new Promise<void>(resolve => {
        process.on('SIGINT', resolve)
        process.on('SIGTERM', resolve)
      })
      await node.stop()
    })
}
