import type { Random } from '../runtime/types.js';
import type { Peer } from './core.js';

/**
 * Whom a node pushes its own digest to (the summary of what it holds in core.ts, the
 * keyword table in keyword-search.ts): up to `maxTargets` neighbours, kept while they are
 * still known or still push theirs, topped up at random from the known hosts. A neighbour
 * that pushes to this node is taken on while there is room, so pushes go both ways (the
 * partial view is directed; coverage should not be). When to push stays with each core.
 */
export class NeighbourPush {
  private targets: Peer[] = [];
  /** Targets taken on since the last refresh, who have not had this node's digest yet. */
  private newTargets: Peer[] = [];

  constructor(
    private readonly selfId: string,
    private readonly random: Random,
    private readonly maxTargets: number,
  ) {}

  get all(): readonly Peer[] {
    return this.targets;
  }

  /** A neighbour pushed its digest to this node: it gets this node's in return while there is room. */
  adoptSender(from: Peer): void {
    if (this.targets.length >= this.maxTargets || this.targets.some((peer) => peer.id === from.id)) return;
    this.targets.push(from);
    this.newTargets.push(from);
  }

  /**
   * Keeps the targets still among `peers` (the known hosts) or still `pushing`, tops them up
   * at random from `peers`; returns the targets that have not had this node's digest yet.
   */
  refresh(peers: readonly Peer[], pushing: (id: string) => boolean): Peer[] {
    const known = new Set(peers.map((peer) => peer.id));
    this.targets = this.targets.filter((peer) => known.has(peer.id) || pushing(peer.id));
    const kept = new Set(this.targets.map((peer) => peer.id));
    const added = sample(peers.filter((peer) => !kept.has(peer.id) && peer.id !== this.selfId), this.maxTargets - this.targets.length, this.random);
    this.targets.push(...added);
    const fresh = [...this.newTargets.filter((peer) => this.targets.includes(peer)), ...added];
    this.newTargets = [];
    return fresh;
  }
}

/** Up to `count` distinct items, uniformly (partial Fisher–Yates on a copy). */
export function sample<T>(items: readonly T[], count: number, random: Random): T[] {
  const pool = [...items];
  const take = Math.max(0, Math.min(count, pool.length));
  for (let index = 0; index < take; index += 1) {
    const other = index + random.int(pool.length - index);
    [pool[index], pool[other]] = [pool[other] as T, pool[index] as T];
  }
  return pool.slice(0, take);
}
