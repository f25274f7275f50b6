import type { Address, Random } from '../runtime/types.js';
import type { HostQuality, KnownHost, KnownHosts } from './known-hosts.js';
import { RecentIds } from './recent-ids.js';
import { admit, averagesOf, classCountsOf, classOf, classStandardDeviation } from './selection.js';

/** A host offered to the list. */
export interface Candidate {
  id: string;
  address: Address;
  quality?: HostQuality;
}

/** A host discovery found: `forced` for a pinger this node answers (it knows no one), `onLan` when heard on the multicast group itself. */
export interface DiscoveredCandidate extends Candidate {
  forced: boolean;
  onLan: boolean;
}

export interface AdmissionResult {
  readonly admitted: boolean;
  /** The host evicted to make room, if any. */
  readonly evicted: KnownHost | undefined;
}

export interface AdmissionPolicy {
  /** Share of the list (rounded down) reserved for far hosts. */
  farShare: number;
  /** Chance that a newcomer is accepted at capacity whatever its class (SPEC §3). */
  randomAcceptanceProbability: number;
}

export interface HostReport {
  id: string;
  address: Address;
  quality: HostQuality | undefined;
  /** 0..7 (bit 2 uptime, bit 1 storage, bit 0 known hosts above the list's average); undefined until the quality is known. */
  hostClass: number | undefined;
  /** Held in the far share (learned by shuffling, not through the LAN). */
  far: boolean;
}

export interface HostsReport {
  capacity: number;
  hosts: HostReport[];
  classCounts: number[];
  /** Population standard deviation of the class counts; lower is more diverse. */
  diversity: number;
}

/** Ids remembered as heard on the LAN's multicast group (oldest forgotten first). */
const maxLanIds = 1_024;

const rejected: AdmissionResult = Object.freeze({ admitted: false, evicted: undefined });
const addedToFreeRoom: AdmissionResult = Object.freeze({ admitted: true, evicted: undefined });

/**
 * Who gets into the known-host list, sans I/O: peer selection (SPEC §3) over the
 * near share, the far share reserved for hosts not heard on the LAN, and random
 * samples of the list. It edits the list it is given and draws from an injected
 * `Random`; it reads no clock.
 */
export class Admission {
  /** Nodes heard on the multicast group: on this LAN, so never worth a far slot. Bounded. */
  private readonly lanIds = new RecentIds(maxLanIds);

  constructor(
    private readonly knownHosts: KnownHosts,
    private readonly selfId: string,
    private readonly policy: AdmissionPolicy,
    private readonly random: Random,
  ) {}

  /** Discovery heard `id` on the LAN's multicast group. */
  heardOnLan(id: string): void {
    this.lanIds.add(id);
  }

  /** Distinct nodes heard on the LAN's group lately (at most 1,024): an estimate of the LAN's size. */
  get lanPeers(): number {
    return this.lanIds.size;
  }

  /** Slots of the far share: none in a list too short to spare one (e.g. a capacity of 1). */
  get farSlots(): number {
    return Math.floor(this.knownHosts.capacity * this.policy.farShare);
  }

  /** No room left outside the far share: newcomers there go through peer selection. */
  get nearShareFull(): boolean {
    const { knownHosts } = this;
    return knownHosts.size - knownHosts.farCount >= knownHosts.capacity - this.farSlots;
  }

  /**
   * Offers a host to the list. `forced` (the host knows no one, or asks to be
   * introduced) always gets in. At capacity, peer selection (SPEC §3) runs over
   * the hosts outside the far share.
   */
  consider(candidate: Candidate, forced = false): AdmissionResult {
    const { knownHosts } = this;
    if (candidate.id === this.selfId) return rejected;
    const existing = knownHosts.get(candidate.id);
    if (existing) {
      if (candidate.quality && !existing.quality) knownHosts.setQuality(candidate.id, candidate.quality);
      return addedToFreeRoom;
    }
    const host = asKnownHost(candidate);
    if (!this.nearShareFull) {
      knownHosts.add(host);
      return addedToFreeRoom;
    }
    const decision = this.selectNear(candidate.quality, forced);
    if (!decision.admit || !decision.evict) return rejected;
    knownHosts.replace(decision.evict.id, host);
    return { admitted: true, evicted: decision.evict };
  }

  /**
   * Takes `candidate` into the far share (reserved room: other hosts never
   * take it): into free room, else in place of `replacing` (a far host).
   */
  adoptFar(candidate: Candidate, replacing?: KnownHost): AdmissionResult {
    const { knownHosts } = this;
    if (candidate.id === this.selfId || knownHosts.get(candidate.id) || this.lanIds.has(candidate.id) || this.farSlots === 0) return rejected;
    const host: KnownHost = { ...asKnownHost(candidate), far: true };
    if (knownHosts.farCount < this.farSlots) {
      knownHosts.add(host);
      return addedToFreeRoom;
    }
    if (!replacing?.far || knownHosts.get(replacing.id) !== replacing) return rejected;
    knownHosts.replace(replacing.id, host);
    return { admitted: true, evicted: replacing };
  }

  /** A bootstrap host answered: it usually leads out of the LAN, so it is the first far link; else it goes through selection. */
  adoptBootstrap(candidate: Candidate): boolean {
    return this.adoptFar(candidate).admitted || this.consider(candidate).admitted;
  }

  /**
   * A host found by discovery. Every node of the LAN hears a PING: were each to run peer
   * selection on it at capacity, they would all choose alike and pile onto the newest hosts.
   * The few that answer take the pinger in (forced); the rest only fill free room.
   */
  discovered(found: DiscoveredCandidate): boolean {
    if (found.onLan) this.heardOnLan(found.id);
    if (!found.forced && this.nearShareFull) return false;
    return this.consider(found, found.forced).admitted;
  }

  /** A random far host, if any. */
  randomFarHost(): KnownHost | undefined {
    const far = this.knownHosts.list().filter((host) => host.far);
    return far.length > 0 ? far[this.random.int(far.length)] : undefined;
  }

  /** A random sample of at most `count` known hosts, leaving out `exceptId` (a partial Fisher–Yates shuffle). */
  sample(count: number, exceptId?: string): KnownHost[] {
    const hosts = this.knownHosts.list().filter((host) => host.id !== exceptId);
    for (let index = 0; index < Math.min(count, hosts.length); index += 1) {
      const other = index + this.random.int(hosts.length - index);
      [hosts[index], hosts[other]] = [hosts[other] as KnownHost, hosts[index] as KnownHost];
    }
    return hosts.slice(0, count);
  }

  /** Every known host with its quality and class, the class counts and the diversity figure. */
  report(): HostsReport {
    const hosts = this.knownHosts.list();
    const averages = averagesOf(hosts.flatMap((host) => (host.quality ? [host.quality] : [])));
    const classCounts = classCountsOf(hosts);
    return {
      capacity: this.knownHosts.capacity,
      hosts: hosts.map((host) => ({
        id: host.id,
        address: host.address,
        quality: host.quality,
        hostClass: host.quality && averages ? classOf(host.quality, averages) : undefined,
        far: host.far === true,
      })),
      classCounts,
      diversity: classStandardDeviation(classCounts),
    };
  }

  /** Peer selection at capacity among the hosts outside the far share. */
  private selectNear(quality: HostQuality | undefined, forced: boolean) {
    const near = this.knownHosts.list().filter((host) => !host.far);
    return admit(near, near.length, quality, forced, { randomAcceptanceProbability: this.policy.randomAcceptanceProbability, random: this.random });
  }
}

/** Only the fields a listed host has: a candidate may carry more (e.g. a discovered host's flags). */
function asKnownHost(candidate: Candidate): KnownHost {
  return candidate.quality ? { id: candidate.id, address: candidate.address, quality: candidate.quality } : { id: candidate.id, address: candidate.address };
}
