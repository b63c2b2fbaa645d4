/**
 * Character-level checks shared by the Homebrew name and path helpers. Everything that becomes part
 * of a catalog path or a gateway route goes through here, so traversal (`..`, `/`, `\`, NUL) and
 * absurd lengths are refused in one place.
 */

/** Longest file name accepted (bytes): the usual file-system limit. */
export const MAX_FILE_NAME = 255
/** Longest path accepted after the gateway prefix, and longest relative API path (characters). */
export const MAX_PATH = 1024

/** A bottle tag: `arm64_sequoia`, `x86_64_linux`, `sonoma`, `all` (brew `global.rb`, HOMEBREW_BOTTLES_EXTNAME_REGEX). */
export const TAG = /^[a-z0-9_]+$/
/** A sha256 as brew and ghcr.io print it: 64 lowercase hex characters. */
export const SHA256_HEX = /^[0-9a-f]{64}$/
/**
 * One component of an OCI repository name (OCI distribution spec, "pulling manifests"):
 * `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`. brew's image names (`openssl/3`, `python/3.13`) follow it.
 */
export const OCI_NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
/** An OCI tag (brew `github_packages.rb`, VALID_OCI_TAG_REGEX). */
export const OCI_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
/** An OCI digest reference as brew and ghcr.io use them. */
export const OCI_DIGEST = /^sha256:[0-9a-f]{64}$/

// Control characters, path separators and characters with a meaning in URLs or shells.
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f/\\%?#\s"'<>|*:]/u

/**
 * Whether `text` can be one component of a formula name or version inside a file name: no path
 * separators, control characters (brew `utils.rb` SAFE_FILENAME_REGEX), `%`, `?`, `#`, spaces, no `..`,
 * and no `--` (which separates name and version in brew's own bottle names).
 */
export function isSafeComponent (text: string): boolean {
  return text.length > 0 &&
    text.length <= MAX_FILE_NAME &&
    !UNSAFE_CHARS.test(text) &&
    !text.includes('..') &&
    !text.includes('--') &&
    text !== '.'
}

/** Whether `name` is acceptable as a single file name (no separators, no traversal, not too long). */
export function isSafeFileName (name: string): boolean {
  return name.length > 0 &&
    Buffer.byteLength(name) <= MAX_FILE_NAME &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u001f\u007f/\\]/u.test(name) &&
    !name.includes('..') &&
    name !== '.'
}

/** Whether `image` is a valid OCI repository path made of `/`-separated components. */
export function isImageName (image: string): boolean {
  if (image.length === 0 || image.length > MAX_PATH) return false
  return image.split('/').every(part => OCI_NAME_COMPONENT.test(part))
}

/** Whether `ref` is a manifest reference: an OCI tag or a `sha256:` digest. */
export function isManifestRef (ref: string): boolean {
  return OCI_TAG.test(ref) || OCI_DIGEST.test(ref)
}
