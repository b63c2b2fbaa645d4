/**
 * Replays the exact requests brew makes (docs/homebrew.md §6) against a real node serving a
 * brew-shaped bundle: API files (A), a custom HOMEBREW_BOTTLE_DOMAIN (B: manifest, HEAD, GET, ranged
 * resume, URL-encoded flat names) and HOMEBREW_ARTIFACT_DOMAIN (C: the GHCR layout). What brew reads
 * from each answer is checked the way brew checks it: the sha256 from the API payload, the manifest
 * entry matching digest and ref name, and the headers curl's output is judged by.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync, inflateSync } from 'node:zlib'
import { cidOf, req, sha256, startSeeded, writeHomebrewFixture, type FixtureBottle, type HomebrewFixture, type RawResponse, type Seeded } from './helpers.ts'

// utils/curl.rb `curl_args`: Homebrew/{version} ({system}; {processor} {os version}) curl/{curl version}.
const UA = 'Homebrew/6.0.14 (Macintosh; arm64 Mac OS X 15.5) curl/8.7.1'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

let s: Seeded
let hb: HomebrewFixture
const statuses: number[] = []

/** A request as brew's curl sends it: its User-Agent, `Accept-Language: en`, curl's `Accept: *\/*`. */
async function brew (path: string, options: { method?: string, headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const r = await req(s.url, path, { method: options.method, headers: { 'User-Agent': UA, 'Accept-Language': 'en', Accept: '*/*', ...options.headers } })
  statuses.push(r.status)
  return r
}

/** The body as curl `--compressed` hands it to brew. */
function decoded (r: RawResponse): Buffer {
  const encoding = r.headers['content-encoding']
  if (encoding === 'gzip') return gunzipSync(r.body)
  if (encoding === 'deflate') return inflateSync(r.body)
  return r.body
}

/** `ERB::Util.url_encode`, written out: every byte outside [A-Za-z0-9_.~-] becomes %XX. */
function erbUrlEncode (text: string): string {
  return [...Buffer.from(text)].map(b => /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
}

/** What brew reads from the v2 API: formula name → { revision, rebuild, files: tag → { url, sha256 } }. */
interface ApiFormula { name: string, revision: number, versions: { stable: string }, bottle: { stable?: { rebuild: number, files: Record<string, { url: string, sha256: string }> } } }
let api: Map<string, ApiFormula>

before(async () => {
  s = await startSeeded(async dir => {
    hb = await writeHomebrewFixture(join(dir, 'homebrew'), { padFormulae: 900 })
    return { bottles: hb.bottlesDir, homebrewApi: hb.apiDir }
  })
  const raw = await readFile(join(hb.apiDir, 'formula.jws.json'))
  api = new Map((JSON.parse((JSON.parse(raw.toString()) as { payload: string }).payload) as ApiFormula[]).map(f => [f.name, f]))
})
after(async () => await s?.cleanup())

/** brew's view of a bottle: the sha256 and GHCR URL the API gives, and the flat name it asks the bottle domain for. */
function fromApi (b: FixtureBottle): { sha256: string, url: string, flat: string } {
  const f = api.get(b.formula.name)
  const file = f?.bottle.stable?.files[b.tag]
  assert.ok(f !== undefined && file !== undefined, `${b.formula.name} ${b.tag} is in formula.jws.json`)
  const pkgVersion = f.revision > 0 ? `${f.versions.stable}_${f.revision}` : f.versions.stable
  const rebuild = f.bottle.stable?.rebuild ?? 0
  return { sha256: file.sha256, url: file.url, flat: `${f.name}-${pkgVersion}.${b.tag}.bottle${rebuild > 0 ? `.${rebuild}` : ''}.tar.gz` }
}

test('A. API domain: every API file byte-identical, then 304 for If-None-Match and for If-Modified-Since', async () => {
  for (const rel of ['internal/packages.arm64_sequoia.jws.json', 'formula.jws.json', 'cask.jws.json']) {
    const bytes = await readFile(join(hb.apiDir, rel))
    const r = await brew(`/homebrew/api/${rel}`, { headers: { 'Accept-Encoding': 'deflate, gzip' } })
    assert.equal(r.status, 200, rel)
    const body = decoded(r)
    assert.equal(sha256(body), sha256(bytes), `${rel} is byte-identical (brew verifies its JWS signature)`)
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8', rel)
    assert.equal(r.headers['content-length'], String(r.body.length), rel)
    assert.match(r.headers.etag ?? '', /^"[a-z0-9]+"$/, rel)
    assert.ok(!Number.isNaN(Date.parse(r.headers['last-modified'] ?? '')), `${rel} Last-Modified`)
    assert.match(r.headers['cache-control'] ?? '', /must-revalidate|no-cache/, rel)
    // curl --etag-compare: If-None-Match with the saved ETag.
    const byEtag = await brew(`/homebrew/api/${rel}`, { headers: { 'Accept-Encoding': 'deflate, gzip', 'If-None-Match': r.headers.etag ?? '' } })
    assert.equal(byEtag.status, 304, `${rel} If-None-Match`)
    assert.equal(byEtag.body.length, 0)
    // curl --time-cond FILE: If-Modified-Since with the file's mtime, which --remote-time set from Last-Modified.
    const byTime = await brew(`/homebrew/api/${rel}`, { headers: { 'Accept-Encoding': 'deflate, gzip', 'If-Modified-Since': r.headers['last-modified'] ?? '' } })
    assert.equal(byTime.status, 304, `${rel} If-Modified-Since`)
    assert.equal(byTime.body.length, 0)
  }
  // The real formula.jws.json is ~32 MB; this one is over the 1 MiB in-memory limit, so it streams.
  assert.ok((await readFile(join(hb.apiDir, 'formula.jws.json'))).length > 1 << 20)
  // A file the bundle lacks is a 404, so brew falls back to formulae.brew.sh.
  assert.equal((await brew('/homebrew/api/cask_tap_migrations.jws.json')).status, 404)
})

test('B. bottle domain: brew\'s encoded flat names for @, +, a revision and a rebuild', () => {
  const names = hb.bottles.map(b => erbUrlEncode(fromApi(b).flat))
  assert.deepEqual(names, [
    'openssl%403-3.5.0.arm64_sequoia.bottle.tar.gz',
    'libsigc%2B%2B-3.6.0.x86_64_linux.bottle.tar.gz',
    'imagemagick-7.1.1-47_1.arm64_sequoia.bottle.tar.gz',
    'jq-1.8.2.arm64_sequoia.bottle.1.tar.gz',
    'jq-1.8.2.x86_64_linux.bottle.1.tar.gz'
  ])
})

test('B. bottle domain (brew >= 6.0.13): manifest GET with the bearer token, then HEAD, GET and a ranged resume', async () => {
  for (const b of hb.bottles) {
    const { sha256: expected, flat } = fromApi(b)
    const path = `/homebrew/bottles/${erbUrlEncode(flat)}`
    const f = api.get(b.formula.name)
    const rebuild = f?.bottle.stable?.rebuild ?? 0
    const pkgVersion = flat.slice(b.formula.name.length + 1, flat.indexOf(`.${b.tag}.bottle`))

    // 1. The manifest (formula_installer.rb fetch_bottle_tab): no HEAD, bearer token, OCI Accept.
    const tag = `${pkgVersion}${rebuild > 0 ? `-${rebuild}` : ''}`
    const stored = hb.manifests.get(`${b.image}/${tag}`)
    const m = await brew(`/homebrew/bottles/${b.image}/manifests/${tag}`, { headers: { Accept: OCI_INDEX, Authorization: 'Bearer QQ==' } })
    if (stored === undefined) {
      assert.equal(m.status, 404, `${b.image}:${tag} has no manifest in the bundle: brew falls back to ghcr.io`)
    } else {
      assert.equal(m.status, 200, `${b.image}:${tag}`)
      assert.deepEqual(m.body, stored, 'manifest bytes unchanged')
      assert.equal(m.headers['content-type'], OCI_INDEX)
      assert.equal(m.headers['docker-content-digest'], `sha256:${sha256(stored)}`)
      // resource.rb BottleManifest#manifest_annotations: digest and ref name must both match.
      const ref = `${pkgVersion}.${b.tag}${rebuild > 0 ? `.${rebuild}` : ''}`
      const index = JSON.parse(m.body.toString()) as { manifests: Array<{ annotations: Record<string, string> }> }
      const entry = index.manifests.find(e => e.annotations['sh.brew.bottle.digest'] === expected && e.annotations['org.opencontainers.image.ref.name'] === ref)
      assert.ok(entry, `brew finds the manifest entry for ${ref}`)
      assert.equal((JSON.parse(entry.annotations['sh.brew.tab'] ?? '') as { homebrew_version: string }).homebrew_version, '6.0.14')
    }

    // 2. HEAD (curl --fail --location --silent --head): the headers brew reads.
    const h = await brew(path, { method: 'HEAD' })
    assert.equal(h.status, 200, flat)
    assert.equal(h.body.length, 0)
    assert.equal(h.headers['content-length'], String(b.bytes.length), flat)
    assert.equal(h.headers['content-type'], 'application/octet-stream', 'never text/*: brew would skip its size check')
    assert.equal(h.headers['accept-ranges'], 'bytes', 'not "none": brew resumes')
    assert.ok(!Number.isNaN(Date.parse(h.headers['last-modified'] ?? '')), 'Last-Modified is an HTTP date')
    assert.equal(h.headers['content-disposition'], `attachment; filename="${flat}"`, 'saves brew the GET-for-headers')
    assert.equal(h.headers.etag, `"${await cidOf(b.bytes)}"`)
    assert.equal(h.headers['cache-control'], 'public, max-age=31536000, immutable')

    // 3. brew's GET-for-headers fallback (`--head --request GET`): read the headers, drop the connection.
    const dropped = await new Promise<{ status: number, length: string | undefined }>((resolve, reject) => {
      const { hostname, port } = new URL(s.url)
      const r = request({ host: hostname, port, path, headers: { 'User-Agent': UA, 'Accept-Language': 'en' }, agent: false }, res => {
        resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'] })
        res.destroy()
      })
      r.on('error', reject)
      r.end()
    })
    statuses.push(dropped.status)
    assert.deepEqual(dropped, { status: 200, length: String(b.bytes.length) })

    // 4. The download (no Authorization: a plain CurlDownloadStrategy), checked against the API's sha256.
    const g = await brew(path)
    assert.equal(g.status, 200, flat)
    assert.equal(g.headers['content-length'], String(b.bytes.length))
    assert.equal(sha256(g.body), expected, `${flat} matches the API's sha256`)

    // 5. A resume of a partial `.incomplete` file: Range: bytes={partial size}- → 206 and the tail.
    const partial = Math.floor(b.bytes.length / 3)
    const tail = await brew(path, { headers: { Range: `bytes=${partial}-` } })
    assert.equal(tail.status, 206, flat)
    assert.equal(tail.headers['content-range'], `bytes ${partial}-${b.bytes.length - 1}/${b.bytes.length}`)
    assert.equal(tail.headers['content-length'], String(b.bytes.length - partial))
    assert.equal(sha256(Buffer.concat([g.body.subarray(0, partial), tail.body])), expected, 'partial + resumed tail = the bottle')

    // Unencoded names (other clients) name the same file.
    assert.equal(sha256((await brew(`/homebrew/bottles/${flat}`)).body), expected)
  }
})

test('C. artifact domain: GHCR blobs and manifests, image names with /, any Authorization or none', async () => {
  for (const b of hb.bottles) {
    const { sha256: expected, url } = fromApi(b)
    // curl_download_strategy.rb: `https://ghcr.io/` is replaced by `{HOMEBREW_ARTIFACT_DOMAIN}/`.
    assert.ok(url.startsWith('https://ghcr.io/v2/homebrew/core/'))
    const path = url.replace('https://ghcr.io/', '/')
    assert.equal(path, `/v2/homebrew/core/${b.image}/blobs/sha256:${expected}`)
    for (const auth of [undefined, 'Bearer QQ==', 'Basic Zm9vOmJhcg==']) {
      const r = await brew(path, { headers: auth === undefined ? {} : { Authorization: auth } })
      assert.equal(r.status, 200, `${path} with ${auth ?? 'no'} Authorization`)
      assert.equal(sha256(r.body), expected)
      assert.equal(r.headers['content-length'], String(b.bytes.length))
      assert.equal(r.headers['content-type'], 'application/octet-stream')
      assert.equal(r.headers['accept-ranges'], 'bytes')
      assert.equal(r.headers.etag, `"${await cidOf(b.bytes)}"`)
    }
    const tail = await brew(path, { headers: { Range: 'bytes=7-' } })
    assert.equal(tail.status, 206)
    assert.equal(tail.headers['content-range'], `bytes 7-${b.bytes.length - 1}/${b.bytes.length}`)
    assert.deepEqual(tail.body, b.bytes.subarray(7))
  }
  for (const [key, bytes] of hb.manifests) {
    const [image, tag] = [key.slice(0, key.lastIndexOf('/')), key.slice(key.lastIndexOf('/') + 1)]
    const r = await brew(`/v2/homebrew/core/${image}/manifests/${tag}`, { headers: { Accept: OCI_INDEX } })
    assert.equal(r.status, 200, key)
    assert.deepEqual(r.body, bytes)
    assert.equal(r.headers['content-type'], OCI_INDEX)
    assert.equal(r.headers['docker-content-digest'], `sha256:${sha256(bytes)}`)
    assert.ok(!Number.isNaN(Date.parse(r.headers['last-modified'] ?? '')))
    assert.ok(r.headers.etag !== undefined)
    assert.equal((await brew(`/v2/homebrew/core/${image}/manifests/${tag}`, { headers: { Accept: OCI_INDEX, 'If-None-Match': r.headers.etag } })).status, 304)
  }
})

test('C. brew 6.x: blob URLs built from internal/packages bottle_checksum', async () => {
  const raw = await readFile(join(hb.apiDir, 'internal/packages.arm64_sequoia.jws.json'))
  const payload = JSON.parse((JSON.parse(raw.toString()) as { payload: string }).payload) as { formulae: Record<string, { bottle_checksum?: string }> }
  let checked = 0
  for (const b of hb.bottles.filter(x => x.tag === 'arm64_sequoia')) {
    const checksum = payload.formulae[b.formula.name]?.bottle_checksum
    assert.equal(checksum, sha256(b.bytes), b.formula.name)
    const r = await brew(`/v2/homebrew/core/${b.image}/blobs/sha256:${checksum}`)
    assert.equal(r.status, 200)
    assert.equal(sha256(r.body), checksum)
    checked++
  }
  assert.equal(checked, 3, 'openssl@3, imagemagick and jq have arm64_sequoia bottles')
})

test('never a 401, whatever brew sent', () => {
  assert.ok(statuses.length > 60, `the replay made its requests (${statuses.length})`)
  assert.deepEqual(statuses.filter(code => code === 401 || code === 403 || code >= 500), [])
})
