import { formatAddress, type Address } from '../runtime/types.js';

/** Peers remembered at most; the one not heard of the longest is forgotten first. */
export const maxAddressBookPeers = 4_096;

/**
 * Where peers accept connections, by id, learned from the HELLOs they proved
 * (never from what a third party claims), so `request(peerId, …)` can dial a
 * peer it is not connected to, and an address can be traced back to its peer.
 * Bounded: an attacker minting identities evicts old entries, never grows it.
 */
export class AddressBook {
  private readonly addressOf = new Map<string, Address>();
  private readonly idAt = new Map<string, string>();

  constructor(private readonly capacity = maxAddressBookPeers) {}

  get size(): number {
    return this.addressOf.size;
  }

  /** Peer `id` proved itself and accepts connections at `address`. */
  learn(id: string, address: Address): void {
    const previous = this.addressOf.get(id);
    if (previous) {
      this.addressOf.delete(id);
      const previousKey = formatAddress(previous);
      if (this.idAt.get(previousKey) === id) this.idAt.delete(previousKey);
    }
    // An address a new peer took over belongs to it alone now.
    const key = formatAddress(address);
    const formerOwner = this.idAt.get(key);
    if (formerOwner !== undefined && formerOwner !== id) this.addressOf.delete(formerOwner);
    this.addressOf.set(id, address);
    this.idAt.set(key, id);
    if (this.addressOf.size > this.capacity) this.forget(this.addressOf.keys().next().value as string);
  }

  address(id: string): Address | undefined {
    return this.addressOf.get(id);
  }

  /** The peer last proved to accept connections at `address`. */
  peerAt(address: Address): string | undefined {
    return this.idAt.get(formatAddress(address));
  }

  forget(id: string): void {
    const address = this.addressOf.get(id);
    if (!address) return;
    this.addressOf.delete(id);
    const key = formatAddress(address);
    if (this.idAt.get(key) === id) this.idAt.delete(key);
  }
}
