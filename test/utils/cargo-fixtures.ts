/**
 * Cargo test helpers: hand-made `.crate` tarballs (including malformed ones), real ones from
 * `cargo package`, and temp dirs. Everything is built inside temp dirs; nothing is cached.
 */
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import * as tar from 'tar-stream'

const run = promisify(execFile)

/** One tar entry of a hand-made crate: a file by default, or another type for fault cases. */
export interface TarEntry {
  name: string
  content?: string | Uint8Array
  type?: 'file' | 'directory' | 'symlink' | 'link'
  linkname?: string
}

/** The bytes of a gzip'd tar with exactly these entries, in this order. */
export async function tarGz (entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer) })()
  for (const e of entries) {
    const body = e.content === undefined ? undefined : Buffer.from(e.content)
    const header = { name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: 0o644, mtime: new Date(0) }
    await new Promise<void>((resolve, reject) => {
      const callback = (err?: Error | null): void => (err ? reject(err) : resolve())
      if (body === undefined) pack.entry(header, callback)
      else pack.entry(header, body, callback)
    })
  }
  pack.finalize()
  await done
  return gzipSync(Buffer.concat(chunks))
}

/** Write a `.crate` at `file` holding `{top}/Cargo.toml` with `manifest`, plus `extra` files under `{top}/`. */
export async function writeCrate (file: string, top: string, manifest: string, extra: Record<string, string> = {}): Promise<Buffer> {
  const entries: TarEntry[] = [{ name: `${top}/Cargo.toml`, content: manifest }]
  for (const [name, content] of Object.entries(extra)) entries.push({ name: `${top}/${name}`, content })
  const bytes = await tarGz(entries)
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, bytes)
  return bytes
}

/** A minimal normalized manifest for `name` `version`, with `more` TOML appended. */
export function manifestOf (name: string, version: string, more = ''): string {
  return `[package]\nedition = "2021"\nname = "${name}"\nversion = "${version}"\ndescription = "test"\nlicense = "MIT"\n${more}`
}

/** A fresh temp dir, and a function that removes it. */
export async function tempDir (prefix = 'mirrormesh-cargo-'): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: async () => await rm(dir, { recursive: true, force: true }) }
}

/** sha256 of a file, lowercase hex, computed independently of the code under test. */
export async function sha256File (file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex')
}

/** Whether a command exists on PATH. */
export async function hasCommand (cmd: string, args: string[] = ['--version']): Promise<boolean> {
  try {
    await run(cmd, args)
    return true
  } catch {
    return false
  }
}

/**
 * Run real `cargo package` for every member of the workspace at `dir` with an isolated CARGO_HOME.
 * `--exclude-lockfile` skips resolution, so nothing contacts a registry (and no `--offline` is
 * needed); the `.crate` files land in `{dir}/target/package/`.
 */
export async function cargoPackage (dir: string, cargoHome: string): Promise<void> {
  await run('cargo', ['package', '--no-verify', '--workspace', '--allow-dirty', '--exclude-lockfile', '--quiet'], {
    cwd: dir,
    env: { ...process.env, CARGO_HOME: cargoHome, CARGO_TARGET_DIR: join(dir, 'target'), CARGO_TERM_COLOR: 'never' }
  })
}

/** Tar and gzip `{parent}/{top}/` into `file` as a `.crate` (symlinks followed), with system tar. */
export async function tarDirectory (parent: string, top: string, file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-h', '-czf', file, '-C', parent, top])
}

/** Where Debian's `librust-*-dev` packages put crate sources (crates.io's normalized Cargo.toml included). */
export const DEBIAN_REGISTRY = '/usr/share/cargo/registry'

/**
 * Build a tiny Rust program against Debian's copy of the `semver` crate (the one crates.io uses to
 * normalize `req`) and return a function that asks it `VersionReq::parse(req).to_string()` for many
 * requirements at once (undefined where it errs). Returns undefined when cargo or the crate is absent.
 * Only path dependencies: cargo contacts no registry.
 */
export async function semverOracle (dir: string): Promise<((reqs: string[]) => Promise<Array<string | undefined>>) | undefined> {
  const semver = (await readdir(DEBIAN_REGISTRY).catch(() => [])).find((d) => /^semver-1\.\d+\.\d+$/.test(d))
  if (semver === undefined || !(await hasCommand('cargo'))) return undefined
  await mkdir(join(dir, 'src'), { recursive: true })
  await writeFile(join(dir, 'Cargo.toml'), `[package]\nname = "oracle"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nsemver = { path = "${join(DEBIAN_REGISTRY, semver)}" }\n`)
  await writeFile(join(dir, 'src', 'main.rs'), `use std::io::BufRead;
fn unhex(s: &str) -> String {
    let b: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
    String::from_utf8(b).unwrap()
}
fn main() {
    for line in std::io::stdin().lock().lines() {
        match semver::VersionReq::parse(&unhex(&line.unwrap())) {
            Ok(r) => println!("ok {}", r.to_string().bytes().map(|b| format!("{:02x}", b)).collect::<String>()),
            Err(_) => println!("err"),
        }
    }
}
`)
  const env = { ...process.env, CARGO_HOME: join(dir, 'cargo-home'), CARGO_TARGET_DIR: join(dir, 'target'), CARGO_TERM_COLOR: 'never' }
  await run('cargo', ['build', '--quiet'], { cwd: dir, env })
  const bin = join(dir, 'target', 'debug', 'oracle')
  return async (reqs) => {
    const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] })
    const chunks: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => chunks.push(c))
    const exited = new Promise<void>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`oracle exited ${code}`)))))
    child.stdin.end(reqs.map((r) => Buffer.from(r).toString('hex') + '\n').join(''))
    await exited
    return Buffer.concat(chunks).toString().trim().split('\n').map((l) => (l.startsWith('ok ') ? Buffer.from(l.slice(3), 'hex').toString() : undefined))
  }
}
