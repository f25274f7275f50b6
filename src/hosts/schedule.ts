import type { KnownHost, KnownHosts } from './known-hosts.js';

/** A quality refresh in flight: the host asked (its listing may change meanwhile) and when the refresh was due. */
export interface RefreshInFlight {
  readonly host: KnownHost;
  readonly dueAt: number;
}

export interface DeadlineSnapshot {
  /** Host id → when its next refresh is due (in flight or not). */
  refreshes: ReadonlyMap<string, number>;
  /** Hosts whose refresh is in flight. */
  refreshing: readonly string[];
  exchangeAt: number;
  shuffleAt: number;
}

/**
 * Host management's timers as data: one table of named deadlines, in
 * milliseconds on the caller's clock. One deadline per listed host (its next
 * quality refresh), one for the next peer exchange, one for the next shuffle.
 * A host whose refresh is in flight has no deadline until it is answered; at
 * the concurrency limit no refresh is due at all. `next()` is the earliest
 * deadline: the adapter arms one timer there.
 */
export class MaintenanceSchedule {
  /** Host id → when its refresh is due. Insertion-ordered: refreshes due together start in this order. */
  private readonly refreshDueAt = new Map<string, number>();
  private readonly refreshing = new Map<string, RefreshInFlight>();
  /** When the next peer exchange is due; Infinity when none is. */
  exchangeAt = Infinity;
  /** When the next shuffle is due; Infinity when none is. */
  shuffleAt = Infinity;

  constructor(readonly maxConcurrentRefreshes: number) {}

  /** The earliest deadline of the table; Infinity when nothing is due ever. */
  next(): number {
    return Math.min(this.earliestRefresh(), this.exchangeAt, this.shuffleAt);
  }

  /** The earliest refresh that may start (not in flight, below the concurrency limit); Infinity when none may. */
  earliestRefresh(): number {
    if (this.refreshing.size >= this.maxConcurrentRefreshes) return Infinity;
    let earliest = Infinity;
    // forEach rather than for-of: no [id, dueAt] array per entry on a path every input takes.
    this.refreshDueAt.forEach((dueAt, id) => {
      if (dueAt < earliest && !this.refreshing.has(id)) earliest = dueAt;
    });
    return earliest;
  }

  /** A copy of the table, to look at (tests, debugging). */
  snapshot(): DeadlineSnapshot {
    return { refreshes: new Map(this.refreshDueAt), refreshing: [...this.refreshing.keys()], exchangeAt: this.exchangeAt, shuffleAt: this.shuffleAt };
  }

  refreshDue(id: string): number | undefined {
    return this.refreshDueAt.get(id);
  }

  setRefresh(id: string, dueAt: number): void {
    this.refreshDueAt.set(id, dueAt);
  }

  /** Forgets every refresh deadline (refreshes in flight stay in flight until answered). */
  clearRefreshes(): void {
    this.refreshDueAt.clear();
  }

  /** Keeps one refresh deadline per listed host: drops those of hosts gone, gives new hosts `dueAt`. */
  syncRefreshes(knownHosts: KnownHosts, dueAt: number): void {
    for (const id of this.refreshDueAt.keys()) if (!knownHosts.get(id)) this.refreshDueAt.delete(id);
    for (const host of knownHosts.list()) if (!this.refreshDueAt.has(host.id)) this.refreshDueAt.set(host.id, dueAt);
  }

  /** Ids whose refresh is due by `horizon` and not in flight, in table order. */
  refreshesDueBy(horizon: number): string[] {
    const due: string[] = [];
    this.refreshDueAt.forEach((dueAt, id) => {
      if (dueAt <= horizon && !this.refreshing.has(id)) due.push(id);
    });
    return due;
  }

  isRefreshing(id: string): boolean {
    return this.refreshing.has(id);
  }

  get refreshesInFlight(): number {
    return this.refreshing.size;
  }

  startRefresh(id: string, refresh: RefreshInFlight): void {
    this.refreshing.set(id, refresh);
  }

  /** The refresh of `id` ended (answered or failed); undefined when none was in flight. */
  finishRefresh(id: string): RefreshInFlight | undefined {
    const refresh = this.refreshing.get(id);
    this.refreshing.delete(id);
    return refresh;
  }
}
