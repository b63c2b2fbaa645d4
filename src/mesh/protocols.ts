/** Protocol IDs of the mesh (specs in protocols/). */

/** The LAN DHT, apart from the public IPFS DHT (`/ipfs/kad/1.0.0`). */
export const DHT_PROTOCOL = '/mirrormesh/kad/1.0.0'
/** Exchange of signed heads (protocols/head-exchange). */
export const HEADS_PROTOCOL = '/mirrormesh/heads/1.0.0'
/** Catalog nodes by CID (protocols/catalog-fetch). */
export const CATALOG_PROTOCOL = '/mirrormesh/catalog/1.0.0'
/** Blob availability and data-plane tickets (protocols/blob-exchange). */
export const BLOB_PROTOCOL = '/mirrormesh/blob/1.0.0'
/** Batched provider records (protocols/provide). */
export const PROVIDE_PROTOCOL = '/mirrormesh/provide/1.0.0'
