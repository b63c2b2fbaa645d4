/**
 * Builders for Homebrew files shaped like brew's real ones: JWS envelopes (brew `api.rb`), v2 formula
 * hashes (`formula.jws.json`), 6.x internal packages entries (`api/formula_struct.rb` `serialize`),
 * OCI image indexes (`github_packages.rb` `upload_bottle`) and bottle tarballs (`{name}/{version}/…`).
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'

/** A bottle of a test formula: tag, sha256 and cellar as brew's API lists them. */
export interface TestBottle {
  tag: string
  sha256: string
  cellar?: string
  size?: number
}

/** A test formula with its bottles. */
export interface TestFormula {
  name: string
  version: string
  revision?: number
  rebuild?: number
  bottles: TestBottle[]
  /** Per-tag overrides, as in brew's `variations`. */
  variations?: Record<string, Record<string, unknown>>
}

// {"alg":"PS512","b64":false,"crit":["b64"]}, as brew's published files carry it.
const PROTECTED = Buffer.from('{"alg":"PS512","b64":false,"crit":["b64"]}').toString('base64url')

/** A Homebrew JWS envelope around `payload` (the signature is well-formed but not Homebrew's). */
export function jws (payload: unknown): string {
  const text = JSON.stringify(payload)
  const signature = Buffer.concat([0, 1, 2, 3, 4, 5, 6, 7].map(i => createHash('sha512').update(`${i}${text}`).digest())).toString('base64url')
  return JSON.stringify({ payload: text, signatures: [{ protected: PROTECTED, header: { kid: 'homebrew-1' }, signature }] })
}

/** A fake but well-formed sha256 derived from `seed`. */
export function fakeSha (seed: string): string {
  return createHash('sha256').update(seed).digest('hex')
}

/** `{pkg_version}` of a test formula. */
export function pkg (f: TestFormula): string {
  return (f.revision ?? 0) > 0 ? `${f.version}_${f.revision ?? 0}` : f.version
}

/** A formula hash in the v2 shape of `formula.jws.json` (brew `formula.rb` `to_hash_with_variations`). */
export function formulaV2 (f: TestFormula): Record<string, unknown> {
  const image = f.name.replaceAll('@', '/').replaceAll('+', 'x')
  const files = Object.fromEntries(f.bottles.map(b => [b.tag, {
    cellar: b.cellar ?? ':any_skip_relocation',
    url: `https://ghcr.io/v2/homebrew/core/${image}/blobs/sha256:${b.sha256}`,
    sha256: b.sha256
  }]))
  const hash: Record<string, unknown> = {
    name: f.name,
    full_name: f.name,
    tap: 'homebrew/core',
    oldnames: [],
    aliases: [],
    versioned_formulae: [],
    desc: `Test formula ${f.name}`,
    license: 'MIT',
    homepage: `https://example.org/${f.name}`,
    versions: { stable: f.version, head: null, bottle: f.bottles.length > 0 },
    urls: { stable: { url: `https://example.org/${f.name}-${f.version}.tar.gz`, tag: null, revision: null, using: null, checksum: fakeSha(`src ${f.name}`) } },
    revision: f.revision ?? 0,
    version_scheme: 0,
    autobump: true,
    no_autobump_message: null,
    skip_livecheck: false,
    bottle: f.bottles.length > 0 ? { stable: { rebuild: f.rebuild ?? 0, root_url: 'https://ghcr.io/v2/homebrew/core', files } } : {},
    pour_bottle_only_if: null,
    keg_only: false,
    keg_only_reason: null,
    options: [],
    build_dependencies: [],
    dependencies: [],
    test_dependencies: [],
    recommended_dependencies: [],
    optional_dependencies: [],
    uses_from_macos: [],
    uses_from_macos_bounds: [],
    requirements: [],
    conflicts_with: [],
    conflicts_with_reasons: [],
    link_overwrite: [],
    caveats: null,
    installed: [],
    linked_keg: null,
    pinned: false,
    outdated: false,
    deprecated: false,
    deprecation_date: null,
    deprecation_reason: null,
    deprecation_replacement_formula: null,
    deprecation_replacement_cask: null,
    disabled: false,
    disable_date: null,
    disable_reason: null,
    disable_replacement_formula: null,
    disable_replacement_cask: null,
    post_install_defined: false,
    service: null,
    tap_git_head: fakeSha('core head').slice(0, 40),
    ruby_source_path: `Formula/${f.name[0] ?? 'x'}/${f.name}.rb`,
    ruby_source_checksum: { sha256: fakeSha(`rb ${f.name}`) }
  }
  if (f.variations !== undefined) hash.variations = f.variations
  return hash
}

/**
 * A formula entry of `internal/packages.{hostTag}.jws.json` (brew 6.x `FormulaStruct#serialize`):
 * symbols as `":sym"`, `bottle_tag` only when the bottle's tag differs, `bottle_cellar` omitted for
 * `:any_skip_relocation`, `bottle_rebuild`/`revision` omitted when 0.
 */
export function packagesEntry (f: TestFormula, hostTag: string): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    desc: `Test formula ${f.name}`,
    homepage: `https://example.org/${f.name}`,
    license: 'MIT',
    ruby_source_checksum: fakeSha(`rb ${f.name}`),
    stable_version: f.version,
    stable_url_args: [`https://example.org/${f.name}-${f.version}.tar.gz`],
    stable_checksum: fakeSha(`src ${f.name}`),
    executables: [f.name.replace(/@.*/, '')]
  }
  if ((f.revision ?? 0) > 0) entry.revision = f.revision
  const bottle = f.bottles.find(b => b.tag === hostTag) ?? f.bottles.find(b => b.tag === 'all')
  if (bottle !== undefined) {
    if ((f.rebuild ?? 0) > 0) entry.bottle_rebuild = f.rebuild
    if (bottle.tag !== hostTag) entry.bottle_tag = `:${bottle.tag}`
    const cellar = bottle.cellar ?? ':any_skip_relocation'
    if (cellar !== ':any_skip_relocation') entry.bottle_cellar = cellar
    entry.bottle_checksum = bottle.sha256
  }
  return entry
}

/** The whole 6.x internal packages payload for `hostTag`. */
export function packagesPayload (formulae: TestFormula[], hostTag: string): Record<string, unknown> {
  return {
    metadata: { homebrew_version: '6.0.14', bottle_tag: hostTag, generated_at: 1767225600 },
    formulae: Object.fromEntries(formulae.map(f => [f.name, packagesEntry(f, hostTag)])),
    casks: { firefox: { homepage: 'https://www.mozilla.org/firefox/', names: ['Mozilla Firefox'], version: '141.0', sha256: fakeSha('firefox'), url_args: ['https://download.mozilla.org/firefox-141.0.dmg'], raw_artifacts: [[':app', ['Firefox.app']]] } },
    formula_aliases: { openssl: 'openssl@3' },
    formula_renames: {},
    cask_renames: {},
    formula_tap_git_head: fakeSha('core head').slice(0, 40),
    cask_tap_git_head: fakeSha('cask head').slice(0, 40),
    formula_tap_migrations: {},
    cask_tap_migrations: {}
  }
}

/** An OCI image index as ghcr.io serves a bottle manifest (brew `github_packages.rb` `upload_bottle`). */
export function bottleManifest (f: TestFormula, override: Record<string, string> = {}): Record<string, unknown> {
  const versionRebuild = `${pkg(f)}${(f.rebuild ?? 0) > 0 ? `-${f.rebuild ?? 0}` : ''}`
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: f.bottles.map(b => {
      const ref = `${pkg(f)}.${b.tag}${(f.rebuild ?? 0) > 0 ? `.${f.rebuild ?? 0}` : ''}`
      return {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${fakeSha(`manifest ${f.name} ${b.tag}`)}`,
        size: 2300,
        platform: { architecture: b.tag.startsWith('arm64') ? 'arm64' : 'amd64', os: b.tag.endsWith('linux') ? 'linux' : 'darwin', 'os.version': 'macOS 15' },
        annotations: {
          'org.opencontainers.image.ref.name': ref,
          'sh.brew.bottle.digest': override[b.tag] ?? b.sha256,
          'sh.brew.bottle.size': String(b.size ?? 1024),
          'sh.brew.tab': JSON.stringify({ homebrew_version: '6.0.14', changed_files: [], source_modified_time: 1767225600, compiler: 'clang', runtime_dependencies: [], arch: 'arm64', built_on: { os: 'Macintosh', os_version: 'macOS 15' } })
        }
      }
    }),
    annotations: {
      'com.github.package.type': 'homebrew_bottle',
      'org.opencontainers.image.created': '2026-01-01',
      'org.opencontainers.image.description': `Test formula ${f.name}`,
      'org.opencontainers.image.license': 'MIT',
      'org.opencontainers.image.ref.name': versionRebuild,
      'org.opencontainers.image.title': f.name,
      'org.opencontainers.image.vendor': 'homebrew',
      'org.opencontainers.image.version': pkg(f)
    }
  }
}

/** A small real bottle: a gzip'd tar of `{name}/{pkg_version}/…`, as brew pours it. */
export async function bottleTarGz (name: string, pkgVersion: string, salt = ''): Promise<Buffer> {
  const tar = pack()
  tar.entry({ name: `${name}/${pkgVersion}/INSTALL_RECEIPT.json`, mtime: new Date(0) }, JSON.stringify({ homebrew_version: '6.0.14', built_as_bottle: true, poured_from_bottle: false }))
  tar.entry({ name: `${name}/${pkgVersion}/bin/${name}`, mode: 0o755, mtime: new Date(0) }, `#!/bin/sh\necho ${name} ${pkgVersion}${salt}\n`)
  tar.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of tar) chunks.push(chunk as Buffer)
  return gzipSync(Buffer.concat(chunks))
}

/** A temporary directory, removed by the returned cleanup. */
export async function tempDir (): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mirrormesh-homebrew-'))
  return { dir, cleanup: async () => await rm(dir, { recursive: true, force: true }) }
}
