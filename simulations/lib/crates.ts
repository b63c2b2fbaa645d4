/**
 * Synthetic payloads as real `.crate` files that `bundle create --crates` accepts: a gzip'd tar of
 * `{name}-{version}/Cargo.toml` and one file of incompressible bytes (AES-CTR keystream: fast and
 * deterministic), gzip level 0 so generating hundreds of MiB costs about a second. Random bytes do
 * not compress, so a crate of n payload bytes is a blob of ~n bytes, as real bottles and crates
 * (already compressed) are.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import tar from 'tar-stream'

const PIECE = 1 << 20

/** `size` pseudo-random bytes determined by `seed`, as a stream. */
export function randomStream (size: number, seed: string): Readable {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(PIECE)
  let left = size
  return new Readable({
    highWaterMark: PIECE,
    read () {
      if (left === 0) { this.push(null); return }
      const n = Math.min(PIECE, left)
      left -= n
      this.push(cipher.update(zeros.subarray(0, n)))
    }
  })
}

/** Write `{dir}/{name}-{version}.crate` with `payload` random bytes; returns its path and size. */
export async function writeCrate (dir: string, name: string, version: string, payload: number): Promise<{ file: string, size: number, sha256: string }> {
  await mkdir(dir, { recursive: true })
  const top = `${name}-${version}`
  const file = join(dir, `${top}.crate`)
  const pack = tar.pack()
  const hash = createHash('sha256')
  const hashing = async function * (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) { hash.update(chunk); yield chunk }
  }
  const writing = pipeline(pack, createGzip({ level: 0, chunkSize: PIECE }), hashing, createWriteStream(file, { highWaterMark: PIECE }))
  pack.entry({ name: `${top}/Cargo.toml`, mode: 0o644, mtime: new Date(0) },
    `[package]\nedition = "2021"\nname = "${name}"\nversion = "${version}"\ndescription = "fleet simulation payload"\nlicense = "MIT"\n`)
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ name: `${top}/data.bin`, size: payload, mode: 0o644, mtime: new Date(0) }, err => { if (err != null) reject(err); else resolve() })
    pipeline(randomStream(payload, top), entry).catch(reject)
  })
  pack.finalize()
  await writing
  return { file, size: (await stat(file)).size, sha256: hash.digest('hex') }
}
