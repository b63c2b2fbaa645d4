#!/usr/bin/env node
// The `mirrormesh` command. mirrormesh is TypeScript run by Node's type stripping (Node >= 22.18).
// On an older system Node, re-run under the Node that the `node` npm dependency ships.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))
const [major, minor] = process.versions.node.split('.').map(Number)

if (major > 22 || (major === 22 && minor >= 18)) {
  // Cache compiled modules (libp2p is many small files): later starts are much faster.
  const { enableCompileCache } = await import('node:module')
  enableCompileCache?.()
  await import(main)
} else {
  let node
  try {
    node = createRequire(import.meta.url).resolve('node/bin/node')
  } catch {
    console.error(`mirrormesh needs Node >= 22.18 (this is ${process.version}); run "npm install" in the mirrormesh directory to get it`)
    process.exit(1)
  }
  const child = spawn(node, [main, ...process.argv.slice(2)], { stdio: 'inherit' })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal))
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
}
