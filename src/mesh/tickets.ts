/**
 * Data-plane tickets: bulk bytes move over plain HTTP (line rate; BRIEF §5), authorised through the
 * libp2p control channel, which is encrypted and, with a swarm key, members-only. A ticket is an
 * HMAC over (CID, expiry, holder) with a secret that never leaves this process: only a peer that
 * asked over libp2p can get one, it names one blob and the peer it was issued to, and it expires.
 * The holder tag lets the data plane tell requesters apart (see `SpareList` in data-plane.ts)
 * without trusting anything the HTTP request says about itself.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { LRUCache } from 'lru-cache'

/** A short, stable tag for a peer ID (what a ticket names). */
export function holderTag (peer: string): string {
  return createHash('sha256').update(peer).digest('base64url').slice(0, 16)
}

/** Issues and checks tickets. */
export class Tickets {
  readonly #secret: Uint8Array
  readonly #ttlMs: number
  /** Peer IDs of recent holder tags, so the data plane can name a peer it has sent bytes to. */
  readonly #peers = new LRUCache<string, string>({ max: 4096 })

  /** `secret`: fixed only by tests (protocols/blob-exchange/vectors.json); a node draws a fresh one. */
  constructor (ttlMs = 10 * 60_000, secret: Uint8Array = randomBytes(32)) {
    this.#ttlMs = ttlMs
    this.#secret = secret
  }

  #mac (cid: string, expiry: number, holder: string): string {
    return createHmac('sha256', this.#secret).update(`${cid}\n${expiry}\n${holder}`).digest('base64url')
  }

  /** A ticket for one blob, issued to the peer `peer` (a peer ID; '' when unknown). */
  issue (cid: string, peer = '', now = Date.now()): string {
    const expiry = now + this.#ttlMs
    const holder = peer === '' ? '-' : holderTag(peer)
    if (peer !== '') this.#peers.set(holder, peer)
    return `${expiry}.${holder}.${this.#mac(cid, expiry, holder)}`
  }

  /** The peer ID a holder tag was issued to (undefined: not among the recent ones). */
  peerOf (holder: string): string | undefined {
    return this.#peers.get(holder)
  }

  /** The holder tag of `ticket` if it grants `cid` now; undefined if it grants nothing. */
  check (cid: string, ticket: string, now = Date.now()): string | undefined {
    const [expiryText = '', holder = '', mac = ''] = ticket.split('.')
    const expiry = Number(expiryText)
    if (!Number.isSafeInteger(expiry) || expiry < now || holder === '') return undefined
    const expected = Buffer.from(this.#mac(cid, expiry, holder))
    const given = Buffer.from(mac)
    return given.length === expected.length && timingSafeEqual(given, expected) ? holder : undefined
  }
}
