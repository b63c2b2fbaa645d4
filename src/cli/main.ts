/** The `mirrormesh` command line. */
import { Command, CommanderError } from 'commander'
import { MirrormeshError } from '../util/errors.ts'
import { registerBundle } from './commands/bundle.ts'
import { registerKey } from './commands/key.ts'
import { registerServe } from './commands/serve.ts'
import { registerSetup } from './commands/setup.ts'
import { registerStore } from './commands/store.ts'
import { registerTransfer } from './commands/transfer.ts'

const program = new Command('mirrormesh')
  .description('peer-to-peer package mirror for Cargo crates and Homebrew bottles: signed, content-addressed, shared across the LAN')
  .version('0.1.0')
  .option('--home <dir>', 'node home (default: $MIRRORMESH_HOME or ~/.mirrormesh)')
  .option('--json', 'machine-readable output')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()

registerServe(program)
registerKey(program)
registerBundle(program)
registerTransfer(program)
registerStore(program)
registerSetup(program)
program.addHelpText('after', '\nQuick start:\n  mirrormesh serve                 run a node and its gateway on http://127.0.0.1:7680\n  mirrormesh setup                 print the cargo and brew settings for this node\n\nExit codes: 0 ok, 1 failed or refused, 2 usage error, 3 fsck found problems.')

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2
  } else if (err instanceof MirrormeshError) {
    if (program.opts().json === true) process.stdout.write(JSON.stringify({ error: { name: err.name, message: err.message } }, null, 2) + '\n')
    process.stderr.write(`mirrormesh: ${err.message}\n`)
    process.exitCode = err.exitCode
  } else {
    const e = err as Error
    process.stderr.write(`mirrormesh: unexpected error: ${e.message}\n${process.env.MIRRORMESH_DEBUG === '1' ? (e.stack ?? '') + '\n' : '(set MIRRORMESH_DEBUG=1 for a stack trace)\n'}`)
    process.exitCode = 1
  }
}
