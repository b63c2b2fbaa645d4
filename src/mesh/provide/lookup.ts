/**
 * Provider lookups: a plain kad-dht GET_PROVIDERS query (`dht.findProviders`), so records stored by
 * any announcer — or by kad-dht's own provide() — are found the standard way.
 */
import type { PeerId } from '@libp2p/interface'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import type { CID } from '../../store/cid.ts'
import type { Host } from '../host.ts'

const READY_WAIT = 5000

/** Peers that provide `cid`, deduplicated, without this node; stops the query when the caller stops. */
export async function * findProviders (host: Host, cid: CID, signal?: AbortSignal): AsyncGenerator<PeerId> {
  // Our own controller ends the DHT query when the caller stops iterating early.
  const done = new AbortController()
  const both = signal === undefined ? done.signal : AbortSignal.any([signal, done.signal])
  const seen = new Set<string>([host.peerId.toString()])
  await routingTableReady(host, READY_WAIT, both)
  try {
    for await (const event of host.services.dht.findProviders(cid, { signal: both })) {
      if (event.name !== 'PROVIDER') continue
      for (const peer of event.providers) {
        const key = peer.id.toString()
        if (seen.has(key)) continue
        seen.add(key)
        // Keep the addresses so the caller can dial the provider (libp2p's contentRouting does too).
        if (peer.multiaddrs.length > 0) await host.peerStore.merge(peer.id, { multiaddrs: peer.multiaddrs }).catch(() => {})
        yield peer.id
      }
    }
  } finally {
    done.abort()
  }
}

/**
 * Right after start the DHT's routing table is empty (kad-dht adds a peer a little after identify)
 * and a lookup would end at once, empty-handed: wait a moment for the first peer.
 */
async function routingTableReady (host: Host, ms: number, signal: AbortSignal): Promise<void> {
  // `routingTable.size` is public on kad-dht's SingleKadDHT; other DHTs are simply not waited for.
  const table = (host.services.dht as Partial<SingleKadDHT>).routingTable
  const deadline = Date.now() + ms
  while (table !== undefined && table.size === 0 && Date.now() < deadline && !signal.aborted) {
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
