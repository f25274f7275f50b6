import type { Address } from '../../runtime/types.js';
import { isPrivateAddress } from '../reachability/private-address.js';

/**
 * Asks the router to forward a public port to the node's listen port (UPnP IGD
 * or NAT-PMP). The I/O lives in an adapter on the real runtime side
 * (src/runtime/real/port-mapping.ts); the NAT service only decides what to do
 * with the answer. The mapping refreshes itself until `stop`, which removes it.
 */
export interface PortMapper {
  /** Maps `internalPort` (listening on `internalHost`, or every interface for 0.0.0.0) and returns the router's public side. */
  map(internalPort: number, internalHost: string): Promise<Address>;
  /** Removes the mapping and stops refreshing it. Safe to call twice. */
  stop(): Promise<void>;
}

export type MappingOutcome =
  | { readonly state: 'mapped'; readonly external: Address }
  /** The router's "public" side is itself private: a second NAT sits above it, so the address would lead nowhere. */
  | { readonly state: 'double-nat'; readonly external: Address }
  | { readonly state: 'failed'; readonly reason: string };

/** What a mapping the router granted means: announce it only when its external host is public. */
export function judgeMapping(external: Address): MappingOutcome {
  return isPrivateAddress(external.host) ? { state: 'double-nat', external } : { state: 'mapped', external };
}
