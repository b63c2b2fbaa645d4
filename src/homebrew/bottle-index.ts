/**
 * Every bottle the bundle's API files name, keyed the two ways bundle input needs: by flat file
 * name (to check a bottle file) and by image + platform ref name (to check a manifest entry).
 * Both API generations may name the same bottle; they agree unless the snapshots differ, so a key
 * holds the set of sha256 values the API files give for it and a file matching any of them is accepted.
 */
import type { ApiBottle } from './api.ts'
import { flatBottleName, imageName, pkgVersion, platformRefName } from './names.ts'

/** Bottles by flat name and by manifest entry. */
export class BottleIndex {
  readonly #byFlatName = new Map<string, Map<string, ApiBottle>>()
  readonly #byPlatformRef = new Map<string, Set<string>>()

  /** Add one bottle the API names. */
  add (bottle: ApiBottle): void {
    const flat = flatBottleName(bottle)
    let bySha = this.#byFlatName.get(flat)
    if (bySha === undefined) this.#byFlatName.set(flat, bySha = new Map())
    bySha.set(bottle.sha256, bottle)
    const key = platformKey(imageName(bottle.name), platformRefName(pkgVersion(bottle.version, bottle.revision), bottle.tag, bottle.rebuild))
    let shas = this.#byPlatformRef.get(key)
    if (shas === undefined) this.#byPlatformRef.set(key, shas = new Set())
    shas.add(bottle.sha256)
  }

  /** Number of distinct bottle file names. */
  get size (): number {
    return this.#byFlatName.size
  }

  /** The sha256 values the API gives for a flat bottle name (empty if the API does not know it). */
  sha256sFor (flatName: string): string[] {
    return [...(this.#byFlatName.get(flatName)?.keys() ?? [])]
  }

  /** The sha256 values the API gives for image `image`'s manifest entry `refName` (`{pkg_version}.{tag}[.{rebuild}]`), if any. */
  sha256sForPlatform (image: string, refName: string): string[] {
    return [...(this.#byPlatformRef.get(platformKey(image, refName)) ?? [])]
  }
}

function platformKey (image: string, refName: string): string {
  return `${image}\n${refName}`
}
