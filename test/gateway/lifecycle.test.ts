/**
 * Streaming and lifecycle: a client that drops a large download releases the blob's file handle,
 * a graceful stop finishes in-flight responses (keep-alive included) and cuts off clients that
 * stopped reading after a grace period, and `serve` fails cleanly on a busy port or a bad address.
 * The gateway runs in-process so this process's `/proc/self/fd` shows its open files.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { realpath } from 'node:fs/promises'
import { Agent, request, type IncomingMessage } from 'node:http'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { MirrormeshNode } from '../../src/node/node.ts'
import { Repo } from '../../src/node/repo.ts'
import { cli, startServe } from '../utils/cli.ts'
import { tempDir } from '../utils/home.ts'
import { eventually, openFds, req } from './helpers.ts'

const SIZE = 64 << 20
// The gateway alone: no peers, no mDNS, no data-plane port shared with tests running alongside.
const SERVE = ['--no-mesh']

let dir: string
let cleanup: () => Promise<void>
let home: string
let cid: string
let digest: string
let blobFile: string

before(async () => {
  ({ dir, cleanup } = await tempDir('mirrormesh-lifecycle-'))
  home = join(dir, 'home')
  const repo = await Repo.open(home)
  try {
    const hash = createHash('sha256')
    const chunks = (function * () {
      for (let i = 0; i < SIZE / (1 << 20); i++) {
        const chunk = randomBytes(1 << 20)
        hash.update(chunk)
        yield chunk
      }
    })()
    const info = await repo.blobs.put(Readable.from(chunks))
    cid = info.cid.toString()
    digest = hash.digest('hex')
    blobFile = await realpath(repo.blobs.path(info.cid))
  } finally {
    await repo.close()
  }
})
after(async () => await cleanup())

/** How many of this process's descriptors are open on the 64 MiB blob file. */
async function blobFds (): Promise<number> {
  return (await openFds('self')).filter(target => target === blobFile).length
}

/** Start a download and pause it after its first chunk; `rest()` reads the remainder. */
async function pausedDownload (url: string, options: { headers?: Record<string, string>, agent?: Agent | false } = {}): Promise<{ res: IncomingMessage, rest: () => Promise<Buffer> }> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve, reject) => {
    const r = request({ host: hostname, port, path: `/blobs/${cid}`, headers: options.headers, agent: options.agent ?? false }, res => {
      res.once('data', (first: Buffer) => {
        res.pause()
        const rest = async (): Promise<Buffer> => {
          const chunks = [first]
          res.on('data', (c: Buffer) => chunks.push(c))
          const ended = new Promise<void>((done, fail) => { res.once('end', done); res.once('error', fail); res.once('aborted', () => fail(new Error('aborted'))) })
          res.resume()
          await ended
          return Buffer.concat(chunks)
        }
        resolve({ res, rest })
      })
    })
    r.on('error', reject)
    r.end()
  })
}

async function withNode (fn: (node: MirrormeshNode) => Promise<void>): Promise<void> {
  const node = await MirrormeshNode.start({ home, gateway: { host: '127.0.0.1', port: 0 } })
  let stopped = false
  try {
    await fn(node)
    stopped = true
  } finally {
    if (!stopped) await node.stop().catch(() => {})
  }
}

test('a client that disconnects mid-download releases the file handle at once', async () => {
  await withNode(async node => {
    assert.equal(await blobFds(), 0)
    const one = await pausedDownload(node.gateway.url)
    assert.equal(one.res.statusCode, 200)
    assert.equal(one.res.headers['content-length'], String(SIZE))
    assert.equal(await blobFds(), 1, 'the download holds the blob open')
    one.res.destroy()
    assert.ok(await eventually(async () => await blobFds() === 0, 2000), 'the handle was released')

    // Several at once, ranged ones included.
    const many = await Promise.all([
      ...Array.from({ length: 6 }, async () => await pausedDownload(node.gateway.url)),
      ...Array.from({ length: 4 }, async (_, i) => await pausedDownload(node.gateway.url, { headers: { Range: `bytes=${i * 1000}-` } }))
    ])
    assert.deepEqual(many.map(d => d.res.statusCode), [200, 200, 200, 200, 200, 200, 206, 206, 206, 206])
    assert.equal(await blobFds(), 10)
    for (const d of many) d.res.destroy()
    assert.ok(await eventually(async () => await blobFds() === 0, 2000), `${await blobFds()} handles left open`)

    // The gateway still serves, and a whole download is intact.
    const whole = await pausedDownload(node.gateway.url)
    const bytes = await whole.rest()
    assert.equal(bytes.length, SIZE)
    assert.equal(createHash('sha256').update(bytes).digest('hex'), digest)
    assert.ok(await eventually(async () => await blobFds() === 0, 2000), 'a finished download closes its handle')
    await node.stop()
  })
})

test('a graceful stop lets in-flight downloads finish, keep-alive ones included, and refuses new connections', async () => {
  await withNode(async node => {
    const agent = new Agent({ keepAlive: true })
    // An idle keep-alive connection, and two downloads in flight (one of them on a keep-alive connection).
    assert.equal((await new Promise<number>(resolve => request({ host: '127.0.0.1', port: new URL(node.gateway.url).port, path: '/api/status', agent }, res => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) }).end())), 200)
    const plain = await pausedDownload(node.gateway.url)
    const kept = await pausedDownload(node.gateway.url, { agent })
    let stopped = false
    const stopping = node.stop().then(() => { stopped = true })
    // The listener is closed at once: a new connection is refused.
    assert.ok(await eventually(async () => await req(node.gateway.url, '/api/status').then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED'), 2000))
    assert.equal(stopped, false, 'the stop waits for the paused downloads')
    for (const d of [plain, kept]) {
      const bytes = await d.rest()
      assert.equal(bytes.length, SIZE)
      assert.equal(createHash('sha256').update(bytes).digest('hex'), digest)
    }
    // Once both responses ended, nothing holds the server open: not the keep-alive connection,
    // which would otherwise wait out its 65 s timeout.
    assert.ok(await eventually(async () => stopped, 5000), 'the stop completes once the responses ended')
    await stopping
    assert.equal(await blobFds(), 0)
    agent.destroy()
  })
})

test('a client that stopped reading is cut off after the grace period', async () => {
  await withNode(async node => {
    const stuck = await pausedDownload(node.gateway.url)
    const outcome = new Promise<string>(resolve => {
      stuck.res.once('end', () => resolve('complete'))
      stuck.res.once('aborted', () => resolve('cut off'))
      stuck.res.once('error', () => resolve('cut off'))
    })
    let closed = false
    const closing = node.gateway.close(300).then(() => { closed = true })
    assert.ok(await eventually(async () => closed, 5000), 'the close does not wait for a client that stopped reading')
    await closing
    stuck.res.resume()
    assert.equal(await outcome, 'cut off', 'never a body that looks complete')
    assert.ok(await eventually(async () => await blobFds() === 0, 2000))
    await node.stop()
  })
})

/** Listen on a free loopback port with a plain TCP server, to make the gateway's port busy. */
async function busyPort (): Promise<{ server: Server, port: number }> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port }
}

/** One line on stderr, without a stack trace. */
function assertOneLine (stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`)
  assert.match(lines[0] ?? '', pattern)
  assert.doesNotMatch(stderr, /^\s+at /m)
}

test('serve on a port in use: exit 1, one line on stderr, and the home is released', async () => {
  const { server, port } = await busyPort()
  try {
    const r = await cli(['--home', join(dir, 'busy'), 'serve', ...SERVE, '--gateway', `127.0.0.1:${port}`])
    assert.equal(r.code, 1)
    assertOneLine(r.stderr, new RegExp(`^mirrormesh: 127\\.0\\.0\\.1:${port} is already in use`))
    const status = await cli(['--home', join(dir, 'busy'), '--json', 'status'])
    assert.equal(status.code, 0, `the store lock was released: ${status.stderr}`)
  } finally {
    server.close()
  }
})

test('serve on an address that is not this machine\'s, or an unknown host: exit 1, one line', async () => {
  for (const address of ['10.255.255.1:80', 'nonsense.invalid:7680']) {
    const r = await cli(['--home', join(dir, 'badaddr'), 'serve', ...SERVE, '--gateway', address])
    assert.equal(r.code, 1, address)
    assertOneLine(r.stderr, /^mirrormesh: cannot listen on .*: not an address of this machine/)
  }
})

test('serve --gateway nonsense is a usage error: exit 2 (the CLI\'s code for bad arguments), one line', async () => {
  for (const address of ['nonsense', '127.0.0.1:99999']) {
    const r = await cli(['--home', join(dir, 'badaddr'), 'serve', ...SERVE, '--gateway', address])
    assert.equal(r.code, 2, address)
    assertOneLine(r.stderr, /^mirrormesh: --gateway .*: expected HOST:PORT/)
  }
})

test('the default gateway is 127.0.0.1:7680, never every interface', async () => {
  const help = await cli(['serve', '--help'])
  assert.equal(help.code, 0)
  assert.equal(/--gateway <host:port>[^]*?\(default: "([^"]*)"\)/.exec(help.stdout)?.[1], '127.0.0.1:7680')
  // Start without --gateway: it either listens on 127.0.0.1:7680 or says that exact address is busy.
  const started = await startServe(['--home', join(dir, 'default'), ...SERVE]).then(node => ({ node }), (err: Error) => ({ err }))
  if ('node' in started) {
    try {
      assert.equal(started.node.ready.gateway, 'http://127.0.0.1:7680')
      // (A request answered also means serve has installed its SIGTERM handler: it does so right
      // after printing the ready line, and a signal in between would kill it.)
      assert.equal((await req('http://127.0.0.1:7680', '/api/status')).status, 200)
    } finally {
      assert.equal(await started.node.stop(), 0)
    }
  } else {
    assert.match(started.err.message, /127\.0\.0\.1:7680 is already in use/)
  }
})
