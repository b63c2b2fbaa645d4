/** The human status page at `/`: what this node serves, and how to point clients at it. */
import { clientSetup } from './setup.ts'

const escape = (text: string): string => text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)

/** Render the page from `/api/status` data. */
export function statusPage (status: Record<string, unknown>, base: string): string {
  const setup = clientSetup(base)
  const publishers = Array.isArray(status.publishers) ? status.publishers as Array<Record<string, unknown>> : []
  const rows = publishers.map(p => `<tr><td><code>${escape(String(p.publisher))}</code> ${escape(String(p.name ?? ''))}</td><td>${escape(String(p.seq ?? '-'))}</td><td>${escape(String(p.blobsHeld ?? 0))}/${escape(String(p.blobFiles ?? 0))}</td></tr>`).join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mirrormesh</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:.75rem;overflow:auto}td,th{padding:.2rem .8rem;text-align:left}</style></head>
<body><h1>mirrormesh</h1>
<p>Peer <code>${escape(String(status.peerId ?? '-'))}</code> · ${escape(String((status.store as Record<string, unknown> | undefined)?.blobs ?? 0))} blobs held</p>
<h2>Publishers</h2>
<table><tr><th>publisher</th><th>seq</th><th>blobs held</th></tr>${rows === '' ? '<tr><td colspan="3">none trusted yet: <code>mirrormesh key trust ed25519:…</code></td></tr>' : rows}</table>
<h2>Cargo</h2><p>In <code>~/.cargo/config.toml</code>:</p><pre>${escape(setup.cargoConfig)}</pre>
<h2>Homebrew</h2><p>In your shell profile:</p><pre>${escape(setup.brewEnv)}</pre>
<p><a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a></p>
</body></html>
`
}
