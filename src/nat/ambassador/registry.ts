import type { HostEntry } from '../../transport/vocabulary.js';

export interface BridgeRegistryOptions {
  /** Nodes remembered in all; the least recently renewed makes room. Default 1 024. */
  maxNodes: number;
  /** Nodes remembered per subnetwork, so one LAN (or one attacker's IP) cannot fill the registry. Default 64. */
  maxNodesPerSubnetwork: number;
  /** A registration lapses after this long without renewal. Default 120 s. */
  registrationTtlMs: number;
  /** Hosts one introduction hands out. Default 8. */
  maxIntroductions: number;
}

export const defaultBridgeRegistryOptions: BridgeRegistryOptions = {
  maxNodes: 1_024,
  maxNodesPerSubnetwork: 64,
  registrationTtlMs: 120_000,
  maxIntroductions: 8,
};

export interface Registration {
  readonly id: string;
  /** Where others reach it: its public address, or its relayed address through this Ambassador. */
  readonly entry: HostEntry;
  /** The public IP it connected from: nodes behind one NAT share it, so it names their subnetwork. */
  readonly subnetwork: string;
  /** It accepts connections (dial-back succeeded); otherwise it is reached by reversal or relay. */
  readonly reachable: boolean;
}

/**
 * An Ambassador's list of nodes that want bridging, grouped by subnetwork and
 * bounded in all and per subnetwork. Introductions hand a node hosts of other
 * subnetworks, spread over as many of them as possible. Sans-IO.
 */
export class BridgeRegistry {
  /** Registrations in renewal order: the first is the least recently renewed. */
  private readonly nodes = new Map<string, Registration & { renewedAtMs: number }>();
  private readonly perSubnetwork = new Map<string, number>();

  constructor(private readonly options: BridgeRegistryOptions = defaultBridgeRegistryOptions) {}

  get size(): number {
    return this.nodes.size;
  }

  /** Adds or renews; false when the node's subnetwork is at its cap. */
  register(registration: Registration, nowMs: number): boolean {
    this.expire(nowMs);
    const previous = this.nodes.get(registration.id);
    if (previous) this.remove(previous.id);
    if ((this.perSubnetwork.get(registration.subnetwork) ?? 0) >= this.options.maxNodesPerSubnetwork) return false;
    if (this.nodes.size >= this.options.maxNodes) this.remove(this.nodes.keys().next().value as string);
    this.nodes.set(registration.id, { ...registration, renewedAtMs: nowMs });
    this.perSubnetwork.set(registration.subnetwork, (this.perSubnetwork.get(registration.subnetwork) ?? 0) + 1);
    return true;
  }

  get(id: string): Registration | undefined {
    return this.nodes.get(id);
  }

  remove(id: string): void {
    const registration = this.nodes.get(id);
    if (!registration) return;
    this.nodes.delete(id);
    const left = (this.perSubnetwork.get(registration.subnetwork) ?? 1) - 1;
    if (left > 0) this.perSubnetwork.set(registration.subnetwork, left);
    else this.perSubnetwork.delete(registration.subnetwork);
  }

  /**
   * Up to `maxIntroductions` registrations of subnetworks other than `subnetwork`,
   * round-robin over those subnetworks (most recently renewed first in each), so
   * one large LAN does not crowd out the others.
   */
  introductions(forId: string, subnetwork: string, nowMs: number): Registration[] {
    this.expire(nowMs);
    const bySubnetwork = new Map<string, Registration[]>();
    for (const registration of [...this.nodes.values()].reverse()) {
      if (registration.subnetwork === subnetwork || registration.id === forId) continue;
      const list = bySubnetwork.get(registration.subnetwork) ?? [];
      list.push(registration);
      bySubnetwork.set(registration.subnetwork, list);
    }
    const chosen: Registration[] = [];
    const lists = [...bySubnetwork.values()];
    for (let round = 0; chosen.length < this.options.maxIntroductions && lists.some((list) => list.length > round); round++) {
      for (const list of lists) {
        const registration = list[round];
        if (registration && chosen.length < this.options.maxIntroductions) chosen.push(registration);
      }
    }
    return chosen;
  }

  private expire(nowMs: number): void {
    const oldestMs = nowMs - this.options.registrationTtlMs;
    for (const registration of this.nodes.values()) {
      if (registration.renewedAtMs > oldestMs) break; // renewal order: the rest are younger
      this.remove(registration.id);
    }
  }
}
