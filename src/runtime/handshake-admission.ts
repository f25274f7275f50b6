/**
 * Which accepted connections a listener runs TLS handshakes for, and in what order (sans-IO:
 * the real runtime's listener feeds it events and the time). A TLS handshake costs the node
 * a few milliseconds of CPU in its one event loop, so a flood of them delays everyone's; this
 * keeps few in progress at once, holds the rest (plain TCP sockets, nothing read yet) in a
 * bounded queue, and starts next the one whose address opened the fewest connections
 * lately. A peer arriving from an address of its own therefore waits for a handful of
 * handshakes, not for the flood's (docs/SECURITY.md, "TLS handshake flood").
 */
export interface HandshakeAdmissionLimits {
  /** Handshakes run at once. */
  maxActive: number;
  /** Accepted connections waiting for a handshake slot; past it the one from the busiest address is dropped. */
  maxWaiting: number;
  /** Connections from one address in progress or waiting; more are refused at once. */
  maxPerHost: number;
  /** How fast an address's count of recent connections fades: it halves over this time. */
  recentHalfLifeMs: number;
  /** Addresses whose recent count is remembered; the one not seen the longest is forgotten first. */
  maxTrackedHosts: number;
  /**
   * A handshake in progress for longer than this gives its slot up to a waiting connection
   * from a quieter address (a peer that stalls its handshake cannot hold a slot against newcomers).
   */
  yieldAfterMs: number;
}

export const defaultHandshakeAdmissionLimits: HandshakeAdmissionLimits = {
  maxActive: 32,
  maxWaiting: 512,
  maxPerHost: 64,
  recentHalfLifeMs: 10_000,
  maxTrackedHosts: 4_096,
  yieldAfterMs: 1_000,
};

interface Entry<Item> {
  item: Item;
  host: string;
  arrivedAt: number;
  startedAt: number;
}

/** What became of an arriving connection: started at once, queued, or refused; `dropped` is a waiting one it displaced. */
export type Arrival<Item> = { outcome: 'start' | 'wait' | 'refused'; dropped: Item | undefined };

export class HandshakeAdmission<Item> {
  private readonly active = new Map<Item, Entry<Item>>();
  private readonly waiting = new Map<Item, Entry<Item>>();
  private readonly perHost = new Map<string, number>();
  /** Connections an address opened lately, decayed: the value and when it was last brought up to date. */
  private readonly recent = new Map<string, { count: number; at: number }>();

  constructor(
    private readonly limits: HandshakeAdmissionLimits,
    private readonly now: () => number,
  ) {}

  get activeCount(): number {
    return this.active.size;
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  /** A connection from `host` was accepted. */
  arrive(item: Item, host: string): Arrival<Item> {
    const now = this.now();
    const fromHost = this.perHost.get(host) ?? 0;
    if (fromHost >= this.limits.maxPerHost) return { outcome: 'refused', dropped: undefined };
    const score = this.recentCount(host, now);
    this.remember(host, score + 1, now);
    let dropped: Item | undefined;
    if (this.active.size >= this.limits.maxActive && this.waiting.size >= this.limits.maxWaiting) {
      const busiest = this.pick('busiest', now);
      if (!busiest || this.recentCount(busiest.host, now) <= score) return { outcome: 'refused', dropped: undefined };
      this.remove(busiest.item);
      dropped = busiest.item;
    }
    this.perHost.set(host, fromHost + 1);
    const entry = { item, host, arrivedAt: now, startedAt: now };
    if (this.active.size < this.limits.maxActive) {
      this.active.set(item, entry);
      return { outcome: 'start', dropped };
    }
    this.waiting.set(item, entry);
    return { outcome: 'wait', dropped };
  }

  /** A connection's handshake ended (done or failed) or a waiting one closed: returns the waiting ones to start now. */
  leave(item: Item): Item[] {
    if (!this.remove(item)) return [];
    const started: Item[] = [];
    const now = this.now();
    while (this.active.size < this.limits.maxActive) {
      const next = this.pick('quietest', now);
      if (!next) break;
      this.waiting.delete(next.item);
      next.startedAt = now;
      this.active.set(next.item, next);
      started.push(next.item);
    }
    return started;
  }

  /**
   * The handshake in progress that should give its slot up now: in progress past
   * `yieldAfterMs`, the oldest such, and only if a connection from a quieter address waits.
   */
  overdue(): Item | undefined {
    const now = this.now();
    const quietest = this.pick('quietest', now);
    if (!quietest) return undefined;
    const quietScore = this.recentCount(quietest.host, now);
    let oldest: Entry<Item> | undefined;
    for (const entry of this.active.values()) {
      if (now - entry.startedAt < this.limits.yieldAfterMs || this.recentCount(entry.host, now) <= quietScore) continue;
      if (!oldest || entry.startedAt < oldest.startedAt) oldest = entry;
    }
    return oldest?.item;
  }

  /** When `overdue` may next have an answer (the oldest handshake in progress passes `yieldAfterMs`); undefined when none waits. */
  nextYieldAt(): number | undefined {
    if (this.waiting.size === 0) return undefined;
    let earliest = Infinity;
    for (const entry of this.active.values()) earliest = Math.min(earliest, entry.startedAt);
    return earliest === Infinity ? undefined : earliest + this.limits.yieldAfterMs;
  }

  private remove(item: Item): boolean {
    const entry = this.active.get(item) ?? this.waiting.get(item);
    if (!entry) return false;
    this.active.delete(item);
    this.waiting.delete(item);
    const left = (this.perHost.get(entry.host) ?? 1) - 1;
    if (left === 0) this.perHost.delete(entry.host);
    else this.perHost.set(entry.host, left);
    return true;
  }

  /** The waiting connection whose address opened the fewest connections lately (the first to arrive among equals), or the most. */
  private pick(which: 'quietest' | 'busiest', now: number): Entry<Item> | undefined {
    let chosen: Entry<Item> | undefined;
    let chosenScore = 0;
    const scores = new Map<string, number>();
    for (const entry of this.waiting.values()) {
      let score = scores.get(entry.host);
      if (score === undefined) {
        score = this.recentCount(entry.host, now);
        scores.set(entry.host, score);
      }
      if (!chosen || (which === 'quietest' ? score < chosenScore : score > chosenScore)) {
        chosen = entry;
        chosenScore = score;
      }
    }
    return chosen;
  }

  private recentCount(host: string, now: number): number {
    const known = this.recent.get(host);
    if (!known) return 0;
    return known.count * 2 ** (-(now - known.at) / this.limits.recentHalfLifeMs);
  }

  private remember(host: string, count: number, now: number): void {
    this.recent.delete(host); // re-inserted last: the map's order is least recently seen first
    this.recent.set(host, { count, at: now });
    if (this.recent.size > this.limits.maxTrackedHosts) this.recent.delete(this.recent.keys().next().value as string);
  }
}
