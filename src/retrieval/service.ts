import { Type } from '@sinclair/typebox';
import { InvalidArgumentError, InvalidConfigError, OverloadedError } from '../errors.js';
import { checkOptions, optionTypes, type OptionSchemas } from '../node/options.js';
import type { PeerInfo, RequestContext, Service, ServiceComponents, ServiceFactory } from '../node/service.js';
import { Slots } from '../node/slots.js';
import { DeadlineTimer } from '../runtime/deadline-timer.js';
import { blockKeyOf, joinContent, parseContentId, type Block } from '../storage/block.js';
import { segmentCount, segmentKeyOf, segmentRange } from '../storage/segment.js';
import { StorageService } from '../storage/service.js';
import type { HostEntry } from '../transport/vocabulary.js';
import { defaultCoreOptions, defaultSearchOptions, RetrievalCore, type CoreOptions, type Peer, type QuerySend, type SearchOptions } from './core.js';
import { KeywordSearcher, type SearchCallOptions } from './keyword-service.js';
import type { KeywordResult } from './keyword-search.js';
import { hitCodec, maxBudget, maxHitHolders, maxTtl, queryCodec, routes, strategies, summaryCodec, type HitMessage, type Strategy } from './messages.js';

export interface RetrievalOptions extends SearchOptions, CoreOptions {
  /** How long one search waits for its first hit before it counts as a miss. */
  searchTimeoutMs: number;
  /** A search that misses is run once more as `bfs`. */
  fallback: boolean;
  /**
   * Budget of a flood (`bfs`, `rbfs` and the fallback) unless a call gives one. Each node splits what it
   * got among its forwards, so a branch that runs into nodes reached before loses its share: a flood
   * needs many times the messages it ends up sending to reach its TTL.
   */
  floodBudget: number;
  /** Block fetches in flight for one retrieval. */
  fetchConcurrency: number;
  /** Searches one segment may cost (dead or lying holders make another). */
  maxSearchesPerSegment: number;
  /** Peers that served a bad block, remembered and ignored. */
  maxDistrusted: number;
  /** The storage service's name on this node. */
  storageService: string;
}

export const defaultRetrievalOptions: RetrievalOptions = {
  ...defaultSearchOptions,
  ...defaultCoreOptions,
  searchTimeoutMs: 2_000,
  fallback: true,
  floodBudget: 4_096,
  fetchConcurrency: 32,
  maxSearchesPerSegment: 3,
  maxDistrusted: 1_024,
  storageService: 'storage',
};

const retrievalSchemas: OptionSchemas<RetrievalOptions> = {
  strategy: Type.Union(strategies.map((name) => Type.Literal(name))),
  ttl: optionTypes.integer(1, maxTtl),
  budget: optionTypes.integer(1, maxBudget),
  fanout: optionTypes.integer(1, 64),
  fraction: optionTypes.between(0, 1),
  seenCapacity: optionTypes.integer(1, 1_000_000),
  seenLifetimeMs: optionTypes.positive(),
  maxActiveSearches: optionTypes.integer(1, 100_000),
  maxSummaries: optionTypes.integer(0, 4_096),
  summaryPeers: optionTypes.integer(0, 256),
  summaryRefreshMs: optionTypes.positive(),
  summaryMinIntervalMs: optionTypes.positive(),
  summaryLifetimeMs: optionTypes.positive(),
  searchTimeoutMs: optionTypes.positive(),
  fallback: optionTypes.boolean(),
  floodBudget: optionTypes.integer(1, maxBudget),
  fetchConcurrency: optionTypes.integer(1, 1_024),
  maxSearchesPerSegment: optionTypes.integer(1, 16),
  maxDistrusted: optionTypes.integer(1, 1_000_000),
  storageService: optionTypes.text(1, 64),
};

/** Per call: any search option, cancellation and progress. */
export interface RetrieveOptions extends Partial<SearchOptions> {
  signal?: AbortSignal;
  onProgress?: (progress: RetrieveProgress) => void;
  /** Overrides the service's `fallback`. */
  fallback?: boolean;
}

export interface RetrieveProgress {
  contentId: string;
  segmentsLocated: number;
  segments: number;
  blocksFetched: number;
  blocks: number;
}

/** What one retrieval cost: for experiments and benchmarks. */
export interface RetrieveReport {
  data: Uint8Array | undefined;
  /** True when held here: no search ran. */
  local: boolean;
  /** Searches run (a fallback or a re-search after bad holders counts). */
  searches: number;
  /** Hops of the first hit of each segment, when found. */
  hops: number[];
  /** Searches that succeeded only through the bfs fallback. */
  fallbacks: number;
  /** Holders dropped for serving a block that did not verify. */
  liarsReported: number;
}

type PendingSearch = { resolve: (hit: HitMessage | undefined) => void };

/**
 * `retrieval(options)`: search for content in the unstructured network (SPEC §6),
 * beside the storage service it reads from. Options are checked here.
 */
export function retrieval(options: Partial<RetrievalOptions> = {}): ServiceFactory<RetrievalService> {
  const checked = checkOptions('retrieval.', options, retrievalSchemas, defaultRetrievalOptions);
  if (checked.summaryMinIntervalMs > checked.summaryRefreshMs) throw new InvalidConfigError('retrieval.summaryMinIntervalMs must not exceed retrieval.summaryRefreshMs');
  return (components) => new RetrievalService(components, checked);
}

/**
 * The adapter around the search core: serves the retrieval routes, sends what
 * the core asks for, keeps the summary timer and fetches the parts a search
 * located, verified, from their holders.
 */
export class RetrievalService implements Service {
  private core: RetrievalCore;
  private readonly timer: DeadlineTimer;
  private readonly pending = new Map<string, PendingSearch>();
  /** Insertion ordered: the oldest is forgotten first. */
  private readonly distrusted = new Set<string>();
  private running = false;
  /** Summaries received, hits answered and liars met, for metrics. */
  readonly counters = { queriesReceived: 0, hitsSent: 0, summariesSent: 0, summariesReceived: 0, badBlocks: 0 };

  constructor(
    private readonly components: ServiceComponents,
    readonly options: RetrievalOptions,
  ) {
    this.core = new RetrievalCore(components.nodeId, components.random.fork('core'), options);
    this.timer = new DeadlineTimer(components.runtime, () => this.onTimer());
    this.keywords = new KeywordSearcher(components, () => this.storage);
  }

  /** Keyword search (keyword-service.ts): its counters and tables. */
  readonly keywords: KeywordSearcher;

  /** Contents whose keywords hold one of `words`, best ranked first; `onResult` streams them as they arrive. */
  search(words: readonly string[], options: SearchCallOptions = {}): Promise<KeywordResult[]> {
    return this.keywords.search(words, options);
  }

  /** Searches waiting for their first hit. */
  get activeSearches(): number {
    return this.pending.size;
  }

  private get storage(): StorageService {
    const service = this.components.service(this.options.storageService);
    if (!(service instanceof StorageService)) throw new InvalidConfigError(`retrieval needs a storage service named "${this.options.storageService}"`);
    return service;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.core = new RetrievalCore(this.components.nodeId, this.components.random.fork('core'), this.options);
    this.components.route(routes.query, (payload, context) => this.onQuery(payload, context));
    this.components.route(routes.hit, (payload, context) => this.onHit(payload, context));
    this.components.route(routes.summary, (payload, context) => this.onSummary(payload, context));
    // The first summary waits for bootstrap introductions to fill the known hosts.
    this.timer.armAt(this.components.runtime.now() + this.options.summaryMinIntervalMs);
    this.keywords.start();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.timer.cancel();
    this.keywords.stop();
    for (const search of this.pending.values()) search.resolve(undefined);
    this.pending.clear();
  }

  /** The content's bytes, verified block by block; undefined when it is not found within the search budget. */
  async retrieve(contentId: string, options: RetrieveOptions = {}): Promise<Uint8Array | undefined> {
    return (await this.retrieveWithReport(contentId, options)).data;
  }

  /**
   * Local first. Otherwise every segment not held here is searched for at once;
   * each hit's holders serve that segment's blocks in parallel, each verified
   * against the content hash (storage.fetch); a holder that serves a bad block is
   * distrusted and the segment's search goes on elsewhere.
   */
  async retrieveWithReport(contentId: string, options: RetrieveOptions = {}): Promise<RetrieveReport> {
    const parsed = parseContentId(contentId);
    if (!parsed) throw new InvalidArgumentError(`invalid content id ${JSON.stringify(contentId)}`);
    const search = this.searchOptions(options);
    const storage = this.storage;
    const blocks = new Map<number, Block>();
    for (let part = 0; part < parsed.parts; part += 1) {
      const block = storage.get(blockKeyOf(contentId, part));
      if (block) blocks.set(part, block);
    }
    const report: RetrieveReport = { data: undefined, local: blocks.size === parsed.parts, searches: 0, hops: [], fallbacks: 0, liarsReported: 0 };
    const segments = segmentCount(parsed.parts);
    const progress: RetrieveProgress = { contentId, segmentsLocated: 0, segments, blocksFetched: blocks.size, blocks: parsed.parts };
    const missing: number[] = [];
    for (let segment = 0; segment < segments; segment += 1) {
      const { first, count } = segmentRange(parsed.parts, segment);
      let held = true;
      for (let part = first; part < first + count; part += 1) held &&= blocks.has(part);
      if (held) progress.segmentsLocated += 1;
      else missing.push(segment);
    }
    options.onProgress?.({ ...progress });
    const fetchSlots = new Slots(this.options.fetchConcurrency);
    const results = await Promise.all(
      missing.map((segment) => this.retrieveSegment(contentId, parsed.parts, segment, search, options, report, fetchSlots, blocks, progress)),
    );
    options.signal?.throwIfAborted();
    if (results.every(Boolean)) report.data = joinContent([...blocks.values()]);
    return report;
  }

  private async retrieveSegment(
    contentId: string,
    parts: number,
    segment: number,
    search: SearchOptions,
    options: RetrieveOptions,
    report: RetrieveReport,
    slots: Slots,
    blocks: Map<number, Block>,
    progress: RetrieveProgress,
  ): Promise<boolean> {
    const key = segmentKeyOf(contentId, segment);
    const { first, count } = segmentRange(parts, segment);
    const fallback = options.fallback ?? this.options.fallback;
    for (let attempt = 0; attempt < this.options.maxSearchesPerSegment; attempt += 1) {
      let hit = await this.searchSegment(key, search, options.signal, report);
      // An informed search's first hops follow summaries, so one stale summary loses it whole; the core dropped
      // those it followed, and one more informed search takes other ways (measured under churn: docs/BENCHMARKS.md).
      if (!hit && search.strategy === 'informed') hit = await this.searchSegment(key, search, options.signal, report);
      if (!hit && fallback && search.strategy !== 'bfs') {
        hit = await this.searchSegment(key, { ...search, strategy: 'bfs', budget: this.options.floodBudget }, options.signal, report);
        if (hit) report.fallbacks += 1;
      }
      if (!hit) return false;
      if (attempt === 0) report.hops.push(hit.hops);
      progress.segmentsLocated += 1;
      options.onProgress?.({ ...progress });
      const holders = hit.holders.filter((holder) => !this.distrusted.has(holder.id));
      const fetched = await this.fetchParts(contentId, first, count, holders, slots, blocks, report, options, progress);
      if (fetched) return true;
      progress.segmentsLocated -= 1;
    }
    return false;
  }

  /** Fetches every missing part of a segment from `holders`, spread over them; false when some part could not be had. */
  private async fetchParts(
    contentId: string,
    first: number,
    count: number,
    holders: HostEntry[],
    slots: Slots,
    blocks: Map<number, Block>,
    report: RetrieveReport,
    options: RetrieveOptions,
    progress: RetrieveProgress,
  ): Promise<boolean> {
    const storage = this.storage;
    const usable = [...holders];
    const fetchPart = async (part: number, index: number): Promise<void> => {
      for (let tries = 0; usable.length > 0 && tries < maxHitHolders; tries += 1) {
        options.signal?.throwIfAborted();
        const holder = usable[(index + tries) % usable.length] as HostEntry;
        const block = await slots.run(() => storage.fetch({ id: holder.id, address: { host: holder.host, port: holder.port } }, blockKeyOf(contentId, part))).catch((error: unknown) => {
          if ((error as { code?: string }).code === 'PROTOCOL_ERROR') this.distrust(holder, report);
          return undefined;
        });
        if (block) {
          blocks.set(part, block);
          progress.blocksFetched += 1;
          options.onProgress?.({ ...progress });
          return;
        }
        // A holder that answered nothing or failed is not asked for the other parts either.
        const at = usable.indexOf(holder);
        if (at >= 0) usable.splice(at, 1);
      }
    };
    const wanted: number[] = [];
    for (let part = first; part < first + count; part += 1) if (!blocks.has(part)) wanted.push(part);
    await Promise.all(wanted.map((part, index) => fetchPart(part, index)));
    return wanted.every((part) => blocks.has(part));
  }

  private distrust(holder: HostEntry, report: RetrieveReport): void {
    this.counters.badBlocks += 1;
    report.liarsReported += 1;
    this.components.logger.warn({ peer: holder.id }, 'retrieval: a holder served a block that does not verify');
    if (this.distrusted.size >= this.options.maxDistrusted) this.distrusted.delete(this.distrusted.values().next().value as string);
    this.distrusted.add(holder.id);
    this.core.forgetNeighbour(holder.id);
  }

  /** One search for a segment: resolves with its first usable hit, or undefined at the timeout. */
  private searchSegment(key: string, search: SearchOptions, signal: AbortSignal | undefined, report: RetrieveReport): Promise<HitMessage | undefined> {
    signal?.throwIfAborted();
    const address = this.components.listenAddress();
    const origin = { id: this.components.nodeId, host: address.host, port: address.port };
    const started = this.core.startSearch(key, search, origin, this.peers(), this.components.runtime.now());
    if (!started) throw new OverloadedError(`${this.options.maxActiveSearches} searches are running already`);
    report.searches += 1;
    this.sendQueries(started.sends);
    return new Promise<HitMessage | undefined>((resolve, reject) => {
      const finish = (hit: HitMessage | undefined, cancelled = false) => {
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(started.id);
        this.core.endSearch(started.id, hit !== undefined || cancelled);
        resolve(hit);
      };
      const onAbort = () => {
        finish(undefined, true);
        reject(signal?.reason);
      };
      const timer = this.components.runtime.setTimer(this.options.searchTimeoutMs, () => finish(undefined));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(started.id, { resolve: finish });
    });
  }

  private searchOptions(options: RetrieveOptions): SearchOptions {
    const strategy = options.strategy ?? this.options.strategy;
    const merged: SearchOptions = {
      strategy,
      ttl: options.ttl ?? this.options.ttl,
      budget: options.budget ?? (strategy === 'informed' ? this.options.budget : this.options.floodBudget),
      fanout: options.fanout ?? this.options.fanout,
      fraction: options.fraction ?? this.options.fraction,
    };
    if (!strategies.includes(merged.strategy)) throw new InvalidArgumentError(`strategy must be one of ${strategies.join(', ')}`);
    if (!Number.isInteger(merged.ttl) || merged.ttl < 1 || merged.ttl > maxTtl) throw new InvalidArgumentError(`ttl must be an integer from 1 to ${maxTtl}`);
    if (!Number.isInteger(merged.budget) || merged.budget < 1 || merged.budget > maxBudget) throw new InvalidArgumentError(`budget must be an integer from 1 to ${maxBudget}`);
    if (!Number.isInteger(merged.fanout) || merged.fanout < 1) throw new InvalidArgumentError('fanout must be a positive integer');
    if (!(merged.fraction > 0 && merged.fraction <= 1)) throw new InvalidArgumentError('fraction must be in (0, 1]');
    return merged;
  }

  private peers(): Peer[] {
    return this.components.knownHosts.list().map((host) => ({ id: host.id, address: host.address }));
  }

  private sendQueries(sends: readonly QuerySend[]): void {
    for (const { to, message } of sends) {
      this.components.notify(to, routes.query, queryCodec.encode(message)).catch(() => this.core.forgetNeighbour(to.id));
    }
  }

  // ---- inbound routes ---------------------------------------------------------

  private onQuery(payload: Uint8Array, context: RequestContext): Uint8Array {
    const query = queryCodec.decode(payload);
    if (!this.running) return new Uint8Array(0);
    this.counters.queriesReceived += 1;
    // The first hop knows the origin's dialable address better than the origin (which may listen on 0.0.0.0).
    if (context.peer.id === query.origin.id && context.peer.address) query.origin = { id: query.origin.id, host: context.peer.address.host, port: context.peer.address.port };
    const outcome = this.core.receiveQuery(context.peer.id, query, this.holders(query.key), this.peers(), this.options, this.components.runtime.now());
    this.sendQueries(outcome.sends);
    if (outcome.hit) {
      this.counters.hitsSent += 1;
      // Popularity counts authenticated requesters only: a forwarded query's origin is a claim anyone can write
      // (the fetch that follows counts that origin, authenticated).
      if (context.peer.id === query.origin.id) this.storage.servedHit(query.key, context.peer.id);
      this.components.notify(outcome.hit.to, routes.hit, hitCodec.encode(outcome.hit.message)).catch(() => undefined);
    }
    return new Uint8Array(0);
  }

  /** This node (at the address its listener has; the origin corrects it from the connection) and its group's other members. */
  private holders(key: string): HostEntry[] | undefined {
    const members = this.storage.holdersOf(key);
    if (!members) return undefined;
    const address = this.components.listenAddress();
    const self = { id: this.components.nodeId, host: address.host, port: address.port };
    return [self, ...members.slice(0, maxHitHolders - 1).map(({ id, host, port }) => ({ id, host, port }))];
  }

  private onHit(payload: Uint8Array, context: RequestContext): Uint8Array {
    const hit = hitCodec.decode(payload);
    const accepted = this.core.receiveHit(hit);
    const pending = accepted && this.pending.get(hit.id);
    if (!pending) return new Uint8Array(0);
    const holders = hit.holders.map((holder) => (holder.id === context.peer.id ? dialable(holder, context.peer) : holder));
    // A hit naming only distrusted holders is no hit: the search goes on.
    if (holders.every((holder) => this.distrusted.has(holder.id))) return new Uint8Array(0);
    pending.resolve({ ...hit, holders });
    return new Uint8Array(0);
  }

  private onSummary(payload: Uint8Array, context: RequestContext): Uint8Array {
    const summary = summaryCodec.decode(payload);
    const address = context.peer.address;
    if (!this.running || !address || this.distrusted.has(context.peer.id)) return new Uint8Array(0);
    if (this.core.receiveSummary({ id: context.peer.id, address }, summary, this.components.runtime.now())) this.counters.summariesReceived += 1;
    return new Uint8Array(0);
  }

  // ---- summaries ----------------------------------------------------------------

  private onTimer(): void {
    if (!this.running || !this.components.isRunning()) return;
    const now = this.components.runtime.now();
    this.core.setOwnKeys(this.storage.heldSegmentKeys());
    const due = this.core.summaryDue(this.peers(), now);
    if (due) {
      const payload = summaryCodec.encode(due.message);
      for (const peer of due.to) {
        this.counters.summariesSent += 1;
        this.components.notify(peer, routes.summary, payload).catch(() => this.core.forgetNeighbour(peer.id));
      }
    }
    // Held segments change without telling retrieval: look again at least every `summaryMinIntervalMs`.
    this.timer.armAt(Math.max(now + 1, Math.min(this.core.nextSummaryDeadlineMs(), now + this.options.summaryMinIntervalMs)));
  }
}

function dialable(holder: HostEntry, peer: PeerInfo): HostEntry {
  return peer.address ? { id: holder.id, host: peer.address.host, port: peer.address.port } : holder;
}

export type { KeywordResult, SearchCallOptions, Strategy };
