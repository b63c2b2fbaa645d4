/**
 * Gateway test helpers: a seeded node (real bundle → real import → real gateway), raw HTTP over a
 * socket (so no client normalises the path), and counting a process's open file descriptors.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readlink, writeFile } from 'node:fs/promises'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { dirname, join } from 'node:path'
import { CID } from 'multiformats/cid'
import { sha256 as sha256Hasher } from 'multiformats/hashes/sha2'
import { createBundle } from '../../src/bundle/create.ts'
import { importBundle } from '../../src/bundle/import.ts'
import { MirrormeshNode } from '../../src/node/node.ts'
import { Repo } from '../../src/node/repo.ts'
import { readKeyFile } from '../../src/trust/keys.ts'
import { bottleManifest, bottleTarGz, formulaV2, jws, packagesPayload, pkg, type TestFormula } from '../homebrew/helpers.ts'
import { newKey, tempDir, trustIn } from '../utils/home.ts'

/** sha256 hex of bytes. */
export const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')

/** The CID the brief names every blob by, computed with multiformats alone: CIDv1, raw, sha2-256. */
export async function cidOf (bytes: Uint8Array): Promise<string> {
  return CID.create(1, 0x55, await sha256Hasher.digest(bytes)).toString()
}

/** Inputs for a bundle: any of `--crates`, `--bottles` with `--homebrew-api`. */
export interface SeedInputs {
  crates?: string
  bottles?: string
  homebrewApi?: string
}

/** A node home holding one imported bundle, and (if started) its in-process gateway. */
export interface Seeded {
  dir: string
  home: string
  publisher: string
  node: MirrormeshNode
  url: string
  /** Stop the node (if still running) and remove every temp file. */
  cleanup: () => Promise<void>
}

/** Build a signed bundle of `inputs`, import it into a fresh home that trusts its key. */
export async function seedHome (dir: string, inputs: SeedInputs): Promise<{ home: string, publisher: string }> {
  const keyFile = join(dir, 'pub.key')
  const { publisher } = await newKey(keyFile)
  const bundle = join(dir, 'seed.mmb')
  const pub = await Repo.open(join(dir, 'publisher'))
  try {
    await createBundle(pub, { key: await readKeyFile(keyFile), out: bundle, ...inputs })
  } finally {
    await pub.close()
  }
  const home = join(dir, 'home')
  await trustIn(home, publisher)
  const repo = await Repo.open(home)
  try {
    await importBundle(repo, bundle)
  } finally {
    await repo.close()
  }
  return { home, publisher }
}

/** `seedHome`, then start the node in-process with its gateway on 127.0.0.1 and a free port. */
export async function startSeeded (make: (dir: string) => Promise<SeedInputs>): Promise<Seeded> {
  const { dir, cleanup } = await tempDir('mirrormesh-gateway-')
  try {
    const { home, publisher } = await seedHome(dir, await make(dir))
    const node = await MirrormeshNode.start({ home, gateway: { host: '127.0.0.1', port: 0 } })
    let stopped = false
    return {
      dir, home, publisher, node, url: node.gateway.url,
      cleanup: async () => {
        if (!stopped) { stopped = true; await node.stop() }
        await cleanup()
      }
    }
  } catch (err) {
    await cleanup()
    throw err
  }
}

/** A response as the wire carried it. */
export interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/**
 * One request with node:http (no pooling, path sent exactly as given, any header allowed,
 * including Host). Resolves after the whole body arrived.
 */
export async function req (base: string, path: string, options: { method?: string, headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    const r = httpRequest({ host: hostname, port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    r.on('error', reject)
    r.end()
  })
}

/**
 * Send raw bytes as the request line and headers over a TCP socket and return the status code and
 * the raw response text. For paths no HTTP client would send (literal NUL, unnormalised `..`).
 */
export async function rawRequest (base: string, requestTarget: string, method = 'GET'): Promise<{ status: number, text: string }> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    socket.on('connect', () => socket.write(Buffer.from(`${method} ${requestTarget} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`, 'latin1')))
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text)
      resolve({ status: match === null ? 0 : Number(match[1]), text })
    })
  })
}

/** The targets of a process's open file descriptors (`/proc/{pid}/fd`), skipping ones closed while reading. */
export async function openFds (pid: number | 'self' = 'self'): Promise<string[]> {
  const dir = `/proc/${pid}/fd`
  const out: string[] = []
  for (const fd of await readdir(dir)) {
    try { out.push(await readlink(join(dir, fd))) } catch { /* closed meanwhile */ }
  }
  return out
}

/** Poll `check` until it is true or `ms` pass; returns the last result (for the assertion that follows). */
export async function eventually (check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

/** Sum the counter `mirrormesh_http_requests_total` for a route and status in Prometheus text. */
export function requestCount (metrics: string, route: string, status: number): number {
  let total = 0
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('mirrormesh_http_requests_total{')) continue
    const labels = line.slice(line.indexOf('{') + 1, line.indexOf('}'))
    if (labels.includes(`route="${route}"`) && labels.includes(`status="${status}"`)) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

async function put (root: string, rel: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true })
  await writeFile(join(root, rel), bytes)
}

/** One bottle of the Homebrew fixture: its formula, tag, bytes, and the names brew uses for it. */
export interface FixtureBottle {
  formula: TestFormula
  tag: string
  bytes: Buffer
  /** `{name}-{pkg_version}.{tag}.bottle[.{rebuild}].tar.gz`, unencoded. */
  flat: string
  /** The GHCR image (`openssl/3`). */
  image: string
}

/** A Homebrew input written like one copied from a Mac: API files, real bottle tarballs, manifests. */
export interface HomebrewFixture {
  apiDir: string
  bottlesDir: string
  bottles: FixtureBottle[]
  formulae: TestFormula[]
  /** Manifest bytes by `{image}/{tag}`. */
  manifests: Map<string, Buffer>
}

/**
 * Write a Homebrew input under `root`: `openssl@3` (an `@`), `libsigc++` (a `+`), `imagemagick`
 * 7.1.1-47 revision 1, `jq` rebuild 1 (two tags) — real bottle tarballs whose sha256 the API files
 * list (v2 `formula.jws.json` and 6.x `internal/packages.arm64_sequoia.jws.json`) — and manifests
 * for openssl@3 and jq, as ghcr.io serves them.
 */
export async function writeHomebrewFixture (root: string, options: { padFormulae?: number } = {}): Promise<HomebrewFixture> {
  const apiDir = join(root, 'api')
  const bottlesDir = join(root, 'bottles')
  const specs: Array<[string, string, { revision?: number, rebuild?: number }, string[]]> = [
    ['openssl@3', '3.5.0', {}, ['arm64_sequoia']],
    ['libsigc++', '3.6.0', {}, ['x86_64_linux']],
    ['imagemagick', '7.1.1-47', { revision: 1 }, ['arm64_sequoia']],
    ['jq', '1.8.2', { rebuild: 1 }, ['arm64_sequoia', 'x86_64_linux']]
  ]
  const bottles: FixtureBottle[] = []
  const formulae: TestFormula[] = []
  for (const [name, version, extra, tags] of specs) {
    const formula: TestFormula = { name, version, ...extra, bottles: [] }
    for (const tag of tags) {
      const bytes = await bottleTarGz(name, pkg(formula), tag)
      formula.bottles.push({ tag, sha256: sha256(bytes), size: bytes.length })
      const rebuild = (formula.rebuild ?? 0) > 0 ? `.${formula.rebuild ?? 0}` : ''
      const flat = `${name}-${pkg(formula)}.${tag}.bottle${rebuild}.tar.gz`
      bottles.push({ formula, tag, bytes, flat, image: name.replaceAll('@', '/').replaceAll('+', 'x') })
      await put(bottlesDir, flat, bytes)
    }
    formulae.push(formula)
  }
  // `padFormulae` formulae without bottles make formula.jws.json large, as the real one (~32 MB) is.
  const padding: TestFormula[] = Array.from({ length: options.padFormulae ?? 0 }, (_, i) => ({ name: `pad${i}`, version: '1.0', bottles: [] }))
  await put(apiDir, 'formula.jws.json', jws([...formulae, ...padding].map(formulaV2)))
  await put(apiDir, 'internal/packages.arm64_sequoia.jws.json', jws(packagesPayload(formulae, 'arm64_sequoia')))
  await put(apiDir, 'cask.jws.json', jws([{ token: 'firefox', version: '141.0' }]))
  const manifests = new Map<string, Buffer>()
  for (const [image, tag, formula] of [['openssl/3', '3.5.0', formulae[0]], ['jq', '1.8.2-1', formulae[3]]] as const) {
    const bytes = Buffer.from(JSON.stringify(bottleManifest(formula as TestFormula)))
    manifests.set(`${image}/${tag}`, bytes)
    await put(bottlesDir, `manifests/${image}/${tag}.json`, bytes)
  }
  return { apiDir, bottlesDir, bottles, formulae, manifests }
}
