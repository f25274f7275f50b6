/**
 * Popularity (SPEC §5): a group whose block is queried often asks for more replicas, up to
 * a cap, and asks for fewer again as demand falls. Each hit served here (a query answered,
 * a block fetched) from a requester not counted in that group within the window
 * (`RecentRequesters`) adds one to a count that decays exponentially with time constant
 * `popularityWindowMs`; a member asks for one replica more per `queriesPerExtraReplica` of
 * that count. Pure arithmetic on `now`: the
 * count is decayed when read, never by a timer, and `nextDropAtMs` says when the ask next
 * falls, so the leader can decide again at that moment and not before.
 */
export interface PopularityOptions {
  /** Popularity cap: a queried group never asks for more than this. */
  maxReplicas: number;
  /** Distinct requesters per popularity window that make a member ask for one more replica. */
  queriesPerExtraReplica: number;
  /** Time constant of the decaying query count. */
  popularityWindowMs: number;
}

export class Popularity {
  private score = 0;

  constructor(private scoreAtMs: number) {}

  /** A hit for the group was served here, to a requester not counted lately. */
  record(nowMs: number, options: PopularityOptions): void {
    this.score = this.scoreAt(nowMs, options) + 1;
    this.scoreAtMs = Math.max(this.scoreAtMs, nowMs);
  }

  /** The decayed count of recent queries. */
  scoreAt(nowMs: number, options: PopularityOptions): number {
    const elapsedMs = nowMs - this.scoreAtMs;
    return elapsedMs <= 0 ? this.score : this.score * Math.exp(-elapsedMs / options.popularityWindowMs);
  }

  /** The replication this member asks for: its base, one more per `queriesPerExtraReplica` recent queries, capped. */
  wanted(base: number, nowMs: number, options: PopularityOptions): number {
    return Math.min(options.maxReplicas, base + this.extra(base, nowMs, options));
  }

  /** When `wanted` next falls by one (the first whole millisecond after), or Infinity when it is already the base. */
  nextDropAtMs(base: number, nowMs: number, options: PopularityOptions): number {
    const extra = this.extra(base, nowMs, options);
    if (extra <= 0) return Infinity;
    // score · e^(−(t − scoreAt) / window) < extra · queriesPerExtraReplica
    const dropAtMs = this.scoreAtMs + options.popularityWindowMs * Math.log(this.score / (extra * options.queriesPerExtraReplica));
    return Math.max(nowMs + 1, Math.floor(dropAtMs) + 1);
  }

  /** Extra replicas asked for, within the cap. */
  private extra(base: number, nowMs: number, options: PopularityOptions): number {
    const extra = Math.floor(this.scoreAt(nowMs, options) / options.queriesPerExtraReplica);
    return Math.max(0, Math.min(extra, options.maxReplicas - base));
  }
}

/**
 * Who was counted lately in which group: a requester counts once per popularity window in a
 * group, so one peer hammering an item adds at most 1 / (1 − e^−1) ≈ 1.58 to a member's
 * decayed count (one count per time constant, forever), short of one extra replica at the
 * default 20. Requesters are the authenticated peers of the requests, never ids a message
 * claims. Bounded by `capacity` entries, oldest dropped first: a requester whose entry was
 * pushed out counts again early, which costs it `capacity` requests to other groups or
 * from other ids first.
 */
export class RecentRequesters {
  /** `<group key>\n<requester id>` → when it was counted; insertion order is time order (times never go back). */
  private readonly countedAtMs = new Map<string, number>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.countedAtMs.size;
  }

  /** True (and remembered) when `requester` was not counted in group `key` within the last `windowMs`. */
  admit(key: string, requester: string, nowMs: number, windowMs: number): boolean {
    for (const [entry, atMs] of this.countedAtMs) {
      if (atMs + windowMs > nowMs) break;
      this.countedAtMs.delete(entry);
    }
    const entry = `${key}\n${requester}`;
    if (this.countedAtMs.has(entry)) return false;
    if (this.countedAtMs.size >= this.capacity) this.countedAtMs.delete(this.countedAtMs.keys().next().value as string);
    this.countedAtMs.set(entry, nowMs);
    return true;
  }
}
