/**
 * The libp2p host of a node: TCP + noise + yamux, identify, ping, a LAN Kademlia DHT under its own
 * protocol prefix that keeps private addresses, mDNS and bootstrap discovery, and an optional
 * pre-shared swarm key (libp2p private networks).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify, identifyPush } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { DHT_PROTOCOL } from './protocols.ts'
import { OrderedMemoryDatastore } from './provide/datastore.ts'

/** How to build the host. */
export interface HostOptions {
  privateKey: PrivateKey
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  swarmKey?: Uint8Array
}

/** The services every mesh host runs. */
export interface HostServices {
  identify: ReturnType<ReturnType<typeof identify>>
  identifyPush: ReturnType<ReturnType<typeof identifyPush>>
  ping: ReturnType<ReturnType<typeof ping>>
  dht: KadDHT
  [key: string]: unknown
}

/** A started libp2p node. */
export type Host = Libp2p<HostServices>

/** Create and start the host. */
export async function createHost (options: HostOptions): Promise<Host> {
  const peerDiscovery = []
  if (options.mdns) peerDiscovery.push(mdns({ interval: 10_000, serviceTag: 'mirrormesh.local' }))
  if (options.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: options.bootstrap, timeout: 100 }))
  return await createLibp2p({
    privateKey: options.privateKey,
    // Provider records are looked up by key prefix: an ordered store answers without a full scan.
    datastore: new OrderedMemoryDatastore(),
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: options.swarmKey === undefined ? undefined : preSharedKey({ psk: options.swarmKey }),
    peerDiscovery,
    connectionManager: {
      // A LAN fleet: hundreds of peers, many quick dials from one subnet (BRIEF §5).
      maxConnections: 400,
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 200,
      maxParallelDials: 100
    },
    // A ping per connection every 10 s (the default) is a stream, and a peer-store write, at both
    // ends: in a 20-node mesh ~4 a second per node. A peer that dies closes its sockets; one that
    // vanishes is found by the next fetch from it, or within a minute.
    connectionMonitor: { pingInterval: 60_000 },
    services: {
      identify: identify(),
      // Protocols registered after start (the mesh services) become visible to connected peers.
      identifyPush: identifyPush(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        // The default mapper drops private addresses; on a LAN they are the only ones there are.
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
        // A closed LAN needs no S/Kademlia disjoint paths; 3 parallel paths cut lookups ~4× here.
        alpha: 3,
        disjointPaths: 1,
        providers: { provideValidity: 6 * 3600 }
      })
    }
  }) as Host
}
