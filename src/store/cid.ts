/**
 * Content identifiers. A blob's CID is CIDv1 / raw (0x55) / sha2-256, so it carries exactly the
 * sha256 that cargo (`cksum`) and Homebrew (`sha256`) already publish: conversion is a pure function.
 */
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import * as raw from 'multiformats/codecs/raw'

export { CID }

/** Multicodec code of dag-cbor, used for catalog nodes and heads. */
export const DAG_CBOR = 0x71
/** Multicodec code of raw bytes, used for blobs. */
export const RAW = raw.code

const SHA256_HEX = /^[0-9a-f]{64}$/

/** The blob CID for a sha256 given as 64 lowercase hex characters. */
export function cidFromSha256Hex (hex: string): CID {
  if (!SHA256_HEX.test(hex)) throw new TypeError(`not a sha256 hex digest: ${JSON.stringify(hex)}`)
  return CID.createV1(RAW, Digest.create(sha256.code, Buffer.from(hex, 'hex')))
}

/** The blob CID for raw sha256 digest bytes. */
export function cidFromSha256 (digest: Uint8Array, codec: number = RAW): CID {
  return CID.createV1(codec, Digest.create(sha256.code, digest))
}

/** The sha256 of a sha2-256 CID, as lowercase hex. */
export function sha256Hex (cid: CID): string {
  if (cid.multihash.code !== sha256.code) throw new TypeError(`CID ${cid.toString()} is not sha2-256`)
  return Buffer.from(cid.multihash.digest).toString('hex')
}

/** Parse a CID string, accepting only the CIDv1 sha2-256 forms mirrormesh produces. */
export function parseCid (text: string): CID {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch {
    throw new TypeError(`not a CID: ${JSON.stringify(text.slice(0, 100))}`)
  }
  if (cid.version !== 1 || cid.multihash.code !== sha256.code || (cid.code !== RAW && cid.code !== DAG_CBOR)) {
    throw new TypeError(`unsupported CID ${text}: mirrormesh uses CIDv1 raw or dag-cbor with sha2-256`)
  }
  return cid
}

/** The CID of bytes hashed in memory (small data only: catalog nodes, heads, metadata). */
export function cidOfBytes (bytes: Uint8Array, codec: number = RAW): CID {
  return cidFromSha256(createHash('sha256').update(bytes).digest(), codec)
}

/** Whether two CIDs are equal (a plain boolean: CID#equals is a type guard that narrows to never). */
export function sameCid (a: CID, b: CID): boolean {
  return a.equals(b)
}
