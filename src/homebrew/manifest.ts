/**
 * Bottle manifests: the OCI image index ghcr.io serves for `{image}/manifests/{version[-rebuild]}`
 * (`application/vnd.oci.image.index.v1+json`). brew picks the entry whose annotations have
 * `sh.brew.bottle.digest` equal to the bottle's sha256 and `org.opencontainers.image.ref.name` equal
 * to `{pkg_version}.{tag}[.{rebuild}]`, then parses its `sh.brew.tab` JSON (brew `resource.rb`,
 * `Resource::BottleManifest#manifest_annotations`). Manifests are carried byte-identical; here we
 * only read enough to check them against the API.
 */
import { createHash } from 'node:crypto'
import { BundleInputError } from '../util/errors.ts'
import type { BottleIndex } from './bottle-index.ts'
import { imageName, imageVersionRebuild } from './names.ts'
import { isImageName, OCI_DIGEST, OCI_TAG, SHA256_HEX } from './validate.ts'

/** Media type of an OCI image index, as ghcr.io labels bottle manifests. */
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json'

/** What mirrormesh reads from a manifest: its own ref and title, and each entry's ref name and bottle digest. */
export interface BottleManifest {
  /** Top-level `org.opencontainers.image.ref.name`: `{pkg_version}[-{rebuild}]`. */
  refName?: string
  /** Top-level `org.opencontainers.image.title`: the formula's full name (`openssl@3`). */
  title?: string
  entries: Array<{ refName?: string, digest?: string }>
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function text (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/** Parse a bottle manifest. Throws BundleInputError naming `file` if it is not an OCI image index. */
export function parseBottleManifest (bytes: Uint8Array, file: string): BottleManifest {
  const fail = (what: string): never => {
    throw new BundleInputError(`${file}: not a bottle manifest (OCI image index): ${what}; save the body of ghcr.io's /manifests/ response unchanged`)
  }
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    return fail(`invalid JSON (${(err as Error).message})`)
  }
  if (!isObject(json) || json.schemaVersion !== 2 || !Array.isArray(json.manifests)) return fail('needs schemaVersion 2 and a "manifests" array')
  if (json.mediaType !== undefined && json.mediaType !== OCI_INDEX_MEDIA_TYPE) return fail(`mediaType is ${JSON.stringify(json.mediaType)}`)
  const annotations = isObject(json.annotations) ? json.annotations : {}
  const entries = json.manifests.map((entry: unknown) => {
    const a = isObject(entry) && isObject(entry.annotations) ? entry.annotations : {}
    const digest = text(a['sh.brew.bottle.digest'])
    if (digest !== undefined && !SHA256_HEX.test(digest)) fail(`sh.brew.bottle.digest ${JSON.stringify(digest)} is not a sha256`)
    return { refName: text(a['org.opencontainers.image.ref.name']), digest }
  })
  const manifest: BottleManifest = { entries }
  const refName = text(annotations['org.opencontainers.image.ref.name'])
  const title = text(annotations['org.opencontainers.image.title'])
  if (refName !== undefined) manifest.refName = refName
  if (title !== undefined) manifest.title = title
  return manifest
}

/** Image and ref of a manifest found outside `manifests/`: from its title (formula name) and ref name annotations. */
export function manifestIdentity (manifest: BottleManifest, file: string): { image: string, ref: string } {
  const image = manifest.title !== undefined && !manifest.title.includes('/') ? safeImage(manifest.title) : undefined
  const ref = manifest.refName === undefined ? undefined : imageVersionRebuild(manifest.refName)
  if (image === undefined || ref === undefined || !OCI_TAG.test(ref)) {
    throw new BundleInputError(`${file}: cannot tell which image and tag this manifest is for; put it at manifests/{image}/{tag}.json in the bottles directory`)
  }
  return { image, ref }
}

function safeImage (formulaName: string): string | undefined {
  try {
    const image = imageName(formulaName)
    return isImageName(image) ? image : undefined
  } catch {
    return undefined
  }
}

/**
 * Check a manifest stored as `{image}/{ref}`: a digest ref must be the manifest's own sha256, a tag
 * ref must equal its `org.opencontainers.image.ref.name` when present, and every entry the API also
 * lists must carry the API's sha256 as `sh.brew.bottle.digest`. Throws BundleInputError.
 */
export function checkManifest (manifest: BottleManifest, bytes: Uint8Array, image: string, ref: string, index: BottleIndex, file: string): void {
  if (OCI_DIGEST.test(ref)) {
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    if (actual !== ref) throw new BundleInputError(`${file}: stored as ${image}@${ref} but its digest is ${actual}; rename it to its digest or to its tag`)
  } else if (manifest.refName !== undefined && imageVersionRebuild(manifest.refName) !== ref) {
    throw new BundleInputError(`${file}: stored as tag ${ref} but its org.opencontainers.image.ref.name is ${manifest.refName}; rename it to manifests/${image}/${imageVersionRebuild(manifest.refName)}.json`)
  }
  for (const entry of manifest.entries) {
    if (entry.refName === undefined || entry.digest === undefined) continue
    const expected = index.sha256sForPlatform(image, entry.refName)
    if (expected.length > 0 && !expected.includes(entry.digest)) {
      throw new BundleInputError(
        `${file}: entry ${entry.refName} has sh.brew.bottle.digest ${entry.digest} but the API says sha256 ${expected.join(' or ')}; ` +
        'brew would reject it — fetch the manifest and the API files at the same time'
      )
    }
  }
}
