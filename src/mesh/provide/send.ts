/** The sending side of `/mirrormesh/provide/1.0.0`: one request, one reply, one stream. */
import type { PeerId } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Host } from '../host.ts'
import { PROVIDE_PROTOCOL } from '../protocols.ts'
import { decodeResponse, encodeRequest, MAX_RESPONSE_BYTES, ProvideRejectedError, Status, type ProvideRequest } from './messages.ts'

/** Send one request (at most MAX_CIDS_PER_MESSAGE CIDs) and wait for the peer to store it. */
export async function sendRequest (host: Host, peer: PeerId, request: ProvideRequest, signal: AbortSignal): Promise<void> {
  const body = encodeRequest(request)
  const stream = await host.dialProtocol(peer, PROVIDE_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_RESPONSE_BYTES })
    await lp.write(body, { signal })
    const response = decodeResponse((await lp.read({ signal })).subarray())
    await stream.close({ signal })
    if (response.status !== Status.OK) {
      throw new ProvideRejectedError(response.status, `peer ${peer.toString()} refused a provide request (status ${response.status}${response.error === undefined ? '' : `: ${response.error}`})`)
    }
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
