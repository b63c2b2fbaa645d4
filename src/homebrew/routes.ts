/**
 * Pure parsers for the Homebrew request paths the gateway serves. They take the raw (still
 * percent-encoded) path after the route prefix and return what it names, or undefined for anything
 * malformed or unsafe: the gateway answers those with 404 and never builds a catalog path from them.
 */
import { bottleCatalogPath, parseBottleFileName } from './names.ts'
import { isImageName, isManifestRef, MAX_PATH, SHA256_HEX } from './validate.ts'

/** A request in the GHCR layout (HOMEBREW_ARTIFACT_DOMAIN): a blob by digest, or a manifest by tag or digest. */
export type GhcrRoute =
  | { image: string, kind: 'blob', sha256: string }
  | { image: string, kind: 'manifest', ref: string }

/** A request on a custom HOMEBREW_BOTTLE_DOMAIN: a flat bottle file, or (brew ≥ 6.0.13) a manifest. */
export type BottleDomainRoute =
  | { kind: 'bottle', catalogPath: string }
  | { kind: 'manifest', image: string, ref: string }

/** Split a raw path into decoded segments; undefined if any segment is empty, `.`/`..`, or decodes to something unsafe. */
function segments (path: string): string[] | undefined {
  // eslint-disable-next-line no-control-regex
  if (path.length === 0 || path.length > MAX_PATH || /[\u0000-\u001f\u007f\\?#]/u.test(path)) return undefined
  const out: string[] = []
  for (const raw of path.split('/')) {
    let part: string
    try {
      part = decodeURIComponent(raw)
    } catch {
      return undefined
    }
    // An encoded `/` or `\` (`%2F`, `%5C`), NUL, or a traversal segment after decoding is refused.
    // eslint-disable-next-line no-control-regex
    if (part.length === 0 || part === '.' || part === '..' || /[/\\\u0000-\u001f\u007f]/u.test(part)) return undefined
    out.push(part)
  }
  return out
}

/** Image and the last two segments (`blobs|manifests`, reference) of `{image…}/{kind}/{ref}`. */
function splitImagePath (parts: string[]): { image: string, kind: string, ref: string } | undefined {
  if (parts.length < 3) return undefined
  const image = parts.slice(0, -2).join('/')
  if (!isImageName(image)) return undefined
  return { image, kind: parts.at(-2) ?? '', ref: parts.at(-1) ?? '' }
}

/**
 * Parse the path after `/v2/homebrew/core/`: `{image}/blobs/sha256:{hex}` or `{image}/manifests/{ref}`.
 * Image names contain `/` (`openssl/3`), so the kind is found from the end.
 */
export function parseGhcrPath (path: string): GhcrRoute | undefined {
  const parts = segments(path)
  const split = parts === undefined ? undefined : splitImagePath(parts)
  if (split === undefined) return undefined
  const { image, kind, ref } = split
  if (kind === 'blobs') {
    const hex = ref.startsWith('sha256:') ? ref.slice('sha256:'.length) : ''
    return SHA256_HEX.test(hex) ? { image, kind: 'blob', sha256: hex } : undefined
  }
  if (kind === 'manifests' && isManifestRef(ref)) return { image, kind: 'manifest', ref }
  return undefined
}

/**
 * Parse the path after `/homebrew/bottles/`: one URL-encoded flat bottle name (brew sends
 * `ERB::Util.url_encode`d names, `openssl%403-…`), or `{image}/manifests/{ref}` (brew ≥ 6.0.13 asks
 * the bottle domain for the manifest first). brew's `name--version` cache form is never requested and is refused.
 */
export function parseBottleDomainPath (path: string): BottleDomainRoute | undefined {
  const parts = segments(path)
  if (parts === undefined) return undefined
  if (parts.length === 1) {
    const name = parts[0] ?? ''
    if (parseBottleFileName(name)?.form !== 'flat' || /^[0-9a-f]{64}--/.test(name)) return undefined
    return { kind: 'bottle', catalogPath: bottleCatalogPath(name) }
  }
  const split = splitImagePath(parts)
  if (split === undefined || split.kind !== 'manifests' || !isManifestRef(split.ref)) return undefined
  return { kind: 'manifest', image: split.image, ref: split.ref }
}
