import { formatAddress, type Address } from '../runtime/types.js';

/** Distinct addresses remembered, and peers counted for each: a few suffice to agree on a public address. */
const maxAddresses = 8;
const maxPeersPerAddress = 16;

/**
 * The addresses peers say they see this node at (each HELLO carries one), with
 * how many distinct peers said so. Bounded both ways, so peers cannot grow it.
 * Shown, never trusted: which public address to announce is decided by
 * `src/nat/reachability/public-address.ts` (two Ambassadors agreeing, or a mapping).
 */
export class ObservedAddresses {
  private readonly reports = new Map<string, { address: Address; peers: Set<string> }>();

  report(address: Address, peerId: string): void {
    const key = formatAddress(address);
    let entry = this.reports.get(key);
    if (!entry) {
      if (this.reports.size >= maxAddresses) this.reports.delete(this.reports.keys().next().value as string);
      entry = { address: { host: address.host, port: address.port }, peers: new Set() };
    } else {
      this.reports.delete(key); // most recent last
    }
    this.reports.set(key, entry);
    if (entry.peers.size < maxPeersPerAddress) entry.peers.add(peerId);
  }

  list(): Array<{ address: Address; peers: number }> {
    return [...this.reports.values()].map((entry) => ({ address: entry.address, peers: entry.peers.size })).reverse();
  }
}
