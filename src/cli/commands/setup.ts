/** `mirrormesh setup`: the exact client settings for this node's gateway. */
import type { Command } from 'commander'
import { clientSetup } from '../../gateway/setup.ts'
import { emit, globals } from '../output.ts'

/** Register `setup`. */
export function registerSetup (program: Command): void {
  program.command('setup')
    .description('print the cargo config and brew environment variables that point clients at this node')
    .option('--gateway <url>', 'the gateway address clients use', 'http://127.0.0.1:7680')
    .action((opts: { gateway: string }, command: Command) => {
      const setup = clientSetup(opts.gateway)
      emit(globals(command), setup, s => `# ~/.cargo/config.toml\n${s.cargoConfig}\n# shell profile, for Homebrew\n${s.brewEnv}`)
    })
}
