/**
 * Synthetic benchmark inputs: incompressible, deterministic bytes (AES-CTR keystream, so a
 * gigabyte costs ~1 s, not the ~5 s of /dev/urandom) packed into real `.crate` files that
 * `bundle create --crates` accepts — many small ones and a few big ones, the mix a real
 * registry/bottle mirror has (median crate ~tens of KiB; bottles like llvm or gcc are 50–200 MiB).
 */
import { createCipheriv, createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip, gzipSync } from 'node:zlib'
import tar from 'tar-stream'

const CHUNK = 1 << 20

/** A stream of `size` pseudo-random bytes determined by `seed`. */
export function randomStream (size: number, seed: string): Readable {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(CHUNK)
  let left = size
  return new Readable({
    highWaterMark: CHUNK,
    read () {
      if (left === 0) {
        this.push(null)
        return
      }
      const n = Math.min(CHUNK, left)
      left -= n
      this.push(cipher.update(zeros.subarray(0, n)))
    }
  })
}

/** `size` pseudo-random bytes in memory (small inputs only). */
export function randomBytesOf (size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16)
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size))
}

function cargoToml (name: string, version: string): string {
  return `[package]\nedition = "2021"\nname = "${name}"\nversion = "${version}"\ndescription = "benchmark payload"\nlicense = "MIT"\n`
}

/**
 * Write a `.crate` (gzip'd tar of `{name}-{version}/Cargo.toml` plus one payload file of `payload`
 * random bytes), streamed. Random data does not compress, so the file is ~`payload` bytes, like a
 * real compressed package; gzip level 0 keeps generation cheap.
 */
export async function writeCrateFile (dir: string, name: string, version: string, payload: number): Promise<string> {
  const file = join(dir, `${name}-${version}.crate`)
  const top = `${name}-${version}`
  if (payload <= 1 << 20) {
    const pack = tar.pack()
    const chunks: Buffer[] = []
    const done = (async () => { for await (const c of pack) chunks.push(c as Buffer) })()
    pack.entry({ name: `${top}/Cargo.toml`, mode: 0o644, mtime: new Date(0) }, cargoToml(name, version))
    pack.entry({ name: `${top}/src/lib.bin`, mode: 0o644, mtime: new Date(0) }, randomBytesOf(payload, top))
    pack.finalize()
    await done
    await writeFile(file, gzipSync(Buffer.concat(chunks), { level: 0 }))
    return file
  }
  const pack = tar.pack()
  const writing = pipeline(pack, createGzip({ level: 0, chunkSize: CHUNK }), createWriteStream(file, { highWaterMark: CHUNK }))
  pack.entry({ name: `${top}/Cargo.toml`, mode: 0o644, mtime: new Date(0) }, cargoToml(name, version))
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ name: `${top}/data.bin`, size: payload, mode: 0o644, mtime: new Date(0) }, err => { if (err != null) reject(err); else resolve() })
    pipeline(randomStream(payload, top), entry).catch(reject)
  })
  pack.finalize()
  await writing
  return file
}

/** What `writeMix` wrote. */
export interface Mix {
  dir: string
  small: number
  smallBytes: number
  big: number[]
  totalBytes: number
}

/** Sizes of the big blobs (MiB), cycled: a spread between 50 and 200 MiB. */
const BIG_MIB = [200, 64, 128, 96, 160, 50, 180, 72]

/**
 * Write about `totalMiB` of crates into `dir`: ~20% as small crates (4–200 KiB, up to 8 versions
 * per name so index files have several lines), the rest as 50–200 MiB crates.
 */
export async function writeMix (dir: string, totalMiB: number): Promise<Mix> {
  await mkdir(dir, { recursive: true })
  const total = totalMiB << 20
  const smallBudget = Math.floor(total * 0.2)
  let smallBytes = 0
  let small = 0
  let state = 0x2545f491
  const next = (): number => { state = (state * 1103515245 + 12345) >>> 0; return state / 2 ** 32 }
  while (smallBytes < smallBudget) {
    const payload = Math.floor(4096 + next() * (200 << 10))
    await writeCrateFile(dir, `bench-small-${Math.floor(small / 8)}`, `1.0.${small % 8}`, payload)
    smallBytes += payload
    small++
  }
  const big: number[] = []
  let left = total - smallBytes
  for (let i = 0; left >= 50 << 20; i++) {
    const size = Math.min((BIG_MIB[i % BIG_MIB.length] as number) << 20, left)
    await writeCrateFile(dir, `bench-big-${i}`, '1.0.0', size)
    big.push(size)
    left -= size
  }
  return { dir, small, smallBytes, big, totalBytes: smallBytes + big.reduce((a, b) => a + b, 0) }
}
