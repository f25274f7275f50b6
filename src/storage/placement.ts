import { rankCandidates, type Candidate } from './candidates.js';
import type { MemberRecord } from './group-messages.js';

/**
 * Where segments go (SPEC §5; a segment is a group's blocks, offered whole), as a sans-IO core: which hosts a segment is offered to and in
 * what order, how many offers are out at once, when to give up and when to retry. Fed with
 * candidate lists and offer outcomes, it returns the offers to make; the storage service
 * performs them (each bounded by `offerTimeoutMs`) and reports back. Three plans:
 *
 * - recruitment, by a cold group's leader: offers in parallel, never more out than members
 *   still missing (every acceptance is a member), a refusal or failure moving on to the next
 *   candidate at once, at most `maxOfferAttempts` offers; the core may try again after
 *   `recruitRetryMs` while the group is still cold, and when every candidate was tried the
 *   service asks a few hosts for more (`refillTargets`);
 * - direct placement, for a segment with no room here: one offer at a time down the ranked
 *   list, each telling the candidate who already took the segment, until one host took it
 *   (or `replicas` did, for a durable store); the first to accept leads its group;
 * - hand-over, on a graceful leave: one host outside the group takes the segment, one offer
 *   at a time, at most `maxOfferAttempts` (if none does, the group hears this node left
 *   and its leader recruits).
 */

export interface PlacementOptions {
  /** Candidates tried per recruitment or hand-over before giving up until the next retry. */
  maxOfferAttempts: number;
  /** A leader waits this long after a recruitment that fell short before recruiting again for the same group. */
  recruitRetryMs: number;
}

/** Segments placed or handed over at once by one store or leave. */
export const placementConcurrency = 8;
/** Hosts asked for more hosts when a recruitment runs out of candidates. */
export const refillFanout = 3;

export interface CandidateChoice {
  /** Never offered to: this node and the group's members. */
  exclude: ReadonlySet<string>;
  /** A host whose request failed recently is not offered blocks. */
  unreachable: (id: string) => boolean;
  /** What the block costs a holder (`blockStorageBytes`). */
  neededBytes: number;
  /** Zones the group's members are in: a candidate in another one scores higher. */
  zones: ReadonlySet<string>;
  /** This node's stable preference for a host, in [0, 1). */
  preference: (id: string) => number;
}

/** The candidates for one block, best first (candidates.ts scores them). */
export function chooseCandidates(pool: readonly Candidate[], choice: CandidateChoice): Candidate[] {
  const usable = pool.filter((candidate) => !choice.exclude.has(candidate.id) && !choice.unreachable(candidate.id));
  return rankCandidates(usable, choice.neededBytes, choice.zones, choice.preference);
}

/** Hosts to ask for their host lists when a recruitment ran out of candidates: reachable ones, those heard moments ago first. */
export function refillTargets(pool: readonly Candidate[], unreachable: (id: string) => boolean): Candidate[] {
  const askable = pool.filter((candidate) => !unreachable(candidate.id));
  return askable.sort((a, b) => Number(b.live === true) - Number(a.live === true)).slice(0, refillFanout);
}

export interface Offer {
  candidate: Candidate;
  /** The members the candidate should beat if it joins. */
  view: MemberRecord[];
}

export interface OfferLimits {
  /** Hosts that should take the block. */
  wanted: number;
  /** Offers made at most. */
  maxAttempts: number;
  /** Offers out at once at most (and never more than hosts still wanted). */
  maxInFlight: number;
}

/** One placement in progress: a ranked list of candidates, worked down as outcomes come in. */
export class OfferPlan {
  private readonly queue: Candidate[];
  private readonly placedRecords: MemberRecord[] = [];
  private inFlight = 0;
  private attempts = 0;
  private stopped = false;

  /**
   * `view` goes with every offer; with `growView`, so do the hosts that took the block
   * before (one offer at a time, then, so each candidate hears of all earlier ones).
   */
  constructor(
    candidates: readonly Candidate[],
    private readonly limits: OfferLimits,
    private readonly view: readonly MemberRecord[],
    private readonly growView = false,
  ) {
    this.queue = [...candidates];
  }

  /** The offers to make now; call again after each outcome. */
  next(): Offer[] {
    const offers: Offer[] = [];
    while (!this.stopped && this.inFlight < Math.min(this.limits.maxInFlight, this.missing) && this.attempts < this.limits.maxAttempts) {
      const candidate = this.queue.shift();
      if (!candidate) break;
      this.attempts += 1;
      this.inFlight += 1;
      offers.push({ candidate, view: this.growView ? [...this.view, ...this.placedRecords] : [...this.view] });
    }
    return offers;
  }

  /** The candidate took the block; returns its record (a member of the group now). */
  accepted(candidate: Candidate, incarnation: number): MemberRecord {
    this.inFlight -= 1;
    const record = { id: candidate.id, host: candidate.address.host, port: candidate.address.port, incarnation };
    this.placedRecords.push(record);
    return record;
  }

  /** The candidate refused, or the offer failed or timed out: the next one is tried. */
  refused(): void {
    this.inFlight -= 1;
  }

  /** No more offers (this node is leaving); those out still report. */
  stop(): void {
    this.stopped = true;
  }

  /** Nothing out, and nothing more to offer. */
  get done(): boolean {
    return this.inFlight === 0 && !this.canOffer();
  }

  /** Hosts still wanted. */
  get missing(): number {
    return this.limits.wanted - this.placedRecords.length;
  }

  get placed(): readonly MemberRecord[] {
    return this.placedRecords;
  }

  /** Every candidate was offered the block. */
  get exhausted(): boolean {
    return this.queue.length === 0;
  }

  private canOffer(): boolean {
    return !this.stopped && this.missing > 0 && this.attempts < this.limits.maxAttempts && this.queue.length > 0;
  }
}

/** A cold group's leader recruits the `needed` missing members, offering in parallel. */
export function recruitmentPlan(needed: number, view: readonly MemberRecord[], candidates: readonly Candidate[], options: PlacementOptions): OfferPlan {
  return new OfferPlan(candidates, { wanted: needed, maxAttempts: options.maxOfferAttempts, maxInFlight: needed }, view);
}

/** What the core hears when a recruitment ends: retry after `recruitRetryMs` if it fell short; ask for more hosts if candidates ran out. */
export function recruitmentOutcome(plan: OfferPlan, options: PlacementOptions): { retryAfterMs: number; refill: boolean } {
  const short = plan.missing > 0;
  return { retryAfterMs: short ? options.recruitRetryMs : 0, refill: short && plan.exhausted };
}

/** No room here: one host (or `replicas`, durable) takes the block, offered one at a time down the list. */
export function directPlacementPlan(candidates: readonly Candidate[], replicas: number, durable: boolean): OfferPlan {
  return new OfferPlan(candidates, { wanted: durable ? replicas : 1, maxAttempts: Infinity, maxInFlight: 1 }, [], true);
}

/** Why a direct placement failed, or undefined when it succeeded. */
export function directPlacementShortfall(plan: OfferPlan, replicas: number, durable: boolean, key: string): string | undefined {
  const placed = plan.placed.length;
  if (placed === 0) return `no host in reach has room for segment ${key}`;
  if (durable && placed < replicas) return `only ${placed} of ${replicas} replicas of segment ${key} found room`;
  return undefined;
}

/** A leaving node hands a block to one host outside its group, one offer at a time. */
export function handOverPlan(view: readonly MemberRecord[], candidates: readonly Candidate[], options: PlacementOptions): OfferPlan {
  return new OfferPlan(candidates, { wanted: 1, maxAttempts: options.maxOfferAttempts, maxInFlight: 1 }, view);
}
