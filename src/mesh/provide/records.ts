/**
 * The DHT's own provider store, where received batches land so that a plain GET_PROVIDERS
 * (`dht.findProviders`) on any node answers from them. kad-dht 16 exposes it as `dht.providers` on
 * its class but not on its `KadDHT` interface, hence the checked cast.
 */
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { CID } from '../../store/cid.ts'
import type { Host } from '../host.ts'
import { mapLimit } from '../../util/map-limit.ts'

/** kad-dht's provider store (records expire after its `provideValidity`). */
export interface ProviderStore {
  addProvider (cid: CID, provider: PeerId, options?: AbortOptions): Promise<void>
  removeProvider (cid: CID, provider: PeerId, options?: AbortOptions): Promise<void>
  getProviders (cid: CID, options?: AbortOptions): Promise<PeerId[]>
}

/** The provider store of the host's DHT. */
export function providerStore (host: Host): ProviderStore {
  const store = (host.services.dht as unknown as { providers?: Partial<ProviderStore> }).providers
  if (typeof store?.addProvider !== 'function' || typeof store.removeProvider !== 'function' || typeof store.getProviders !== 'function') {
    throw new TypeError('the host DHT has no provider store: mirrormesh needs @libp2p/kad-dht 16 (dht.providers)')
  }
  return store as ProviderStore
}

// Datastore writes are independent; a bounded fan-out keeps a 4,096-record batch from queueing
// thousands of promises at once on a persistent datastore.
const WRITE_CONCURRENCY = 64

/** Add and remove records of `provider`. */
export async function applyRecords (store: ProviderStore, provider: PeerId, add: CID[], remove: CID[], options?: AbortOptions): Promise<void> {
  const jobs: Array<() => Promise<void>> = [
    ...add.map(cid => async () => { await store.addProvider(cid, provider, options) }),
    ...remove.map(cid => async () => { await store.removeProvider(cid, provider, options) })
  ]
  await mapLimit(jobs, WRITE_CONCURRENCY, async job => { await job() })
}
