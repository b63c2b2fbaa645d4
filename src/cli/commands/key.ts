/** `mirrormesh key …`: publisher keys and the trust list. */
import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { formatPublicKey, generateKey, writeKeyFile } from '../../trust/keys.ts'
import { KeyFileError } from '../../util/errors.ts'
import { runOperation } from '../context.ts'
import { emit, globals } from '../output.ts'

/** Register `key new|trust|untrust|list`. */
export function registerKey (program: Command): void {
  const key = program.command('key').description('publisher keys (Ed25519) and the trust list')

  key.command('new')
    .description('create a publisher key pair in a new file (mode 600) and print its public key')
    .requiredOption('--out <file>', 'where to write the key pair')
    .action(async (opts: { out: string }, command: Command) => {
      const pair = await generateKey()
      await writeKeyFile(resolve(opts.out), pair)
      const publisher = formatPublicKey(pair.publicKey)
      emit(globals(command), { publisher, file: resolve(opts.out) }, r =>
        `${r.publisher}\n\nKeep ${r.file} secret. Nodes that should accept your bundles run:\n  mirrormesh key trust ${r.publisher}`)
    })

  key.command('swarm')
    .description('create a swarm key: nodes started with "serve --swarm-key FILE" form a private mesh')
    .requiredOption('--out <file>', 'where to write the swarm key (copy it to every member)')
    .action(async (opts: { out: string }, command: Command) => {
      const { newSwarmKey } = await import('../../mesh/identity.ts')
      await writeFile(resolve(opts.out), newSwarmKey(), { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        throw new KeyFileError(err.code === 'EEXIST' ? `${opts.out} already exists` : `cannot write ${opts.out}: ${err.message}`)
      })
      emit(globals(command), { file: resolve(opts.out) }, r => `wrote ${r.file}: give it to every node of the private mesh ("serve --swarm-key ${r.file}")`)
    })

  key.command('trust')
    .description('trust a publisher: accept heads it signs')
    .argument('<publicKeyOrFile>', 'an "ed25519:…" public key, or a key file / text file holding one')
    .option('--name <name>', 'a label for the publisher', '')
    .action(async (value: string, opts: { name: string }, command: Command) => {
      const publisher = await publicKeyFrom(value)
      const result = await runOperation(globals(command), 'key.trust', { publisher, name: opts.name }) as { publisher: string, added: boolean }
      emit(globals(command), result, r => r.added ? `trusted ${r.publisher}` : `${r.publisher} was already trusted`)
    })

  key.command('untrust')
    .description('remove a publisher from the trust list (its head is kept but no new head is accepted)')
    .argument('<publicKey>', 'the "ed25519:…" public key')
    .action(async (value: string, _opts: unknown, command: Command) => {
      const result = await runOperation(globals(command), 'key.untrust', { publisher: await publicKeyFrom(value) }) as { publisher: string }
      emit(globals(command), result, r => `no longer trusting ${r.publisher}`)
    })

  key.command('list')
    .description('list trusted publishers')
    .action(async (_opts: unknown, command: Command) => {
      const result = await runOperation(globals(command), 'key.list', {}) as Array<{ publisher: string, name: string, seq: number | null }>
      emit(globals(command), result, r => r.length === 0
        ? 'no trusted publishers: add one with "mirrormesh key trust ed25519:…"'
        : r.map(t => `${t.publisher}  ${t.name === '' ? '-' : t.name}  seq ${t.seq ?? '-'}`).join('\n'))
    })
}

/** Accept a key literally, or read it from a key file (its public half) or a text file. */
async function publicKeyFrom (value: string): Promise<string> {
  if (value.startsWith('ed25519:')) return value
  let text: string
  try {
    text = await readFile(value, 'utf8')
  } catch {
    return value // not a file: let the operation report the malformed key
  }
  try {
    const parsed = JSON.parse(text) as { publicKey?: unknown }
    if (typeof parsed.publicKey === 'string') return parsed.publicKey
  } catch {
    // not JSON: a text file holding the key itself
  }
  return text.trim()
}
