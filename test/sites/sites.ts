/**
 * Helpers for the disconnected-site tests: a publisher with a chain of four bundles (seq 1 → 4,
 * seq 4 carrying one multi-chunk crate), nodes started as real processes, and the checks every
 * site test makes — heads, blob sets on disk, audit logs.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { cli } from '../utils/cli.ts'
import { startNode, status, waitFor, type FleetNode } from '../utils/fleet.ts'
import { newKey, trustIn, writeCrates } from '../utils/home.ts'
import { writeCrate as writeBigCrate } from '../../simulations/lib/crates.ts'

/** The publisher and its bundles. */
export interface Chain {
  publisher: string
  /** bundles[i] is seq i + 1 (each a delta on the one before). */
  bundles: string[]
  /** sha256 of every crate, by bundle. */
  shas: string[][]
  /** Bytes of the crates of each bundle. */
  bytes: number[]
}

/** sha256 hex of every `.crate` in a bundle input directory. */
async function cratesIn (dir: string): Promise<string[]> {
  const out = []
  for (const name of (await readdir(dir)).filter(n => n.endsWith('.crate')).sort()) out.push(createHash('sha256').update(await readFile(join(dir, name))).digest('hex'))
  return out
}

/**
 * Four bundles: seq 1 (three small crates), seq 2 and 3 (one small crate each), seq 4 (two small
 * crates and one of `bigMiB` MiB, so it travels in chunks); with `fifth`, a seq 5 holding
 * one more crate of `bigMiB` MiB.
 */
export async function makeChain (dir: string, bigMiB = 24, fifth = false): Promise<Chain> {
  const { publisher } = await newKey(join(dir, 'pub.key'))
  await writeCrates(join(dir, 'in1'), 'alpha', 3, 2000, dir)
  await writeCrates(join(dir, 'in2'), 'bravo', 1, 2000, dir)
  await writeCrates(join(dir, 'in3'), 'charlie', 1, 2000, dir)
  await writeCrates(join(dir, 'in4'), 'delta', 2, 2000, dir)
  await writeBigCrate(join(dir, 'in4'), 'echo', '1.0.0', bigMiB << 20)
  if (fifth) await writeBigCrate(join(dir, 'in5'), 'foxtrot', '1.0.0', bigMiB << 20)
  const bundles: string[] = []
  const shas: string[][] = []
  const bytes: number[] = []
  for (let i = 1; i <= (fifth ? 5 : 4); i++) {
    const out = join(dir, `b${i}.mmb`)
    const r = await cli(['--home', join(dir, 'publisher'), 'bundle', 'create', '--key', join(dir, 'pub.key'), '--crates', join(dir, `in${i}`), '--out', out, ...(i === 1 ? [] : ['--base', join(dir, `b${i - 1}.mmb`)])])
    assert.equal(r.code, 0, r.stderr)
    bundles.push(out)
    shas.push(await cratesIn(join(dir, `in${i}`)))
    let sum = 0
    for (const name of (await readdir(join(dir, `in${i}`))).filter(n => n.endsWith('.crate'))) sum += (await stat(join(dir, `in${i}`, name))).size
    bytes.push(sum)
  }
  return { publisher, bundles, shas, bytes }
}

/** Create homes trusting the publisher. */
export async function homes (dir: string, names: string[], publisher: string): Promise<void> {
  for (const name of names) await trustIn(join(dir, name), publisher)
}

/** Start a node; `bootstrap` are other nodes (their first address). */
export async function start (home: string, bootstrap: FleetNode[], extra: string[] = []): Promise<FleetNode> {
  return await startNode(home, [...bootstrap.flatMap(n => ['--bootstrap', n.addrs[0] ?? '']), ...extra])
}

/** The head a node serves for `publisher`: seq, head CID, and blob counts. */
export async function headOf (node: FleetNode, publisher: string): Promise<{ seq: number | null, head: string | null, blobFiles: number, blobsHeld: number }> {
  const s = await status(node)
  const p = (s.publishers as Array<{ publisher: string, seq: number | null, head: string | null, blobFiles: number, blobsHeld: number }>).find(x => x.publisher === publisher)
  return { seq: p?.seq ?? null, head: p?.head ?? null, blobFiles: p?.blobFiles ?? 0, blobsHeld: p?.blobsHeld ?? 0 }
}

/** Wait until every node serves `seq` and holds every blob of it. */
export async function waitConverged (nodes: FleetNode[], publisher: string, seq: number, what: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(what, async () => (await Promise.all(nodes.map(async n => await headOf(n, publisher))))
    .every(h => h.seq === seq && h.blobFiles > 0 && h.blobsHeld === h.blobFiles), timeoutMs)
}

/** sha256 of every blob file a home holds. */
export async function blobSet (home: string): Promise<Set<string>> {
  const out = new Set<string>()
  const root = join(home, 'blobs')
  for (const a of await readdir(root).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(a)) continue
    for (const b of await readdir(join(root, a)).catch(() => [] as string[])) {
      for (const f of await readdir(join(root, a, b)).catch(() => [] as string[])) if (/^[0-9a-f]{64}$/.test(f)) out.add(f)
    }
  }
  return out
}

/** Assert a home holds every crate of bundles 1..`upTo`. */
export async function assertHolds (home: string, chain: Chain, upTo: number, label: string): Promise<void> {
  const held = await blobSet(home)
  for (let i = 0; i < upTo; i++) for (const sha of chain.shas[i] ?? []) assert.ok(held.has(sha), `${label} lacks a crate of seq ${i + 1}`)
}

/** One audit event, as `mirrormesh --json audit` prints it. */
export interface AuditEvent {
  event: string
  seq?: number
  source?: string
  verdict?: string
  head?: string
}

/** The audit log of a node (through its control socket while it runs). */
export async function audit (home: string): Promise<AuditEvent[]> {
  const r = await cli(['--home', home, '--json', 'audit'])
  assert.equal(r.code, 0, r.stderr)
  return r.json as AuditEvent[]
}

/** The seqs of the heads a node adopted, in order (from peers or imports). */
export async function adoptedSeqs (home: string): Promise<number[]> {
  return (await audit(home)).filter(e => e.event === 'adopt-head').map(e => e.seq as number)
}

/**
 * Assert the audit trail of a node is whole: it records every head the node holds in its history
 * — here checked as "adoptions strictly increase and end at the current seq".
 */
export async function assertAuditTrail (node: FleetNode, publisher: string, label: string): Promise<number[]> {
  const seqs = await adoptedSeqs(node.home)
  const { seq } = await headOf(node, publisher)
  assert.ok(seqs.length > 0, `${label} has no adoption in its audit log`)
  assert.equal(seqs.at(-1), seq, `${label}: the last adoption in the audit log is the head it serves`)
  for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] as number) > (seqs[i - 1] as number), `${label}: adoptions go forward only (${seqs.join(', ')})`)
  return seqs
}

/** The index path cargo asks for a crate name (Cargo book: 1, 2, 3-letter and longer names). */
export function indexPath (name: string): string {
  if (name.length <= 2) return `${name.length}/${name}`
  if (name.length === 3) return `3/${name[0]}/${name}`
  return `${name.slice(0, 2)}/${name.slice(2, 4)}/${name}`
}
