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
}

/**
 * The node's partial view of the network: a bounded set of hosts keyed by
 * node id. Adding is greedy while there is room.
 */
export class KnownHosts {
  private readonly hosts = new Map<string, KnownHost>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.hosts.size;
  }

  list(): KnownHost[] {
    return [...this.hosts.values()];
  }

  get(id: string): KnownHost | undefined {
    return this.hosts.get(id);
  }

  /** Adds or refreshes a host; returns false when the list is full. */
  add(host: KnownHost): boolean {
    if (!this.hosts.has(host.id) && this.hosts.size >= this.capacity) return false;
    this.hosts.set(host.id, host);
    return true;
  }

  remove(id: string): boolean {
    return this.hosts.delete(id);
  }
}
