/**
 * Popularity (SPEC §5): a group whose block is queried often asks for more replicas, up to
 * a cap, and asks for fewer again as demand falls. Each served query adds one to a count
 * that decays exponentially with time constant `popularityWindowMs`; a member asks for one
 * replica more per `queriesPerExtraReplica` of that count. Pure arithmetic on `now`: the
 * count is decayed when read, never by a timer, and `nextDropAtMs` says when the ask next
 * falls, so the leader can decide again at that moment and not before.
 */
export interface PopularityOptions {
  /** Popularity cap: a queried group never asks for more than this. */
  maxReplicas: number;
  /** Queries per popularity window that make a member ask for one more replica. */
  queriesPerExtraReplica: number;
  /** Time constant of the decaying query count. */
  popularityWindowMs: number;
}

export class Popularity {
  private score = 0;

  constructor(private scoreAtMs: number) {}

  /** A query for the block was served here. */
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
