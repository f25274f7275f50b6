import type { Address } from '../runtime/types.js';

export interface KnownHost {
  readonly id: string;
  readonly address: Address;
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
