import { InvalidArgumentError, OverloadedError } from '../errors.js';
import type { RequestContext, ServiceComponents } from '../node/service.js';
import { DeadlineTimer } from '../runtime/deadline-timer.js';
import { blockKeyOf, parseContentId } from '../storage/block.js';
import { segmentRange } from '../storage/segment.js';
import type { StorageService } from '../storage/service.js';
import type { HostEntry } from '../transport/vocabulary.js';
import type { Peer } from './core.js';
import { keywordHitCodec, keywordQueryCodec, keywordRoutes, keywordTableCodec } from './keyword-messages.js';
import { defaultKeywordCoreOptions, defaultKeywordSearchOptions, KeywordSearchCore, maxSearchResults, rank, type IndexedContent, type KeywordQuerySend, type KeywordResult, type KeywordSearchOptions } from './keyword-search.js';
import { indexedWords, maxSearchWords, searchWords } from './keywords.js';
import { maxBudget, maxTtl } from './messages.js';

export interface SearchCallOptions extends Partial<KeywordSearchOptions> {
  /** Results wanted: the search ends as soon as it has this many (default and most `maxSearchResults`). */
  limit?: number;
  /** How long the search listens for hits (a flood cannot tell when it is over). */
  windowMs?: number;
  signal?: AbortSignal;
  /** Each new result, as it arrives (deduplicated by content id). */
  onResult?: (result: KeywordResult) => void;
  /**
   * Fetch the first block of each result from the node that named it and keep the result only
   * when the block verifies and its keywords index the matched words (a block proves its
   * keywords: they are inside its leaf hash). Costs one fetch per result.
   */
  verify?: boolean;
}

export const defaultSearchWindowMs = 2_000;

/**
 * Keyword search (issue 13 item 4), beside content retrieval in the retrieval
 * service: serves the keyword routes, sends this node's keyword table to its
 * neighbours, and runs `search` for the service.
 */
export class KeywordSearcher {
  private core: KeywordSearchCore;
  private readonly timer: DeadlineTimer;
  /** Running searches by query id: how to end one and how to hand it new results. */
  private readonly pending = new Map<string, { finish: (abortReason?: unknown) => void; deliver: (fresh: readonly KeywordResult[]) => void }>();
  private running = false;
  /** What `held()` found last time, by content id: only contents held still are kept. */
  private indexed = new Map<string, IndexedContent>();
  readonly counters = { queriesReceived: 0, hitsSent: 0, tablesSent: 0, tablesReceived: 0 };

  constructor(
    private readonly components: ServiceComponents,
    private readonly storage: () => StorageService,
  ) {
    this.core = new KeywordSearchCore(components.nodeId, components.random.fork('keywords'), defaultKeywordCoreOptions);
    this.timer = new DeadlineTimer(components.runtime, () => this.onTimer());
  }

  get activeSearches(): number {
    return this.core.activeSearches;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.core = new KeywordSearchCore(this.components.nodeId, this.components.random.fork('keywords'), defaultKeywordCoreOptions);
    this.components.route(keywordRoutes.query, (payload, context) => this.onQuery(payload, context));
    this.components.route(keywordRoutes.hit, (payload, context) => this.onHit(payload, context));
    this.components.route(keywordRoutes.table, (payload, context) => this.onTable(payload, context));
    this.timer.armAt(this.components.runtime.now() + defaultKeywordCoreOptions.tableMinIntervalMs);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.timer.cancel();
    for (const { finish } of [...this.pending.values()]) finish();
  }

  /**
   * Contents whose keywords hold one of `words` (normalised: keywords.ts), best
   * ranked first (most words matched). Each result names the nodes that hold it;
   * fetching it verifies it, keywords included (they are inside every leaf hash).
   */
  async search(words: readonly string[], options: SearchCallOptions = {}): Promise<KeywordResult[]> {
    options.signal?.throwIfAborted();
    const normalised = searchWords(words);
    if (normalised.length === 0) throw new InvalidArgumentError(`a search needs a word of at least 3 letters or digits (at most ${maxSearchWords} words are used)`);
    const limit = options.limit ?? maxSearchResults;
    const search: KeywordSearchOptions = { ttl: options.ttl ?? defaultKeywordSearchOptions.ttl, budget: options.budget ?? defaultKeywordSearchOptions.budget };
    if (!Number.isInteger(limit) || limit < 1 || limit > maxSearchResults) throw new InvalidArgumentError(`limit must be an integer from 1 to ${maxSearchResults}`);
    if (!Number.isInteger(search.ttl) || search.ttl < 1 || search.ttl > maxTtl) throw new InvalidArgumentError(`ttl must be an integer from 1 to ${maxTtl}`);
    if (!Number.isInteger(search.budget) || search.budget < 1 || search.budget > maxBudget) throw new InvalidArgumentError(`budget must be an integer from 1 to ${maxBudget}`);
    const windowMs = options.windowMs ?? defaultSearchWindowMs;
    if (!(windowMs > 0)) throw new InvalidArgumentError('windowMs must be positive');

    const now = this.components.runtime.now();
    const self = this.self();
    const started = this.core.startSearch(normalised, search, self, this.peers(), now);
    if (!started) throw new OverloadedError(`${defaultKeywordCoreOptions.maxActiveSearches} keyword searches are running already`);
    const results = new Map<string, KeywordResult>();
    let done = false;
    const accept = (result: KeywordResult) => {
      if (done || results.size >= limit) return;
      results.set(result.contentId, result);
      options.onResult?.(result);
    };
    const deliver = (fresh: readonly KeywordResult[]) => {
      for (const result of fresh) {
        if (!options.verify || result.holders[0]?.id === self.id) accept(result);
        else
          void this.proves(result).then((proven) => {
            if (!proven) return;
            accept(result);
            if (results.size >= limit) this.pending.get(started.id)?.finish();
          });
      }
    };
    // This node's own matches count like any other holder's.
    deliver(this.core.matchHeld(started.id, this.held(), self));
    return new Promise<KeywordResult[]>((resolve, reject) => {
      const finish = (abortReason?: unknown) => {
        done = true;
        timer.cancel();
        options.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(started.id);
        this.core.endSearch(started.id);
        if (abortReason === undefined) resolve(rank([...results.values()]));
        else reject(abortReason);
      };
      const onAbort = () => finish(options.signal?.reason);
      const timer = this.components.runtime.setTimer(windowMs, () => finish());
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(started.id, {
        finish,
        deliver: (fresh) => {
          deliver(fresh);
          if (results.size >= limit) finish();
        },
      });
      if (results.size >= limit) finish();
      else this.sendQueries(started.sends);
    });
  }

  /** True when the result's first holder serves its first block and the block's keywords index every matched word. */
  private async proves(result: KeywordResult): Promise<boolean> {
    const holder = result.holders[0];
    if (!holder) return false;
    const block = await this.storage()
      .fetch({ id: holder.id, address: { host: holder.host, port: holder.port } }, blockKeyOf(result.contentId, 0))
      .catch(() => undefined);
    if (!block) return false;
    const words = new Set(indexedWords(block.keywords));
    return result.matched.every((word) => words.has(word));
  }

  private self(): HostEntry {
    const address = this.components.listenAddress();
    return { id: this.components.nodeId, host: address.host, port: address.port };
  }

  private peers(): Peer[] {
    return this.components.knownHosts.list().map((host) => ({ id: host.id, address: host.address }));
  }

  /** The contents this node holds a segment of, with the words their keywords index. */
  private held(): IndexedContent[] {
    const storage = this.storage();
    const contents = new Map<string, IndexedContent>();
    for (const key of storage.heldSegmentKeys()) {
      const separator = key.lastIndexOf(':');
      const contentId = key.slice(0, separator);
      if (contents.has(contentId)) continue;
      // A content id is its hash: its words never change, so a block is read once per content held.
      const indexed = this.indexed.get(contentId);
      if (indexed) {
        contents.set(contentId, indexed);
        continue;
      }
      const parsed = parseContentId(contentId);
      if (!parsed) continue;
      const block = storage.get(blockKeyOf(contentId, segmentRange(parsed.parts, Number(key.slice(separator + 1))).first));
      if (block) contents.set(contentId, { contentId, words: new Set(indexedWords(block.keywords)) });
    }
    this.indexed = contents;
    return [...contents.values()];
  }

  private sendQueries(sends: readonly KeywordQuerySend[]): void {
    for (const { to, message } of sends) this.components.notify(to, keywordRoutes.query, keywordQueryCodec.encode(message)).catch(() => this.core.forgetNeighbour(to.id));
  }

  private onQuery(payload: Uint8Array, context: RequestContext): Uint8Array {
    const query = keywordQueryCodec.decode(payload);
    if (!this.running) return new Uint8Array(0);
    this.counters.queriesReceived += 1;
    if (context.peer.id === query.origin.id && context.peer.address) query.origin = { id: query.origin.id, host: context.peer.address.host, port: context.peer.address.port };
    const outcome = this.core.receiveQuery(context.peer.id, query, this.held(), this.self(), this.peers(), this.components.runtime.now());
    this.sendQueries(outcome.sends);
    if (outcome.hit) {
      this.counters.hitsSent += 1;
      this.components.notify(outcome.hit.to, keywordRoutes.hit, keywordHitCodec.encode(outcome.hit.message)).catch(() => undefined);
    }
    return new Uint8Array(0);
  }

  private onHit(payload: Uint8Array, context: RequestContext): Uint8Array {
    const hit = keywordHitCodec.decode(payload);
    const pending = this.pending.get(hit.id);
    if (!pending) return new Uint8Array(0);
    // The holder is whoever sent the hit, at the address its connection has (it may listen on 0.0.0.0).
    const address = context.peer.address ?? { host: hit.holder.host, port: hit.holder.port };
    const fresh = this.core.receiveHit({ ...hit, holder: { id: context.peer.id, host: address.host, port: address.port } });
    if (fresh && fresh.length > 0) pending.deliver(fresh);
    return new Uint8Array(0);
  }

  private onTable(payload: Uint8Array, context: RequestContext): Uint8Array {
    const table = keywordTableCodec.decode(payload);
    const address = context.peer.address;
    if (!this.running || !address) return new Uint8Array(0);
    if (this.core.receiveTable({ id: context.peer.id, address }, table, this.components.runtime.now())) this.counters.tablesReceived += 1;
    return new Uint8Array(0);
  }

  private onTimer(): void {
    if (!this.running || !this.components.isRunning()) return;
    const now = this.components.runtime.now();
    const words = new Set<string>();
    for (const content of this.held()) for (const word of content.words) words.add(word);
    this.core.setOwnWords(words);
    const due = this.core.tableDue(this.peers(), now);
    if (due) {
      const payload = keywordTableCodec.encode(due.message);
      for (const peer of due.to) {
        this.counters.tablesSent += 1;
        this.components.notify(peer, keywordRoutes.table, payload).catch(() => this.core.forgetNeighbour(peer.id));
      }
    }
    // Held contents change without telling retrieval: look again at least every `tableMinIntervalMs`.
    this.timer.armAt(Math.max(now + 1, Math.min(this.core.nextTableDeadlineMs(), now + defaultKeywordCoreOptions.tableMinIntervalMs)));
  }
}
