/** The client configuration that points cargo and brew at a gateway (BRIEF §3). */

/** Cargo config and brew environment for a gateway base URL. */
export interface ClientSetup {
  gateway: string
  cargoConfig: string
  brewEnv: string
}

/** Build the settings for `gateway` (e.g. `http://127.0.0.1:7680`). */
export function clientSetup (gateway: string): ClientSetup {
  const base = gateway.replace(/\/+$/, '')
  return {
    gateway: base,
    cargoConfig: [
      '[source.crates-io]',
      'replace-with = "mirrormesh"',
      '',
      '[source.mirrormesh]',
      `registry = "sparse+${base}/cargo/index/"`,
      ''
    ].join('\n'),
    brewEnv: [
      `export HOMEBREW_API_DOMAIN=${base}/homebrew/api`,
      `export HOMEBREW_BOTTLE_DOMAIN=${base}/homebrew/bottles`,
      `export HOMEBREW_ARTIFACT_DOMAIN=${base}`,
      ''
    ].join('\n')
  }
}
