/**
 * Homebrew's signed API files are JWS in the general JSON serialization with a detached-style,
 * unencoded payload (brew `api.rb`, `verify_and_parse_jws`):
 * `{"payload": "<JSON text>", "signatures": [{"protected": "<b64url>", "header": {"kid": "homebrew-1"}, "signature": "<b64url>"}]}`.
 * brew verifies PS512 over `protected + "." + payload` with its bundled key (`api/homebrew-1.pem`);
 * mirrormesh carries the files byte-identical, so here we only check the envelope's shape: a file
 * that brew would reject as "key not found" or "invalid algorithm" is refused at bundle time.
 */
import { BundleInputError } from '../util/errors.ts'

/** The `kid` of the signature brew looks for (`api.rb`, `homebrew_jws_signature`). */
export const HOMEBREW_KID = 'homebrew-1'

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function fail (file: string, what: string): never {
  throw new BundleInputError(`${file}: not a Homebrew JWS API file (${what}); copy the file again from formulae.brew.sh or from brew's cache`)
}

/** Decode base64url (no padding) to text, or undefined if it is not base64url. */
function base64UrlText (text: string): string | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined
  return Buffer.from(text, 'base64url').toString('utf8')
}

/**
 * The payload text of a Homebrew JWS file, after checking the envelope: a `payload` string, and a
 * `homebrew-1` signature whose protected header says `alg: PS512, b64: false`. Throws BundleInputError.
 */
export function jwsPayloadText (bytes: Uint8Array, file: string): string {
  let envelope: unknown
  try {
    envelope = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    fail(file, `invalid JSON: ${(err as Error).message}`)
  }
  if (!isObject(envelope)) fail(file, 'top level is not an object')
  const { payload, signatures } = envelope
  if (typeof payload !== 'string') fail(file, '"payload" is not a string')
  if (!Array.isArray(signatures)) fail(file, '"signatures" is not an array')
  const signature = signatures.find(s => isObject(s) && isObject(s.header) && s.header.kid === HOMEBREW_KID) as Record<string, unknown> | undefined
  if (signature === undefined) fail(file, `no signature with kid "${HOMEBREW_KID}"`)
  if (typeof signature.signature !== 'string' || base64UrlText(signature.signature) === undefined) fail(file, 'signature is not base64url')
  const headerText = typeof signature.protected === 'string' ? base64UrlText(signature.protected) : undefined
  let header: unknown
  try {
    header = headerText === undefined ? undefined : JSON.parse(headerText)
  } catch {
    header = undefined
  }
  // brew `api.rb` `verify_jws_signature`: anything but PS512 with b64=false is "invalid algorithm".
  if (!isObject(header) || header.alg !== 'PS512' || header.b64 !== false) fail(file, 'protected header is not {"alg":"PS512","b64":false}')
  return payload
}

/** The parsed payload of a Homebrew JWS file. Throws BundleInputError if the envelope or the payload is malformed. */
export function jwsPayload (bytes: Uint8Array, file: string): unknown {
  const text = jwsPayloadText(bytes, file)
  try {
    return JSON.parse(text)
  } catch (err) {
    fail(file, `payload is not JSON: ${(err as Error).message}`)
  }
}
