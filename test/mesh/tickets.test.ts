/** Data-plane tickets (src/mesh/tickets.ts): one blob, one holder, an expiry, and nothing forgeable. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { holderTag, Tickets } from '../../src/mesh/tickets.ts'

const peer = '12D3KooWGzTy3vfH7tQ8ZLxmqeMJg7T6VZrCQtnW4Hf3RjW8Zb4s'

test('a ticket grants its blob and names the peer it was issued to', () => {
  const tickets = new Tickets()
  const ticket = tickets.issue('bafyblob', peer)
  assert.equal(tickets.check('bafyblob', ticket), holderTag(peer))
  assert.equal(tickets.peerOf(holderTag(peer)), peer)
  assert.equal(tickets.check('bafyother', ticket), undefined, 'another blob')
  assert.equal(tickets.check('bafyblob', tickets.issue('bafyblob')), '-', 'a ticket for no particular peer')
})

test('expired, forged or altered tickets grant nothing', () => {
  const tickets = new Tickets(1000)
  const ticket = tickets.issue('bafyblob', peer, 0)
  assert.equal(tickets.check('bafyblob', ticket, 500), holderTag(peer))
  assert.equal(tickets.check('bafyblob', ticket, 1001), undefined, 'expired')
  const [expiry, , mac] = ticket.split('.')
  assert.equal(tickets.check('bafyblob', `${expiry}.${holderTag('12D3KooWsomeoneElse')}.${mac}`, 500), undefined, 'holder swapped')
  assert.equal(tickets.check('bafyblob', `${Number(expiry) + 1000}.${holderTag(peer)}.${mac}`, 500), undefined, 'expiry pushed back')
  assert.equal(tickets.check('bafyblob', new Tickets().issue('bafyblob', peer), 500), undefined, 'another node\'s secret')
  assert.equal(tickets.check('bafyblob', 'garbage'), undefined)
})
