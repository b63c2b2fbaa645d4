/** `mirrormesh import` and `mirrormesh export`: bundles in and out of a home. */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { ExportResult } from '../../bundle/export.ts'
import type { ImportResult } from '../../bundle/import.ts'
import { UsageError } from '../../util/errors.ts'
import { runOperation } from '../context.ts'
import { emit, formatBytes, globals } from '../output.ts'

type ImportLine = ImportResult | { file: string, error: { name: string, message: string } }

/** Register `import` and `export`. */
export function registerTransfer (program: Command): void {
  program.command('import')
    .description('verify bundles completely, then adopt each one atomically (oldest seq first)')
    .argument('<files...>', 'bundle files')
    .option('--keep-going', 'import the other bundles when one is refused (exit code still reports the failure)')
    .action(async (files: string[], opts: { keepGoing?: boolean }, command: Command) => {
      const results = await runOperation(globals(command), 'import', { files: files.map(f => resolve(f)), keepGoing: opts.keepGoing === true }) as ImportLine[]
      emit(globals(command), results, rs => rs.map(r => 'error' in r
        ? `refused ${r.file}: ${r.error.message}`
        : `${r.verdict === 'adopt' ? 'imported' : 'already at'} ${r.file}: seq ${r.seq}${r.previousSeq === null ? '' : ` (was ${r.previousSeq})`}, ${r.blobs} blobs (${formatBytes(r.blobBytes)}), ${r.nodes} catalog nodes`).join('\n'))
      if (results.some(r => 'error' in r)) process.exitCode = 1
    })

  program.command('export')
    .description('write a bundle of what this node holds since a seq it once held (0: everything)')
    .requiredOption('--since <seq>', 'the seq the receiver already has (0 for a full export)')
    .requiredOption('--out <file>', 'bundle file to write')
    .option('--publisher <key>', 'which publisher, when this node follows several')
    .action(async (opts: { since: string, out: string, publisher?: string }, command: Command) => {
      if (!/^\d+$/.test(opts.since)) throw new UsageError('--since takes a seq number (0 for everything)')
      const r = await runOperation(globals(command), 'export', { since: Number(opts.since), out: resolve(opts.out), publisher: opts.publisher }) as ExportResult
      emit(globals(command), r, () => [
        `wrote ${r.out} (${formatBytes(r.bytes)}): seq ${r.since} → ${r.seq} of ${r.publisher}`,
        `  ${r.nodes} catalog nodes, ${r.blobs} blobs (${formatBytes(r.blobBytes)})`,
        ...(r.notCarried > 0 ? [`  ${r.notCarried} blobs not held here are not in the bundle: the receiver fetches them from peers`] : [])
      ].join('\n'))
    })
}
