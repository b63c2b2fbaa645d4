/** `mirrormesh bundle create|verify`. */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { CreateResult } from '../../bundle/create.ts'
import type { VerifyReport } from '../../bundle/verify.ts'
import { runOperation } from '../context.ts'
import { emit, formatBytes, formatTime, globals } from '../output.ts'

interface CreateFlags { key: string, out: string, crates?: string, cargoIndex?: string, bottles?: string, homebrewApi?: string, base?: string }

const abs = (path: string | undefined): string | undefined => path === undefined ? undefined : resolve(path)

/** Register `bundle create` and `bundle verify`. */
export function registerBundle (program: Command): void {
  const bundle = program.command('bundle').description('build and check signed bundles')

  bundle.command('create')
    .description('build a signed bundle (a delta with --base) from local crates, index files, bottles and Homebrew API files')
    .requiredOption('--key <file>', 'publisher key file (from "mirrormesh key new")')
    .requiredOption('--out <file>', 'bundle file to write (conventionally *.mmb)')
    .option('--crates <dir>', '.crate files (index entries are generated from each Cargo.toml)')
    .option('--cargo-index <dir>', 'a crates.io-style index tree whose lines are carried unchanged')
    .option('--bottles <dir>', 'bottle files (and manifests/), checked against --homebrew-api')
    .option('--homebrew-api <dir>', 'Homebrew API files (formula.jws.json, internal/packages.*.jws.json, …)')
    .option('--base <bundleOrHead>', 'build a delta on this bundle file, head CID or seq (created or imported in this home)')
    .addHelpText('after', '\nExample:\n  mirrormesh bundle create --key publisher.key --crates ./crates --out crates-1.mmb\n  mirrormesh bundle create --key publisher.key --crates ./more --base crates-1.mmb --out crates-2.mmb')
    .action(async (flags: CreateFlags, command: Command) => {
      const result = await runOperation(globals(command), 'bundle.create', {
        key: resolve(flags.key), out: resolve(flags.out), crates: abs(flags.crates), cargoIndex: abs(flags.cargoIndex),
        bottles: abs(flags.bottles), homebrewApi: abs(flags.homebrewApi), base: flags.base !== undefined && existsSync(flags.base) ? resolve(flags.base) : flags.base
      }) as CreateResult
      emit(globals(command), result, r => [
        `wrote ${r.out} (${formatBytes(r.bytes)})`,
        `  publisher ${r.publisher} seq ${r.seq}${r.base === null ? ' (full)' : ` (delta on ${r.base})`}`,
        `  ${r.changed} files added or changed, ${r.removed} removed; ${r.nodes} catalog nodes, ${r.blobs} blobs (${formatBytes(r.blobBytes)})`
      ].join('\n'))
    })

  bundle.command('verify')
    .description('check a bundle offline: the signature and every hash (nothing is stored)')
    .argument('<file>', 'bundle file')
    .action(async (file: string, _opts: unknown, command: Command) => {
      const r = await runOperation(globals(command), 'bundle.verify', { file: resolve(file) }) as VerifyReport
      emit(globals(command), r, () => [
        `OK ${r.file}`,
        `  publisher ${r.publisher}${r.trusted === true ? ' (trusted here)' : ' (NOT trusted here: "mirrormesh key trust" it to import)'}`,
        `  seq ${r.seq}, signed ${formatTime(r.time)}, ${r.base === null ? 'full bundle' : `delta on ${r.base} (${r.externalNodes} catalog nodes expected from the base)`}`,
        `  ${r.nodes} catalog nodes, ${r.blobs} blobs (${formatBytes(r.blobBytes)}), every hash checked`
      ].join('\n'))
    })
}
