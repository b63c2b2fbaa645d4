/** `mirrormesh status|gc|fsck|audit`: inspect and maintain the store. */
import type { Command } from 'commander'
import type { FsckReport } from '../../node/fsck.ts'
import type { GcReport } from '../../node/gc.ts'
import type { RepoStatus } from '../../node/status.ts'
import type { MeshStatus } from '../../mesh/mesh.ts'
import { runOperation } from '../context.ts'
import { emit, formatBytes, formatTime, globals } from '../output.ts'

/** Register the store maintenance commands. */
export function registerStore (program: Command): void {
  program.command('status')
    .description('heads per publisher, what is held, forks seen, recent audit events')
    .action(async (_opts: unknown, command: Command) => {
      const s = await runOperation(globals(command), 'status', {}) as RepoStatus & Partial<MeshStatus> & { gateway?: string }
      emit(globals(command), s, () => [
        `home ${s.home}${s.gateway === undefined ? ' (node not running)' : `, serving ${s.gateway}`}`,
        ...(s.peerId === undefined
          ? []
          : [
              `peer ${s.peerId}, ${s.peers?.length ?? 0} peers connected`,
              ...(s.addrs ?? []).map(a => `  ${a}`),
              `replication ${s.replication?.policy ?? '-'}: ${s.replication?.held ?? 0}/${s.replication?.wanted ?? 0} blobs (${formatBytes(s.replication?.bytesHeld ?? 0)} of ${formatBytes(s.replication?.bytesWanted ?? 0)}), ${s.replication?.downloading ?? 0} downloading`,
              `peers: served ${formatBytes(s.bytesServedToPeers ?? 0)}, fetched ${formatBytes(s.bytesFetchedFromPeers ?? 0)}${(s.badPeersDropped ?? 0) > 0 ? `, dropped ${String(s.badPeersDropped)} peers for bad bytes` : ''}`
            ]),
        `store: ${s.store.blobs} blobs, ${formatBytes(s.store.bytes)}, ${s.store.pinned} pinned`,
        ...(s.publishers.length === 0 ? ['no trusted publishers yet: "mirrormesh key trust ed25519:…", then "mirrormesh import BUNDLE"'] : []),
        ...s.publishers.map(p => `publisher ${p.name === '' ? '' : p.name + ' '}${p.publisher}\n  seq ${p.seq ?? '-'} signed ${formatTime(p.time)}; ${p.metaFiles} metadata files, ${p.blobsHeld}/${p.blobFiles} blobs held (${formatBytes(p.blobBytesHeld)} of ${formatBytes(p.blobBytes)})`),
        ...(s.forks.length > 0 ? [`FORKS SEEN: ${s.forks.length} (a publisher signed two heads with one seq; see --json)`] : []),
        'recent events:',
        ...s.recentAudit.map(e => `  ${formatTime(Number(e.time))} ${String(e.event)}${e.seq === undefined ? '' : ` seq ${String(e.seq)}`}${e.file === undefined ? '' : ` ${String(e.file)}`}`)
      ].join('\n'))
    })

  program.command('gc')
    .description('delete blobs that no current head references (and their partly fetched files)')
    .option('--dry-run', 'only report what would be deleted')
    .action(async (opts: { dryRun?: boolean }, command: Command) => {
      const r = await runOperation(globals(command), 'gc', { dryRun: opts.dryRun === true }) as GcReport
      emit(globals(command), r, () => `${r.dryRun ? 'would remove' : 'removed'} ${r.removed} blobs${r.partialsRemoved > 0 ? ` and ${r.partialsRemoved} partly fetched ones` : ''} (${formatBytes(r.freedBytes)}), kept ${r.kept}`)
    })

  program.command('fsck')
    .description('re-hash every blob and check every catalog node of the current heads')
    .option('--repair', 'delete corrupt blobs and stray files (they can be fetched or imported again)')
    .action(async (opts: { repair?: boolean }, command: Command) => {
      const r = await runOperation(globals(command), 'fsck', { repair: opts.repair === true }) as FsckReport
      emit(globals(command), r, () => [
        `${r.ok ? 'OK' : 'PROBLEMS FOUND'}: ${r.blobs} blobs (${formatBytes(r.bytes)}) re-hashed, ${r.nodes} catalog nodes checked, ${r.heads} heads`,
        ...(r.blobsNotHeld > 0 ? [`  ${r.blobsNotHeld} catalog blobs not held here (fetched on demand)`] : []),
        ...r.problems.map(p => `  ${p.kind}: ${p.detail}`),
        ...(r.repaired > 0 ? [`  repaired ${r.repaired}`] : [])
      ].join('\n'))
      if (!r.ok) process.exitCode = 3
    })

  program.command('audit')
    .description('the append-only audit log: every adopted head, import and trust change')
    .option('--limit <n>', 'only the last n events')
    .action(async (opts: { limit?: string }, command: Command) => {
      const events = await runOperation(globals(command), 'audit', { limit: Number(opts.limit ?? 0) }) as Array<Record<string, unknown>>
      emit(globals(command), events, es => es.map(e => `${String(e.id).padStart(6)} ${formatTime(Number(e.time))} ${String(e.event)} ${JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => !['id', 'time', 'event'].includes(k))))}`).join('\n'))
    })
}
