import type { Address, Random } from '../runtime/types.js';
import type { HostEntry } from '../transport/vocabulary.js';
import { bloomHas, bloomOf, bloomUnion, isBloomShape, type BloomFilter } from './bloom.js';
import { NeighbourPush, sample } from './neighbour-push.js';
import { maxBudget, maxTtl, strategyCodes, type HitMessage, type QueryMessage, type Strategy, type SummaryMessage } from './messages.js';

/**
 * The sans-IO search core (SPEC §6): query ids, the seen-cache, TTL, the
 * per-query message budget, the three strategies, and the neighbour summaries
 * informed search routes on. Messages and `now` in; messages to send and the
 * next deadline out. The service (service.ts) adapts it to routes and a timer.
 */

export interface SearchOptions {
  strategy: Strategy;
  /** Hops a query may make. */
  ttl: number;
  /** Messages one search may send at most (queries; hits are one per holder reached). The service's `floodBudget` applies to bfs and rbfs. */
  budget: number;
  /** Informed: random walkers the origin starts when no summary matches (bfs and rbfs ignore it). */
  fanout: number;
  /** rbfs: share of its peers a node forwards to. */
  fraction: number;
}

export interface CoreOptions {
  /** Query ids remembered, to drop duplicates. */
  seenCapacity: number;
  seenLifetimeMs: number;
  /** Searches this node runs at once. */
  maxActiveSearches: number;
  /** Neighbours whose summaries this node keeps. */
  maxSummaries: number;
  /** Neighbours this node sends its summary to. */
  summaryPeers: number;
  /** A summary is sent again this often even when unchanged, so receivers can expire the dead. */
  summaryRefreshMs: number;
  /** A changed summary waits at least this long after the last one (changes batch). */
  summaryMinIntervalMs: number;
  /** A neighbour's summary not refreshed for this long is dropped. */
  summaryLifetimeMs: number;
}

export const defaultSearchOptions: SearchOptions = { strategy: 'informed', ttl: 7, budget: 512, fanout: 4, fraction: 0.5 };

export const defaultCoreOptions: CoreOptions = {
  seenCapacity: 16_384,
  seenLifetimeMs: 60_000,
  maxActiveSearches: 1024,
  maxSummaries: 64,
  summaryPeers: 16,
  summaryRefreshMs: 30_000,
  summaryMinIntervalMs: 1_000,
  summaryLifetimeMs: 95_000,
};

export interface Peer {
  readonly id: string;
  readonly address: Address;
}

export interface QuerySend {
  readonly to: Peer;
  readonly message: QueryMessage;
}

export interface QueryOutcome {
  readonly sends: QuerySend[];
  /** Set when this node holds the key: the hit to send to the origin. */
  readonly hit?: { to: Peer; message: HitMessage };
}

interface ActiveSearch {
  key: string;
  /** Neighbours the search went to on a 1- or 2-hop match. */
  suspects: string[];
}

interface NeighbourSummary {
  address: Address;
  own: BloomFilter;
  near: BloomFilter;
  far: BloomFilter;
  expiresAtMs: number;
}

export class RetrievalCore {
  /** Query id → when it may be forgotten; insertion order is expiry order (one lifetime). */
  private readonly seen = new Map<string, number>();
  private readonly active = new Map<string, ActiveSearch>();
  /** By last update, oldest first. */
  private readonly summaries = new Map<string, NeighbourSummary>();
  private readonly pushTargets: NeighbourPush;
  private ownKeys: string[] = [];
  private ownSignature = '';
  private summaryChanged = false;
  private lastSummarySentMs = -Infinity;

  constructor(
    private readonly selfId: string,
    private readonly random: Random,
    readonly options: CoreOptions = defaultCoreOptions,
  ) {
    this.pushTargets = new NeighbourPush(selfId, random, options.summaryPeers);
  }

  get activeSearches(): number {
    return this.active.size;
  }

  get summaryCount(): number {
    return this.summaries.size;
  }

  /** Starts a search for segment `key`: its id and the first queries. Undefined when `maxActiveSearches` run already. */
  startSearch(key: string, search: SearchOptions, origin: HostEntry, peers: readonly Peer[], nowMs: number): { id: string; sends: QuerySend[] } | undefined {
    if (this.active.size >= this.options.maxActiveSearches) return undefined;
    const id = hex(this.random.bytes(16));
    this.remember(id, nowMs);
    const ttl = Math.max(1, Math.min(maxTtl, Math.floor(search.ttl)));
    const budget = Math.max(0, Math.min(maxBudget, Math.floor(search.budget)));
    const query: QueryMessage = { id, key, strategy: strategyCodes[search.strategy], ttl, hops: 0, budget, origin };
    const sends = this.forward(query, new Set([this.selfId]), peers, search, true);
    const suspects = sends.map((send) => send.to.id).filter((peerId) => this.claimsNear(peerId, key));
    this.active.set(id, { key, suspects });
    return { id, sends };
  }

  /**
   * The search is over (found, failed or cancelled): later hits for it are dropped. Unanswered, the
   * neighbours it went to because their summaries put the key within 2 hops were stale or are dead
   * (a crashed node swallows the one query an informed search sends it): their summaries are dropped
   * until they send fresh ones, so the next search goes other ways.
   */
  endSearch(id: string, answered: boolean): void {
    const search = this.active.get(id);
    this.active.delete(id);
    if (search && !answered) for (const suspect of search.suspects) this.summaries.delete(suspect);
  }

  /**
   * A query from peer `fromId`. `holders` is this node and its group's members
   * when it holds the key. A duplicate (or one of its own) does nothing.
   */
  receiveQuery(fromId: string, query: QueryMessage, holders: HostEntry[] | undefined, peers: readonly Peer[], search: SearchOptions, nowMs: number): QueryOutcome {
    this.expireSeen(nowMs);
    const strategy = strategyName(query.strategy);
    const exclude = new Set([this.selfId, fromId, query.origin.id]);
    if (this.seen.has(query.id)) {
      // A flood stops at a node it reached before; a random walk goes on (walkers cross in small graphs), bounded by TTL and budget.
      if (strategy !== 'informed' || holders !== undefined || query.ttl <= 0 || query.budget <= 0) return { sends: [] };
      return { sends: this.forward(query, exclude, peers, { ...search, strategy }, false) };
    }
    this.remember(query.id, nowMs);
    if (holders && holders.length > 0) {
      const origin = query.origin;
      return { sends: [], hit: { to: { id: origin.id, address: { host: origin.host, port: origin.port } }, message: { id: query.id, key: query.key, hops: query.hops, holders } } };
    }
    if (query.ttl <= 0 || query.budget <= 0) return { sends: [] };
    return { sends: this.forward(query, exclude, peers, { ...search, strategy }, false) };
  }

  /** A hit: returned when it answers a search still running here for that key, else undefined. */
  receiveHit(hit: HitMessage): HitMessage | undefined {
    return this.active.get(hit.id)?.key === hit.key ? hit : undefined;
  }

  // ---- summaries ----------------------------------------------------------

  /** The segments this node holds now; a change is sent to its summary peers at the next chance. */
  setOwnKeys(keys: readonly string[]): void {
    const signature = keySignature(keys);
    if (signature === this.ownSignature) return;
    this.ownSignature = signature;
    this.ownKeys = [...keys];
    this.summaryChanged = true;
  }

  receiveSummary(from: Peer, summary: SummaryMessage, nowMs: number): boolean {
    if (from.id === this.selfId || !isBloomShape(summary.own) || !isBloomShape(summary.near) || !isBloomShape(summary.far)) return false;
    this.pushTargets.adoptSender(from);
    const previous = this.summaries.get(from.id);
    this.summaries.delete(from.id);
    if (this.summaries.size >= this.options.maxSummaries) this.summaries.delete(this.summaries.keys().next().value as string);
    this.summaries.set(from.id, { address: from.address, own: summary.own, near: summary.near, far: summary.far, expiresAtMs: nowMs + this.options.summaryLifetimeMs });
    // A neighbour's own filter goes into the 2-hop summary sent on, its 2-hop one into the 3-hop; its 3-hop goes no further
    // (no cycle can keep a key alive), and a refresh of the same filters changes nothing.
    if (!previous || !sameBits(previous.own.bits, summary.own.bits) || !sameBits(previous.near.bits, summary.near.bits)) this.summaryChanged = true;
    return true;
  }

  /** Forgets a neighbour that went away (its summary would route queries into the void). */
  forgetNeighbour(id: string): void {
    this.summaries.delete(id);
  }

  /**
   * When due, this node's summary and whom to send it to: its own segments, the
   * 2-hop union with its neighbours' own filters, and the 3-hop union with their
   * 2-hop ones (sized from their widths: each is about 10 bits per entry already).
   */
  summaryDue(peers: readonly Peer[], nowMs: number): { message: SummaryMessage; to: Peer[] } | undefined {
    this.expireSummaries(nowMs);
    const added = this.pushTargets.refresh(peers, (id) => this.summaries.has(id));
    const refresh = nowMs >= this.lastSummarySentMs + this.options.summaryRefreshMs;
    const changed = this.summaryChanged && nowMs >= this.lastSummarySentMs + this.options.summaryMinIntervalMs;
    if (this.pushTargets.all.length === 0 || (!refresh && !changed && added.length === 0)) return undefined;
    const to = refresh || changed ? [...this.pushTargets.all] : added;
    this.summaryChanged = false;
    if (refresh || changed) this.lastSummarySentMs = nowMs;
    return { message: this.summary(), to };
  }

  nextSummaryDeadlineMs(): number {
    return this.summaryChanged ? this.lastSummarySentMs + this.options.summaryMinIntervalMs : this.lastSummarySentMs + this.options.summaryRefreshMs;
  }

  private summary(): SummaryMessage {
    const own = bloomOf(this.ownKeys, this.ownKeys.length);
    // Each union is as wide as the narrowest it unites, so every source folds into it (bloom.ts).
    let nearBytes = own.bits.length;
    for (const neighbour of this.summaries.values()) nearBytes = Math.min(nearBytes, neighbour.own.bits.length);
    const near: BloomFilter = { bits: new Uint8Array(nearBytes), hashCount: own.hashCount };
    bloomUnion(near, own);
    for (const neighbour of this.summaries.values()) bloomUnion(near, neighbour.own);
    let farBytes = near.bits.length;
    for (const neighbour of this.summaries.values()) farBytes = Math.min(farBytes, neighbour.near.bits.length);
    const far: BloomFilter = { bits: new Uint8Array(farBytes), hashCount: own.hashCount };
    bloomUnion(far, near);
    for (const neighbour of this.summaries.values()) bloomUnion(far, neighbour.near);
    return { own, near, far };
  }

  private claimsNear(peerId: string, key: string): boolean {
    const neighbour = this.summaries.get(peerId);
    return neighbour !== undefined && (bloomHas(neighbour.own, key) || bloomHas(neighbour.near, key));
  }

  private expireSummaries(nowMs: number): void {
    for (const [id, neighbour] of this.summaries) if (neighbour.expiresAtMs <= nowMs) this.summaries.delete(id);
  }

  // ---- forwarding -----------------------------------------------------------

  /** Chooses targets by strategy and splits the budget among them (each forward costs one). */
  private forward(query: QueryMessage, exclude: Set<string>, peers: readonly Peer[], search: SearchOptions, atOrigin: boolean): QuerySend[] {
    const targets = this.targets(query.key, exclude, peers, search, atOrigin).slice(0, query.budget);
    if (targets.length === 0) return [];
    const spare = query.budget - targets.length;
    const share = Math.floor(spare / targets.length);
    const extra = spare % targets.length;
    return targets.map((to, index) => ({ to, message: { ...query, ttl: query.ttl - 1, hops: query.hops + 1, budget: share + (index < extra ? 1 : 0) } }));
  }

  private targets(key: string, exclude: Set<string>, peers: readonly Peer[], search: SearchOptions, atOrigin: boolean): Peer[] {
    // Neighbours are the known hosts and those that send us summaries: the partial view is directed, a search should not be.
    const candidates = peers.filter((peer) => !exclude.has(peer.id));
    const listed = new Set(candidates.map((peer) => peer.id));
    for (const [id, neighbour] of this.summaries) if (!exclude.has(id) && !listed.has(id)) candidates.push({ id, address: neighbour.address });
    if (search.strategy === 'bfs') return candidates;
    if (search.strategy === 'rbfs') return sample(candidates, Math.ceil(candidates.length * search.fraction), this.random);
    const holders: Peer[] = [];
    const near: Peer[] = [];
    const far: Peer[] = [];
    for (const [id, neighbour] of this.summaries) {
      if (exclude.has(id)) continue;
      if (bloomHas(neighbour.own, key)) holders.push({ id, address: neighbour.address });
      else if (bloomHas(neighbour.near, key)) near.push({ id, address: neighbour.address });
      else if (bloomHas(neighbour.far, key)) far.push({ id, address: neighbour.address });
    }
    // One likely holder is enough (its hit names the group's other members), and so is a 2-hop match;
    // with no match, random walkers. A 3-hop match is the stalest and the likeliest false: at the origin
    // it goes with random walkers (one fewer), elsewhere it steers the walker that carries the query.
    if (holders.length > 0) return sample(holders, 1, this.random);
    if (near.length > 0) return sample(near, 1, this.random);
    const walkers = atOrigin ? search.fanout : 1;
    if (far.length === 0) return sample(candidates, walkers, this.random);
    const [steer] = sample(far, 1, this.random) as [Peer];
    return [steer, ...sample(candidates.filter((peer) => peer.id !== steer.id), walkers - 1, this.random)];
  }

  private remember(id: string, nowMs: number): void {
    this.expireSeen(nowMs);
    if (this.seen.size >= this.options.seenCapacity) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(id, nowMs + this.options.seenLifetimeMs);
  }

  private expireSeen(nowMs: number): void {
    for (const [id, until] of this.seen) {
      if (until > nowMs) break;
      this.seen.delete(id);
    }
  }
}

function strategyName(code: number): Strategy {
  return code === strategyCodes.bfs ? 'bfs' : code === strategyCodes.rbfs ? 'rbfs' : 'informed';
}

/** Order-independent: the count and an xor of the keys' hashes. */
function keySignature(keys: readonly string[]): string {
  let xor = 0;
  let sum = 0;
  for (const key of keys) {
    let hash = 0x811c9dc5;
    for (let index = 0; index < key.length; index += 1) hash = Math.imul(hash ^ key.charCodeAt(index), 0x01000193) >>> 0;
    xor ^= hash;
    sum = (sum + hash) >>> 0;
  }
  return `${keys.length}:${xor}:${sum}`;
}

export function sameBits(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index += 1) if (a[index] !== b[index]) return false;
  return true;
}

export function hex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}
