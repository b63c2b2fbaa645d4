/**
 * One sweep: place each queued CID on the K targets closest to its key (the view plus this node),
 * group the records by target, and send each peer its records in as few requests as the message
 * limit allows. What a failing peer did not take moves to the next closest peer.
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from '../../store/cid.ts'
import type { Logger } from '../../util/logger.ts'
import type { Host } from '../host.ts'
import { closest, peerPoint, type KadPoint, type Located } from './keyspace.ts'
import { MAX_CIDS_PER_MESSAGE } from './messages.ts'
import { mapLimit } from '../../util/map-limit.ts'
import { applyRecords, type ProviderStore } from './records.ts'
import { sendRequest } from './send.ts'
import type { PeerView } from './view.ts'

/** A CID this node announces; `epoch` is the sweep that last placed it (0: never). */
export interface Item { readonly cid: CID, readonly point: KadPoint, readonly raw: Uint8Array, epoch: number }
/** One queued operation on an item. */
export interface Entry { readonly item: Item, readonly op: 'add' | 'remove' }
/** A holder candidate: a peer of the view, or this node. */
export interface Target extends Located { readonly key: string, readonly id: PeerId }
/** Which targets an entry may go to (the catch-up sends only to newcomers). */
export type Filter = (entry: Entry, target: Target) => boolean

/** What a sweeper needs. */
export interface SweeperInit {
  host: Host
  store: ProviderStore
  view: PeerView
  log: Logger
  replicas: number
  concurrency: number
  timeout: number
}

/** Counters of outbound traffic. */
export interface SweepCounters { sweeps: number, messagesSent: number, recordsSent: number, sendFailures: number }

// A failed peer's records move to the next-closest peer; beyond a few rounds the fleet is in trouble
// and the hourly re-announce is the better retry.
const MAX_ROUNDS = 3

/** Places and sends records. */
export class Sweeper {
  readonly counters: SweepCounters = { sweeps: 0, messagesSent: 0, recordsSent: 0, sendFailures: 0 }
  private readonly init: SweeperInit
  private readonly self: Target

  constructor (init: SweeperInit) {
    this.init = init
    this.self = { key: init.host.peerId.toString(), id: init.host.peerId, point: peerPoint(init.host.peerId) }
  }

  /** Place and send `entries`; failures are counted and re-routed, never thrown. */
  async sweep (entries: Entry[], signal: AbortSignal, filter?: Filter): Promise<void> {
    const { view, replicas, log } = this.init
    const started = performance.now()
    this.counters.sweeps++
    const excluded = new Set<string>()
    let work = entries
    let chosenBefore = new Map<Entry, Set<string>>()
    for (let round = 0; round < MAX_ROUNDS && work.length > 0 && !signal.aborted; round++) {
      const candidates: Target[] = [this.self, ...view.usable().filter(peer => !excluded.has(peer.key))]
      const batches = new Map<string, { target: Target, entries: Entry[] }>()
      const chosen = new Map<Entry, Set<string>>()
      for (let i = 0; i < work.length; i++) {
        // Placing 20,000 CIDs on hundreds of peers takes a while: let the node breathe.
        if (i % 2048 === 2047) await new Promise(resolve => setImmediate(resolve))
        const entry = work[i] as Entry
        // Removals go to the whole view: a record placed on a partial view, or displaced by a
        // closer newcomer, may sit on any peer, and a stale record sends fetchers to a node that
        // no longer holds the blob (Spegel's 404 loops) for up to the record validity (6 h).
        const targets = entry.op === 'add' ? closest(entry.item.point, candidates, replicas) : candidates
        if (entry.op === 'add') chosen.set(entry, new Set(targets.map(target => target.key)))
        for (const target of targets) {
          if (chosenBefore.get(entry)?.has(target.key) === true || (filter !== undefined && !filter(entry, target))) continue
          const batch = batches.get(target.key) ?? { target, entries: [] }
          batch.entries.push(entry)
          batches.set(target.key, batch)
        }
      }
      const failed = await this.deliver([...batches.values()], signal)
      for (const key of failed.peers) excluded.add(key)
      work = [...failed.entries]
      chosenBefore = chosen
    }
    log.debug({ entries: entries.length, ms: Math.round(performance.now() - started), view: view.size, catchUp: filter !== undefined }, 'sweep done')
  }

  /** Send batches; returns the peers that failed and the add entries they did not take. */
  private async deliver (batches: Array<{ target: Target, entries: Entry[] }>, signal: AbortSignal): Promise<{ peers: Set<string>, entries: Set<Entry> }> {
    const { host, store, view, log } = this.init
    const failed = { peers: new Set<string>(), entries: new Set<Entry>() }
    await mapLimit(batches, this.init.concurrency, async ({ target, entries }) => {
      for (let at = 0; at < entries.length && !signal.aborted; at += MAX_CIDS_PER_MESSAGE) {
        const chunk = entries.slice(at, at + MAX_CIDS_PER_MESSAGE)
        const add = chunk.filter(entry => entry.op === 'add').map(entry => entry.item.cid)
        const remove = chunk.filter(entry => entry.op === 'remove').map(entry => entry.item.cid)
        try {
          if (target === this.self) {
            // This node is among the closest: it keeps its own record, as kad-dht's provide() does.
            await applyRecords(store, this.self.id, add, remove, { signal })
            continue
          }
          await sendRequest(host, target.id, { add, remove }, AbortSignal.any([signal, AbortSignal.timeout(this.init.timeout)]))
          this.counters.messagesSent++
          this.counters.recordsSent += chunk.length
          view.succeeded(target.key)
        } catch (err) {
          if (signal.aborted) return
          this.counters.sendFailures++
          log.debug({ peer: target.key, err: (err as Error).message }, 'provide batch not delivered')
          view.failed(target.key)
          failed.peers.add(target.key)
          for (const entry of entries.slice(at)) if (entry.op === 'add') failed.entries.add(entry)
          return
        }
      }
    })
    return failed
  }
}
