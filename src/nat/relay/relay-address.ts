import type { Address } from '../../runtime/types.js';
import { isNodeId } from '../../transport/vocabulary.js';

/**
 * A relayed peer's address names the relay: host `<peer id>@<relay host>`,
 * port the relay's. It goes wherever an address goes (known hosts, peer
 * exchange, bootstrap); dialling it opens a circuit through the relay.
 */
export function relayedAddress(peerId: string, relay: Address): Address {
  return { host: `${peerId}@${relay.host}`, port: relay.port };
}

/** The peer and relay a relayed address names, or undefined for any other address. */
export function parseRelayedAddress(address: Address): { peerId: string; relay: Address } | undefined {
  const at = address.host.indexOf('@');
  if (at < 0) return undefined;
  const peerId = address.host.slice(0, at);
  const relayHost = address.host.slice(at + 1);
  if (!isNodeId(peerId) || relayHost.length === 0 || relayHost.includes('@')) return undefined;
  return { peerId, relay: { host: relayHost, port: address.port } };
}
