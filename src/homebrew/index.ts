/**
 * The Homebrew ecosystem module: bottle/manifest/API naming (brew's own rules), bundle input, and
 * the pure path parsers the gateway routes with. See docs/homebrew.md for the brew sources behind each.
 */
export type { ApiBottle } from './api.ts'
export { apiFileKind, bottlesFromApiFile, bottlesFromFormulaArray, bottlesFromPackages } from './api.ts'
export { BottleIndex } from './bottle-index.ts'
export type { HomebrewInputOptions, HomebrewInputResult, HomebrewProgress } from './bundle-input.ts'
export { addHomebrew } from './bundle-input.ts'
export { HOMEBREW_KID, jwsPayload, jwsPayloadText } from './jws.ts'
export type { BottleManifest } from './manifest.ts'
export { checkManifest, OCI_INDEX_MEDIA_TYPE, parseBottleManifest } from './manifest.ts'
export type { BottleId, ParsedBottleFileName } from './names.ts'
export {
  apiCatalogPath, bottleCatalogPath, cacheBottleName, encodedFlatBottleName, flatBottleName, imageName,
  imageVersionRebuild, manifestCatalogPath, manifestTag, parseBottleFileName, pkgVersion, platformRefName, urlEncode
} from './names.ts'
export type { BottleDomainRoute, GhcrRoute } from './routes.ts'
export { parseBottleDomainPath, parseGhcrPath } from './routes.ts'
