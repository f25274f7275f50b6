import type { Address } from '../runtime/types.js';

/**
 * What a node says about itself when asked on the `host-quality` route, and
 * what its peers cache about it: the three metrics peer selection compares
 * (uptime, free storage, known hosts) plus flags.
 */
export interface HostQuality {
  readonly uptimeMs: number;
  readonly availableStorageBytes: number;
  readonly knownHosts: number;
  /** Publicly reachable node that bridges subnetworks. */
  readonly ambassador: boolean;
  /** Optional geographic or infrastructure tag; storage prefers spreading replicas over zones. */
  readonly zone?: string;
}

export interface KnownHost {
  readonly id: string;
  readonly address: Address;
  /** The last quality this node fetched from the host; unset until the first refresh. */
  readonly quality?: HostQuality;
  /** Held in the far share: learned by shuffling with random peers, not through the LAN (see HostManager). */
  readonly far?: true;
}

/**
 * The node's partial view of the network: a bounded set of hosts keyed by
 * node id. Adding is greedy while there is room.
 */
export class KnownHosts {
  private readonly hosts = new Map<string, KnownHost>();
  private readonly changeListeners = new Set<() => void>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.hosts.size;
  }

  /** Hosts held in the far share. */
  get farCount(): number {
    let count = 0;
    for (const host of this.hosts.values()) if (host.far) count += 1;
    return count;
  }

  list(): KnownHost[] {
    return [...this.hosts.values()];
  }

  get(id: string): KnownHost | undefined {
    return this.hosts.get(id);
  }

  /** Adds or refreshes a host; returns false when the list is full. */
  add(host: KnownHost): boolean {
    const isNew = !this.hosts.has(host.id);
    if (isNew && this.hosts.size >= this.capacity) return false;
    this.hosts.set(host.id, host);
    if (isNew) this.changed();
    return true;
  }

  remove(id: string): boolean {
    if (!this.hosts.delete(id)) return false;
    this.changed();
    return true;
  }

  /** Called after a host joins or leaves the list (not on quality updates). Returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Stores a freshly fetched quality; false when the host left the list meanwhile. */
  setQuality(id: string, quality: HostQuality): boolean {
    const host = this.hosts.get(id);
    if (!host) return false;
    this.hosts.set(id, { ...host, quality });
    return true;
  }

  /** Evicts `evictedId` to make room for `host` (peer selection at capacity). */
  replace(evictedId: string, host: KnownHost): boolean {
    if (!this.hosts.delete(evictedId)) return false;
    this.hosts.set(host.id, host);
    this.changed();
    return true;
  }

  private changed(): void {
    for (const listener of this.changeListeners) listener();
  }

  /** The host listening at `address`, if any (failures are reported by address). */
  findByAddress(address: Address): KnownHost | undefined {
    for (const host of this.hosts.values()) {
      if (host.address.host === address.host && host.address.port === address.port) return host;
    }
    return undefined;
  }
}
