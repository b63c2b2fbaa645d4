/**
 * Heads travel: `/mirrormesh/heads/1.0.0` (protocols/head-exchange/README.md). Two peers swap their
 * current signed heads when they connect, whenever either adopts a new one, and now and then at
 * random (anti-entropy). A newer head from a trusted key is verified, its missing catalog nodes and
 * metadata are fetched from the peer that offered it (Merkle diff: held subtrees are skipped), and
 * it is adopted atomically. Refused heads (unknown key, bad signature, rollback, fork) are logged.
 */
import { randomBytes } from 'node:crypto'
import { basename } from 'node:path'
import { Readable } from 'node:stream'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { LRUCache } from 'lru-cache'
import type { CID } from '../store/cid.ts'
import { decodeNode } from '../catalog/node.ts'
import { commitAdoption, judgeFor } from '../node/adopt.ts'
import type { Repo } from '../node/repo.ts'
import { openSignedHead, type SignedHead } from '../trust/head.ts'
import { IntegrityError, NotFoundError } from '../util/errors.ts'
import { logger } from '../util/logger.ts'
import { mapLimit } from '../util/map-limit.ts'
import { fetchMeta, fetchNodes, MAX_NODES_PER_REQUEST } from './catalog-protocol.ts'
import type { Host } from './host.ts'
import { HEADS_PROTOCOL } from './protocols.ts'
import { channel, expectRecord, withTimeout } from './wire.ts'

const log = logger('heads')
/** Most heads one message may carry (one per publisher). */
export const MAX_HEADS = 64
export const MESSAGE_LIMIT = MAX_HEADS * 1100
const TIMEOUT = 10_000
/** Metadata files of one head fetched at once (the catalog protocol takes 16 streams per connection). */
const META_FETCHES = 4
/** Adoptions this close together are pushed to peers once. */
const PUSH_COALESCE_MS = 50

/** Keeps this node's heads in step with its peers'. */
export class HeadSync {
  readonly #host: Host
  readonly #repo: Repo
  readonly #syncing = new Map<string, Promise<void>>()
  /** Heads verified lately, by the base64 of their bytes: every peer offers a new head at once. */
  readonly #opened = new LRUCache<string, Promise<SignedHead>>({ max: 256 })
  /** Heads (base64 of their bytes) refused lately as older than ours: not verified again. */
  readonly #behind = new LRUCache<string, true>({ max: 1024, ttl: 60_000 })
  readonly #antiEntropyMs: number
  #timer: NodeJS.Timeout | undefined
  #pushTimer: NodeJS.Timeout | undefined
  #pushAgain = false
  #stopped = false
  readonly #onIdentify = (event: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
    if (event.detail.protocols.includes(HEADS_PROTOCOL)) void this.exchange(event.detail.peerId)
  }

  /**
   * A head adopted after a quiet spell is pushed at once (a head crossing a fleet pays no delay per
   * hop); adoptions within PUSH_COALESCE_MS of a push are pushed once, when that time is up.
   */
  readonly #onHead = (): void => {
    if (this.#pushTimer !== undefined) {
      this.#pushAgain = true
      return
    }
    for (const peer of this.#host.getPeers()) void this.exchange(peer)
    this.#pushTimer = setTimeout(() => {
      this.#pushTimer = undefined
      if (!this.#pushAgain || this.#stopped) return
      this.#pushAgain = false
      this.#onHead()
    }, PUSH_COALESCE_MS)
  }

  constructor (host: Host, repo: Repo, options: { antiEntropyMs?: number } = {}) {
    this.#host = host
    this.#repo = repo
    this.#antiEntropyMs = options.antiEntropyMs ?? 30_000
  }

  async start (): Promise<void> {
    await this.#host.handle(HEADS_PROTOCOL, async (stream: Stream, connection: Connection) => {
      const ch = channel(stream, MESSAGE_LIMIT)
      try {
        const theirs = await parseHeadsMessage(await ch.read(AbortSignal.timeout(TIMEOUT)))
        await ch.write({ heads: await this.#ourHeads() })
        await ch.close()
        await this.#consider(connection.remotePeer, theirs)
      } catch (err) {
        log.debug({ peer: connection.remotePeer.toString(), err: (err as Error).message }, 'head exchange failed')
        ch.abort(err as Error)
      }
    }, { maxInboundStreams: 8 })
    this.#host.addEventListener('peer:identify', this.#onIdentify)
    this.#repo.on('head', this.#onHead)
    const tick = (): void => {
      const peers = this.#host.getPeers()
      const peer = peers[Math.floor(Math.random() * peers.length)]
      if (peer !== undefined) void this.exchange(peer)
      if (!this.#stopped) this.#timer = setTimeout(tick, this.#antiEntropyMs)
    }
    this.#timer = setTimeout(tick, this.#antiEntropyMs)
  }

  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    clearTimeout(this.#pushTimer)
    this.#host.removeEventListener('peer:identify', this.#onIdentify)
    this.#repo.off('head', this.#onHead)
    await Promise.resolve(this.#host.unhandle(HEADS_PROTOCOL)).catch(() => {})
    await Promise.allSettled(this.#syncing.values())
  }

  /** Swap heads with a peer and adopt what is newer. Never throws. */
  async exchange (peer: PeerId): Promise<void> {
    if (this.#stopped) return
    try {
      const signal = AbortSignal.timeout(TIMEOUT)
      const stream = await this.#host.dialProtocol(peer, HEADS_PROTOCOL, { signal })
      const ch = channel(stream, MESSAGE_LIMIT)
      await ch.write({ heads: await this.#ourHeads() }, signal)
      const theirs = await parseHeadsMessage(await ch.read(signal))
      await ch.close()
      await this.#consider(peer, theirs)
    } catch (err) {
      log.debug({ peer: peer.toString(), err: (err as Error).message }, 'head exchange failed')
    }
  }

  async #ourHeads (): Promise<Uint8Array[]> {
    return (await this.#repo.heads()).map(h => h.bytes)
  }

  /**
   * Verify each offered head and sync the ones worth adopting (one sync per head at a time). Heads
   * byte-identical to one held, or to one refused as a rollback lately, are passed over, and one
   * verified lately is not verified again: peers offer their heads on every connect, identify and
   * push, and an Ed25519 check in pure JS costs milliseconds (it was a tenth of a busy replica's CPU).
   */
  async #consider (peer: PeerId, offered: Uint8Array[]): Promise<void> {
    const held = new Set((await this.#repo.heads()).map(h => Buffer.from(h.bytes).toString('base64')))
    await Promise.all(offered.map(async bytes => {
      const key = Buffer.from(bytes).toString('base64')
      if (held.has(key) || this.#behind.has(key)) return
      let head: SignedHead
      try {
        // The promise is kept, so the 19 peers that push a new head at once cost one check, and a
        // head with a bad signature stays refused without another.
        let opening = this.#opened.get(key)
        if (opening === undefined) {
          opening = openSignedHead(bytes)
          opening.catch(() => {})
          this.#opened.set(key, opening)
        }
        head = await opening
        if (await judgeFor(this.#repo, head) !== 'adopt') return
      } catch (err) {
        const name = (err as Error).name
        if (name === 'RollbackError') { // a peer behind us: it will learn from us
          this.#behind.set(key, true)
          return
        }
        const level = name === 'UntrustedKeyError' ? 'debug' : 'warn'
        log[level]({ peer: peer.toString(), refused: name, reason: (err as Error).message }, 'refused a head from a peer')
        return
      }
      const running = this.#syncing.get(head.cid.toString())
      if (running !== undefined) return await running
      const sync = this.#sync(peer, head).catch(err => {
        log.warn({ peer: peer.toString(), seq: head.seq, err: (err as Error).message }, 'could not sync a head from a peer')
      }).finally(() => this.#syncing.delete(head.cid.toString()))
      this.#syncing.set(head.cid.toString(), sync)
      await sync
    }))
  }

  /** Fetch what `head` needs that this node lacks, verify it, adopt it. */
  async #sync (peer: PeerId, head: SignedHead): Promise<void> {
    const nodes = new Map<string, { cid: CID, bytes: Uint8Array }>()
    const meta = new Map<string, { cid: CID, size: number }>()
    let wanted: CID[] = head.root === null || await this.#repo.nodes.has(head.root) ? [] : [head.root]
    while (wanted.length > 0) {
      const batch = wanted.slice(0, MAX_NODES_PER_REQUEST)
      wanted = wanted.slice(MAX_NODES_PER_REQUEST)
      const got = await fetchNodes(this.#host, peer, batch)
      for (const cid of batch) {
        const bytes = got.get(cid.toString())
        if (bytes === undefined) throw new NotFoundError(`peer lacks catalog node ${cid.toString()} of head ${head.seq}`)
        const node = decodeNode(bytes, cid) // verifies the hash and the shape
        nodes.set(cid.toString(), { cid, bytes })
        const children = 'shards' in node ? [...node.shards.values()] : [...node.entries.values()].flatMap(c => 'dir' in c ? [c.dir] : [])
        for (const child of children) {
          if (!nodes.has(child.toString()) && !await this.#repo.nodes.has(child)) wanted.push(child)
        }
        if ('entries' in node) {
          for (const child of node.entries.values()) {
            if ('file' in child && child.file.kind === 'meta' && !await this.#repo.blobs.has(child.file.cid)) meta.set(child.file.cid.toString(), child.file)
          }
        }
      }
    }
    const id = `sync-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
    const dir = await this.#repo.blobs.stagingDir(id)
    const moves: Array<[string, string]> = []
    try {
      // A few at a time: one stream per file, and a delta of a few crates brings a few index files
      // (one by one they were a third of a head's hop on loopback, simulations/bench/head-sync.ts).
      await mapLimit([...meta.values()], META_FETCHES, async ({ cid, size }) => {
        const staged = await this.#repo.blobs.stage(Readable.from(fetchMeta(this.#host, peer, cid, size, withTimeout(120_000))), { cid, size }, dir)
        moves.push([basename(staged.file), cid.toString()])
      })
      const verdict = await commitAdoption(this.#repo, { head, nodes: [...nodes.values()], staged: { id, moves }, source: `peer:${peer.toString()}` })
      log.info({ peer: peer.toString(), publisher: head.publisher, seq: head.seq, verdict, nodes: nodes.size, meta: meta.size }, 'adopted a head from a peer')
    } catch (err) {
      await this.#repo.blobs.removeStaging(id)
      throw err
    }
  }
}

/** The signed heads a decoded heads message carries (not yet verified); an IntegrityError if it is malformed. */
export function parseHeadsMessage (value: unknown): Uint8Array[] {
  const message = expectRecord(value, 'heads')
  if (!Array.isArray(message.heads) || message.heads.length > MAX_HEADS || !message.heads.every(h => h instanceof Uint8Array)) {
    throw new IntegrityError('peer sent a malformed heads message')
  }
  return message.heads as Uint8Array[]
}
