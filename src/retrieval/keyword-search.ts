import type { Address, Random } from '../runtime/types.js';
import type { HostEntry } from '../transport/vocabulary.js';
import type { BloomFilter } from './bloom.js';
import { hex, sameBits, type Peer } from './core.js';
import { NeighbourPush, sample } from './neighbour-push.js';
import { maxHitResults, type KeywordHitMessage, type KeywordQueryMessage, type KeywordTableMessage } from './keyword-messages.js';
import { keywordTableOf, tableMatches } from './keyword-table.js';
import { maxWordLength, minWordLength } from './keywords.js';
import { maxBudget, maxTtl } from './messages.js';

/**
 * The sans-IO keyword search core: query ids and the seen-cache, the flood with
 * TTL and a split message budget whose last hop goes only where a neighbour's
 * keyword table matches (QRP), deduplication and ranking at the origin, and the
 * table exchange. Messages and `now` in; messages out.
 */

export interface KeywordSearchOptions {
  /** Hops a query may make; the last goes only to neighbours whose table matches. */
  ttl: number;
  /** Queries one search may send at most. */
  budget: number;
}

export interface KeywordCoreOptions {
  seenCapacity: number;
  seenLifetimeMs: number;
  maxActiveSearches: number;
  /** Neighbours whose tables this node keeps (2 KiB each). */
  maxTables: number;
  /** Neighbours this node sends its table to. */
  tablePeers: number;
  tableRefreshMs: number;
  tableMinIntervalMs: number;
  tableLifetimeMs: number;
}

export const defaultKeywordSearchOptions: KeywordSearchOptions = { ttl: 6, budget: 4_096 };

export const defaultKeywordCoreOptions: KeywordCoreOptions = {
  seenCapacity: 16_384,
  seenLifetimeMs: 60_000,
  maxActiveSearches: 256,
  maxTables: 64,
  tablePeers: 16,
  tableRefreshMs: 30_000,
  tableMinIntervalMs: 1_000,
  tableLifetimeMs: 95_000,
};

export interface KeywordResult {
  contentId: string;
  /** The searched words the content's keywords hold: its rank. */
  matched: string[];
  /** Nodes that answered with it (they hold it): where to fetch it from. */
  holders: HostEntry[];
}

export interface KeywordQuerySend {
  readonly to: Peer;
  readonly message: KeywordQueryMessage;
}

export interface KeywordQueryOutcome {
  readonly sends: KeywordQuerySend[];
  readonly hit?: { to: Peer; message: KeywordHitMessage };
}

/** A content held here and the words its keywords index. */
export interface IndexedContent {
  readonly contentId: string;
  readonly words: ReadonlySet<string>;
}

interface ActiveSearch {
  words: string[];
  results: Map<string, KeywordResult>;
}

interface NeighbourTable {
  address: Address;
  table: BloomFilter;
  expiresAtMs: number;
}

/** Holders one result remembers at the origin. */
const maxHoldersPerResult = 8;
/** Results one search keeps at the origin. */
export const maxSearchResults = 1_024;

export class KeywordSearchCore {
  private readonly seen = new Map<string, number>();
  private readonly active = new Map<string, ActiveSearch>();
  private readonly tables = new Map<string, NeighbourTable>();
  private readonly pushTargets: NeighbourPush;
  private ownTable: BloomFilter = keywordTableOf([]);
  private ownWordCount = 0;
  private tableChanged = false;
  private lastTableSentMs = -Infinity;

  constructor(
    private readonly selfId: string,
    private readonly random: Random,
    readonly options: KeywordCoreOptions = defaultKeywordCoreOptions,
  ) {
    this.pushTargets = new NeighbourPush(selfId, random, options.tablePeers);
  }

  get activeSearches(): number {
    return this.active.size;
  }

  get tableCount(): number {
    return this.tables.size;
  }

  /** Starts a search for normalised `words`; undefined when `maxActiveSearches` run already. */
  startSearch(words: string[], search: KeywordSearchOptions, origin: HostEntry, peers: readonly Peer[], nowMs: number): { id: string; sends: KeywordQuerySend[] } | undefined {
    if (this.active.size >= this.options.maxActiveSearches) return undefined;
    const id = hex(this.random.bytes(16));
    this.remember(id, nowMs);
    this.active.set(id, { words, results: new Map() });
    const ttl = Math.max(1, Math.min(maxTtl, Math.floor(search.ttl)));
    const budget = Math.max(0, Math.min(maxBudget, Math.floor(search.budget)));
    const query: KeywordQueryMessage = { id, words, ttl, hops: 0, budget, origin };
    return { id, sends: this.forward(query, new Set([this.selfId]), peers) };
  }

  endSearch(id: string): void {
    this.active.delete(id);
  }

  /**
   * A query from `fromId`. `held` is what this node (`self`) holds: only contents
   * matching a word are named in the hit. A duplicate does nothing: a flood
   * stops where it was before.
   */
  receiveQuery(fromId: string, query: KeywordQueryMessage, held: Iterable<IndexedContent>, self: HostEntry, peers: readonly Peer[], nowMs: number): KeywordQueryOutcome {
    this.expireSeen(nowMs);
    if (this.seen.has(query.id) || !query.words.every(isNormalisedWord)) return { sends: [] };
    this.remember(query.id, nowMs);
    const sends = query.ttl > 0 && query.budget > 0 ? this.forward(query, new Set([this.selfId, fromId, query.origin.id]), peers) : [];
    const results = matching(held, query.words);
    if (results.length === 0) return { sends };
    const origin = query.origin;
    const hit: KeywordHitMessage = { id: query.id, hops: query.hops, holder: self, results };
    return { sends, hit: { to: { id: origin.id, address: { host: origin.host, port: origin.port } }, message: hit } };
  }

  /** A hit: the results new to its search (deduplicated by content id), or undefined when it answers no search running here. */
  receiveHit(hit: KeywordHitMessage): KeywordResult[] | undefined {
    const search = this.active.get(hit.id);
    if (!search) return undefined;
    const fresh: KeywordResult[] = [];
    for (const result of hit.results) {
      // Only words that were searched count: a hit cannot inflate its rank.
      const matched = result.matched.filter((word, index) => search.words.includes(word) && result.matched.indexOf(word) === index);
      if (matched.length === 0) continue;
      const known = search.results.get(result.contentId);
      if (known) {
        if (known.holders.length < maxHoldersPerResult && !known.holders.some((holder) => holder.id === hit.holder.id)) known.holders.push(hit.holder);
        continue;
      }
      if (search.results.size >= maxSearchResults) continue;
      const entry = { contentId: result.contentId, matched, holders: [hit.holder] };
      search.results.set(result.contentId, entry);
      fresh.push(entry);
    }
    return fresh;
  }

  /** What this node (`self`) holds for its own search `id`: counted like any holder's hit. */
  matchHeld(id: string, held: Iterable<IndexedContent>, self: HostEntry): KeywordResult[] {
    const search = this.active.get(id);
    const results = search ? matching(held, search.words) : [];
    return results.length > 0 ? (this.receiveHit({ id, hops: 1, holder: self, results }) ?? []) : [];
  }

  // ---- tables -------------------------------------------------------------------

  setOwnWords(words: ReadonlySet<string>): void {
    this.ownWordCount = words.size;
    const table = keywordTableOf(words);
    if (sameBits(table.bits, this.ownTable.bits)) return;
    this.ownTable = table;
    this.tableChanged = true;
  }

  receiveTable(from: Peer, table: KeywordTableMessage, nowMs: number): boolean {
    if (from.id === this.selfId) return false;
    this.pushTargets.adoptSender(from);
    this.tables.delete(from.id);
    if (this.tables.size >= this.options.maxTables) this.tables.delete(this.tables.keys().next().value as string);
    this.tables.set(from.id, { address: from.address, table, expiresAtMs: nowMs + this.options.tableLifetimeMs });
    return true;
  }

  forgetNeighbour(id: string): void {
    this.tables.delete(id);
  }

  /** When due, this node's table and whom to send it to. */
  tableDue(peers: readonly Peer[], nowMs: number): { message: KeywordTableMessage; to: Peer[] } | undefined {
    for (const [id, neighbour] of this.tables) if (neighbour.expiresAtMs <= nowMs) this.tables.delete(id);
    const added = this.pushTargets.refresh(peers, (id) => this.tables.has(id));
    // A node without words sends nothing (no table matches nothing), except once to clear the one it sent before.
    const empty = this.ownWordCount === 0;
    const refresh = !empty && nowMs >= this.lastTableSentMs + this.options.tableRefreshMs;
    const changed = this.tableChanged && nowMs >= this.lastTableSentMs + this.options.tableMinIntervalMs;
    if (this.pushTargets.all.length === 0 || (!refresh && !changed && (empty || added.length === 0))) return undefined;
    const to = refresh || changed ? [...this.pushTargets.all] : added;
    if (refresh || changed) {
      this.tableChanged = false;
      this.lastTableSentMs = nowMs;
    }
    return { message: { bits: this.ownTable.bits, hashCount: this.ownTable.hashCount }, to };
  }

  nextTableDeadlineMs(): number {
    if (this.tableChanged) return this.lastTableSentMs + this.options.tableMinIntervalMs;
    return this.ownWordCount === 0 ? Infinity : this.lastTableSentMs + this.options.tableRefreshMs;
  }

  // ---- forwarding ---------------------------------------------------------------

  /**
   * Neighbours whose table matches come first; the last hop (the receiver could
   * not forward) goes to them alone, earlier hops flood every neighbour. The
   * budget is split among the forwards, so one search sends at most its budget.
   */
  private forward(query: KeywordQueryMessage, exclude: Set<string>, peers: readonly Peer[]): KeywordQuerySend[] {
    const candidates = peers.filter((peer) => !exclude.has(peer.id));
    const listed = new Set(candidates.map((peer) => peer.id));
    for (const [id, neighbour] of this.tables) if (!exclude.has(id) && !listed.has(id)) candidates.push({ id, address: neighbour.address });
    const matched = candidates.filter((peer) => {
      const neighbour = this.tables.get(peer.id);
      return neighbour !== undefined && tableMatches(neighbour.table, query.words);
    });
    const lastHop = query.ttl <= 1;
    const rest = lastHop ? [] : sample(candidates.filter((peer) => !matched.includes(peer)), candidates.length, this.random);
    const targets = [...matched, ...rest].slice(0, query.budget);
    if (targets.length === 0) return [];
    const spare = query.budget - targets.length;
    const share = Math.floor(spare / targets.length);
    const extra = spare % targets.length;
    return targets.map((to, index) => ({ to, message: { ...query, ttl: query.ttl - 1, hops: query.hops + 1, budget: share + (index < extra ? 1 : 0) } }));
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

/** Held contents that index one of `words`, best ranked first, at most one hit's worth. */
function matching(held: Iterable<IndexedContent>, words: readonly string[]): Array<{ contentId: string; matched: string[] }> {
  const found: Array<{ contentId: string; matched: string[]; holders: HostEntry[] }> = [];
  for (const content of held) {
    const matched = words.filter((word) => content.words.has(word));
    if (matched.length > 0) found.push({ contentId: content.contentId, matched, holders: [] });
  }
  return rank(found)
    .slice(0, maxHitResults)
    .map(({ contentId, matched }) => ({ contentId, matched }));
}

export function rank(results: KeywordResult[]): KeywordResult[] {
  return results.sort((a, b) => b.matched.length - a.matched.length || (a.contentId < b.contentId ? -1 : a.contentId > b.contentId ? 1 : 0));
}

function isNormalisedWord(word: string): boolean {
  return [...word].length >= minWordLength && word.length <= maxWordLength && word === word.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase() && !/[^\p{L}\p{N}]/u.test(word);
}
