/**
 * Index files as lines: each line is one version of one crate (Cargo book, "Index files": "each
 * line is a JSON object"), kept as its exact text so that upstream lines are carried byte-identical.
 */
import { BundleInputError } from '../util/errors.ts'
import { crateNameProblem } from './index-path.ts'
import { isSemverVersion } from './semver.ts'

/** One line of an index file: its text (no newline) and the fields mirrormesh relies on. */
export interface IndexLine {
  text: string
  name: string
  vers: string
  cksum: string
}

const SHA256_HEX = /^[0-9a-f]{64}$/

/** Check one line and pull out `name`, `vers` and `cksum`; `where` names the file and line in errors. */
export function parseIndexLine (text: string, where: string): IndexLine {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new BundleInputError(`${where}: not a JSON object; every line of an index file is one`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BundleInputError(`${where}: not a JSON object`)
  const { name, vers, cksum, deps } = value as Record<string, unknown>
  if (typeof name !== 'string' || crateNameProblem(name) !== undefined) throw new BundleInputError(`${where}: "name" ${JSON.stringify(name)} is not a crate name`)
  if (typeof vers !== 'string' || !isSemverVersion(vers)) throw new BundleInputError(`${where}: "vers" ${JSON.stringify(vers)} is not a semver version`)
  if (typeof cksum !== 'string' || !SHA256_HEX.test(cksum)) throw new BundleInputError(`${where}: "cksum" is not a lowercase sha256 hex digest`)
  // Cargo rejects an entry without `deps` as invalid (see BRIEF, "details that bite").
  if (!Array.isArray(deps)) throw new BundleInputError(`${where}: "deps" is missing; cargo treats such an entry as invalid`)
  return { text, name, vers, cksum }
}

/** Decode index-file bytes strictly as UTF-8 (keeping a BOM, so it is caught as bad JSON, not dropped). */
export function decodeIndexFile (bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch (err) {
    throw new BundleInputError(`${where}: not valid UTF-8`, { cause: err })
  }
}

/** The non-empty lines of an index file, parsed; `where` names the file in errors. */
export function parseIndexFile (text: string, where: string): IndexLine[] {
  const lines: IndexLine[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() !== '') lines.push(parseIndexLine(line, `${where} line ${i + 1}`))
  })
  return lines
}

/** The bytes of an index file: each line followed by `\n` (crates.io `write_crates`). */
export function formatIndexFile (lines: readonly IndexLine[]): Uint8Array {
  return new TextEncoder().encode(lines.map((l) => `${l.text}\n`).join(''))
}

/** Check that every line of one index file names the same crate, spelled the same way. */
export function checkOneCrate (lines: readonly IndexLine[], where: string): void {
  const first = lines[0]
  for (const line of lines) {
    if (first !== undefined && line.name !== first.name) {
      throw new BundleInputError(`${where}: lines for both ${JSON.stringify(first.name)} and ${JSON.stringify(line.name)}; one index file holds one crate, spelled one way`)
    }
  }
}
