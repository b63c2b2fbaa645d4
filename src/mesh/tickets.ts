/**
 * Data-plane tickets: bulk bytes move over plain HTTP (line rate; BRIEF §5), authorised through the
 * libp2p control channel, which is encrypted and, with a swarm key, members-only. A ticket is an
 * HMAC over (CID, expiry) with a secret that never leaves this process: only a peer that asked over
 * libp2p can get one, it names one blob, and it expires.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** Issues and checks tickets. */
export class Tickets {
  readonly #secret = randomBytes(32)
  readonly #ttlMs: number

  constructor (ttlMs = 10 * 60_000) {
    this.#ttlMs = ttlMs
  }

  #mac (cid: string, expiry: number): string {
    return createHmac('sha256', this.#secret).update(`${cid}\n${expiry}`).digest('base64url')
  }

  /** A ticket for one blob. */
  issue (cid: string, now = Date.now()): string {
    const expiry = now + this.#ttlMs
    return `${expiry}.${this.#mac(cid, expiry)}`
  }

  /** Whether `ticket` grants `cid` now. */
  check (cid: string, ticket: string, now = Date.now()): boolean {
    const [expiryText = '', mac = ''] = ticket.split('.')
    const expiry = Number(expiryText)
    if (!Number.isSafeInteger(expiry) || expiry < now) return false
    const expected = Buffer.from(this.#mac(cid, expiry))
    const given = Buffer.from(mac)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
}
