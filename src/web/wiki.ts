import type { ButterNode } from '../node/node.js';
import { blockKeyOf, parseContentId } from '../storage/block.js';
import type { GroupSnapshot } from '../storage/membership.js';
import type { StorageService } from '../storage/service.js';
import { authorOfKeywords } from '../storage/authorship.js';
import { InvalidArgumentError } from '../errors.js';
import { articleFormat, articleKeywords, decodeArticle, encodeArticle, maxBodyLength, maxTitleLength, nameOfTitle, storageNameOf, type ArticleRecord } from './article.js';
import {
  holdsReplyCodec,
  holdsRequestCodec,
  listReplyCodec,
  listRequestCodec,
  maxGroupsPerReply,
  maxHoldingsPerReply,
  maxHops,
  maxSearchWords,
  maxSummariesPerReply,
  wikiRoutes,
  type ArticleSummary,
  type GroupSummary,
  type Holding,
} from './wiki-messages.js';

export type WikiNode = ButterNode<{ storage: StorageService }>;

/** One version of an article, with the content id it is stored under and that of the newest version of the article. */
export type Article = ArticleRecord & { id: string; latest: string };

export type { Holding };

export interface WikiOptions {
  /** Known hosts one node asks, and passes a list, search or holders query on to. */
  peersAsked: number;
  /** Times a query is passed on (1 to `maxHops`): the hosts known by the hosts this node knows, and so on. */
  hops: number;
  /** Time one node waits for the answers of one hop; a query passed on h times waits (h + 1) × this. */
  hopTimeoutMs: number;
  /** Versions followed by one history at most (an older version is not found, nor deleted, past this). */
  maxHistory: number;
  /** Milliseconds since the epoch, for a version's date (the runtime's clock is monotonic, with no origin to show). */
  wallClockMs: () => number;
}

export const defaultWikiOptions: Omit<WikiOptions, 'wallClockMs'> = { peersAsked: 8, hops: 2, hopTimeoutMs: 700, maxHistory: 100 };

/** Decoded records of the contents this node holds (null: not an article), bounded. */
const maxRecordCache = 4_096;
/** Names resolved at once by a list (each resolve asks up to storage's fan-out of hosts). */
const resolveConcurrency = 8;
/** An article's stored size is bounded (title and body limits), so a larger content is not one. */
const maxArticleParts = 128;

/**
 * The wiki on a node's default services (docs/ARCHITECTURE.md, "The wiki"):
 * an article is its author's storage mutable name `wiki/<name>`; publish and
 * edit are `storage.update` of it, the newest version is found with
 * `resolveName` and every version by id with `findContent`, and a delete is a
 * storage `delete` (signed tombstone) of every version. The author is the
 * node's storage key. Which articles exist is asked of the nodes that hold
 * them (`wiki.list`), and which nodes hold one (`wiki.holds`). Construct
 * before `spawn`: it registers those routes.
 */
export class Wiki {
  private readonly options: WikiOptions;
  private readonly records = new Map<string, ArticleRecord | null>();
  private readonly random;

  constructor(
    private readonly node: WikiNode,
    options: Partial<WikiOptions> & Pick<WikiOptions, 'wallClockMs'>,
  ) {
    this.options = { ...defaultWikiOptions, ...options };
    this.random = node.runtime.random.fork('wiki');
    if (!Number.isInteger(this.options.hops) || this.options.hops < 0 || this.options.hops > maxHops) throw new InvalidArgumentError(`hops is an integer from 0 to ${maxHops}`);
    node.route(wikiRoutes.list, async (_self, payload, context) => {
      const { words, hops } = listRequestCodec.decode(payload);
      return listReplyCodec.encode({ articles: (await this.summariesAround(words, hops, context.peer.id)).slice(0, maxSummariesPerReply) });
    });
    node.route(wikiRoutes.holds, async (_self, payload, context) => {
      const { contentId, hops } = holdsRequestCodec.decode(payload);
      return holdsReplyCodec.encode({ holdings: (await this.holdingsAround(contentId, hops, context.peer.id)).slice(0, maxHoldingsPerReply) });
    });
  }

  get nodeId(): string {
    return this.node.id;
  }

  /** This node's author key (hex), as articles name their author. */
  get authorKey(): string {
    return Buffer.from(this.node.services.storage.authorKey).toString('hex');
  }

  /** A new article; its name comes from the title, and this author may have one live article of a name. */
  async publish(title: string, body: string): Promise<Article> {
    const checked = checkTitle(title);
    const name = nameOfTitle(checked);
    if ((await this.versions(this.authorKey, name, 1)).length > 0) throw new InvalidArgumentError(`you have an article named ${name} already: edit it`);
    return this.update({ name, title: checked, body: checkBody(body) });
  }

  /** The next version of the article whose newest version is `latestId`; only its author may. */
  async edit(latestId: string, title: string, body: string): Promise<Article> {
    const latest = await this.ownVersion(latestId, 'change');
    if (latest.latest !== latestId) throw new InvalidArgumentError('a newer version of this article exists: edit that one');
    return this.update({ name: latest.name, title: checkTitle(title), body: checkBody(body), previous: latestId });
  }

  /**
   * Deletes the article of version `id` by its author: a storage delete (signed
   * tombstone) of every version, so holders drop their copies and refuse them
   * again while the tombstones live. Resolves with the versions deleted.
   */
  async remove(id: string): Promise<string[]> {
    const version = await this.ownVersion(id, 'delete');
    const versions = await this.versions(version.author, version.name, this.options.maxHistory);
    for (const { id: versionId } of versions) {
      await this.node.services.storage.delete(versionId);
      this.records.delete(versionId);
    }
    return versions.map((each) => each.id);
  }

  /**
   * One version, found anywhere in the network, when it is on its author's
   * history: the newest version their signed name record points at, or one
   * the chain of `previous` links reaches from it. Undefined otherwise (not
   * found, deleted, not an article, or not by the author it names).
   */
  async read(id: string): Promise<Article | undefined> {
    if (!parseContentId(id)) throw new InvalidArgumentError(`invalid article id ${JSON.stringify(id)}`);
    const claimed = await this.record(id);
    if (!claimed) return undefined;
    return (await this.versions(claimed.author, claimed.name, this.options.maxHistory, id)).find((version) => version.id === id);
  }

  /** The versions from `id` back to the first, newest first; empty when `id` is not on its author's history. */
  async history(id: string): Promise<Article[]> {
    if (!parseContentId(id)) throw new InvalidArgumentError(`invalid article id ${JSON.stringify(id)}`);
    const claimed = await this.record(id);
    const versions = claimed ? await this.versions(claimed.author, claimed.name, this.options.maxHistory) : [];
    const index = versions.findIndex((version) => version.id === id);
    return index < 0 ? [] : versions.slice(index);
  }

  /** The latest version of every article held here or within `hops` of here; with words, those whose latest version has them all. */
  async list(words: readonly string[] = []): Promise<ArticleSummary[]> {
    const summaries = await this.summariesAround(searchWords(words.join(' ')), this.options.hops);
    const byArticle = new Map<string, ArticleSummary[]>();
    for (const summary of summaries) {
      const article = `${summary.author}/${summary.name}`;
      byArticle.set(article, [...(byArticle.get(article) ?? []), summary]);
    }
    // Holders' answers are claims: the newest version is the one the author's signed name record points at.
    const newest: ArticleSummary[] = [];
    const articles = [...byArticle.values()];
    for (let start = 0; start < articles.length; start += resolveConcurrency) {
      await Promise.all(
        articles.slice(start, start + resolveConcurrency).map(async (versions) => {
          const { author, name } = versions[0] as ArticleSummary;
          const head = await this.node.services.storage.resolveName(Buffer.from(author, 'hex'), storageNameOf(name)).catch(() => undefined);
          const version = versions.find((summary) => summary.id === head?.contentId);
          if (version?.matches) newest.push(version);
        }),
      );
    }
    return newest.sort((a, b) => a.title.localeCompare(b.title));
  }

  /** The nodes holding blocks of `id`, here or within `hops` of here, each with its view of the groups. */
  async holders(id: string): Promise<Holding[]> {
    if (!parseContentId(id)) throw new InvalidArgumentError(`invalid article id ${JSON.stringify(id)}`);
    return (await this.holdingsAround(id, this.options.hops)).sort((a, b) => a.holder.localeCompare(b.holder));
  }

  private async summariesAround(words: string[], hops: number, askedBy?: string): Promise<ArticleSummary[]> {
    const summaries = new Map<string, ArticleSummary>();
    for (const summary of this.heldSummaries(words)) summaries.set(summary.id, summary);
    if (hops > 0) {
      const request = listRequestCodec.encode({ words, hops: hops - 1 });
      await this.askPeers(hops, askedBy, async (peer, timeoutMs) => {
        for (const summary of listReplyCodec.decode(await this.node.request(peer, wikiRoutes.list, request, { timeoutMs })).articles) {
          if (summaries.size < maxSummariesPerReply) summaries.set(summary.id, summary);
        }
      });
    }
    return [...summaries.values()];
  }

  private async holdingsAround(contentId: string, hops: number, askedBy?: string): Promise<Holding[]> {
    const holdings = new Map<string, Holding>();
    const own = this.groupsOf(contentId);
    if (own.length > 0) holdings.set(this.node.id, { holder: this.node.id, groups: own });
    if (hops > 0) {
      const request = holdsRequestCodec.encode({ contentId, hops: hops - 1 });
      await this.askPeers(hops, askedBy, async (peer, timeoutMs) => {
        for (const holding of holdsReplyCodec.decode(await this.node.request(peer, wikiRoutes.holds, request, { timeoutMs })).holdings) {
          if (holdings.size < maxHoldingsPerReply) holdings.set(holding.holder, holding);
        }
      });
    }
    return [...holdings.values()];
  }

  /** The title of a version this node has read or holds, if any (labels in the network view). */
  knownTitle(id: string): string | undefined {
    return this.records.get(id)?.title;
  }

  private async update(fields: { name: string; title: string; body: string; previous?: string }): Promise<Article> {
    const record: ArticleRecord = { format: articleFormat, ...fields, author: this.authorKey, publishedAtMs: Math.floor(this.options.wallClockMs()) };
    const { contentId } = await this.node.services.storage.update(storageNameOf(record.name), encodeArticle(record), { keywords: articleKeywords(record), durable: true });
    this.remember(contentId, record);
    return { ...record, id: contentId, latest: contentId };
  }

  /**
   * The versions of (author, name), newest first: from the one its signed name
   * record points at, along `previous` while each is found and names the same
   * author and name, at most `limit`, stopping early at `until`.
   */
  private async versions(author: string, name: string, limit: number, until?: string): Promise<Article[]> {
    const head = await this.node.services.storage.resolveName(Buffer.from(author, 'hex'), storageNameOf(name));
    const versions: Article[] = [];
    let next = head?.contentId;
    while (next !== undefined && versions.length < limit) {
      const record = await this.record(next);
      if (!record || record.author !== author || record.name !== name) break;
      versions.push({ ...record, id: next, latest: head?.contentId as string });
      if (next === until) break;
      next = record.previous;
    }
    return versions;
  }

  /**
   * The decoded record of a content (storage checks its bytes against the id):
   * from the cache while this node holds it, else from the network, so that a
   * deleted version (its copies dropped) is not served from the cache.
   */
  private async record(id: string): Promise<ArticleRecord | undefined> {
    const cached = this.records.get(id);
    if (cached !== undefined && this.node.services.storage.get(blockKeyOf(id, 0))) return cached ?? undefined;
    const bytes = await this.node.services.storage.findContent(id);
    if (!bytes) return undefined; // not found now: perhaps on a later read
    const record = decodeArticle(bytes);
    this.remember(id, record ?? null);
    return record;
  }

  private async ownVersion(id: string, change: string): Promise<Article> {
    const version = await this.read(id);
    if (!version) throw new InvalidArgumentError(`no article ${id} found`);
    if (version.author !== this.authorKey) throw new InvalidArgumentError(`only the author of an article can ${change} it`);
    return version;
  }

  /** Asks up to `peersAsked` known hosts (not the one that asked), each given the time its own hops need. */
  private async askPeers(hops: number, askedBy: string | undefined, ask: (peerId: string, timeoutMs: number) => Promise<void>): Promise<void> {
    const peers = this.node.knownHosts.list().filter((host) => host.id !== askedBy);
    // A random few, so that repeated queries reach different parts of the network.
    for (let index = 0; index < Math.min(peers.length, this.options.peersAsked); index += 1) {
      const other = index + this.random.int(peers.length - index);
      [peers[index], peers[other]] = [peers[other] as (typeof peers)[number], peers[index] as (typeof peers)[number]];
    }
    peers.length = Math.min(peers.length, this.options.peersAsked);
    // A peer that is gone, slow or not a wiki node only costs its timeout.
    await Promise.all(peers.map((peer) => ask(peer.id, hops * this.options.hopTimeoutMs).catch(() => undefined)));
  }

  /** Summaries of the article versions whose blocks are all held here and whose author keyword names the author they claim. */
  private heldSummaries(words: readonly string[]): ArticleSummary[] {
    const lowered = words.map((word) => word.toLowerCase());
    const summaries: ArticleSummary[] = [];
    for (const group of this.node.services.storage.groups()) {
      if (summaries.length >= maxSummariesPerReply) break;
      if (!group.key.endsWith(':0')) continue;
      const id = group.key.slice(0, -2);
      const record = this.heldRecord(id);
      if (!record || record.author !== this.heldAuthor(id)) continue;
      const text = `${record.title}\n${record.body}`.toLowerCase();
      const { name, title, author, publishedAtMs, previous } = record;
      summaries.push({ id, name, title, author, publishedAtMs, matches: lowered.every((word) => text.includes(word)), ...(previous && { previous }) });
    }
    return summaries;
  }

  /** The author (hex) that the keywords of a held content name: the content id commits to them. */
  private heldAuthor(id: string): string | undefined {
    const keywords = this.node.services.storage.get(blockKeyOf(id, 0))?.keywords;
    const author = keywords && authorOfKeywords(keywords);
    return author && Buffer.from(author).toString('hex');
  }

  private heldRecord(id: string): ArticleRecord | undefined {
    const cached = this.records.get(id);
    if (cached !== undefined) return cached ?? undefined;
    const parts = parseContentId(id)?.parts ?? 0;
    const storage = this.node.services.storage;
    if (parts === 0 || parts > maxArticleParts) return undefined;
    const blocks = [];
    for (let part = 0; part < parts; part += 1) {
      const block = storage.get(blockKeyOf(id, part));
      if (!block) return undefined; // not all here yet: decided on a later ask
      blocks.push(block.data);
    }
    const record = decodeArticle(Buffer.concat(blocks));
    this.remember(id, record ?? null);
    return record;
  }

  private remember(id: string, record: ArticleRecord | null): void {
    if (this.records.size >= maxRecordCache && !this.records.has(id)) this.records.delete(this.records.keys().next().value as string);
    this.records.set(id, record);
  }

  private groupsOf(contentId: string): GroupSummary[] {
    const prefix = `${contentId}:`;
    return this.node.services.storage
      .groups()
      .filter((group) => group.key.startsWith(prefix))
      .slice(0, maxGroupsPerReply)
      .map(summariseGroup);
  }
}

export function summariseGroup(group: GroupSnapshot): GroupSummary {
  return { key: group.key, state: group.state, target: group.target, leader: group.leader, members: group.members.slice(0, 16).map(({ id, status }) => ({ id, status })) };
}

/** Up to `maxSearchWords` lower-case words of a query. */
export function searchWords(query: string): string[] {
  return query
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 0)
    .map((word) => word.slice(0, 64))
    .slice(0, maxSearchWords);
}

function checkTitle(title: string): string {
  const trimmed = title.trim();
  if (trimmed.length === 0 || trimmed.length > maxTitleLength) throw new InvalidArgumentError(`a title has 1 to ${maxTitleLength} characters`);
  return trimmed;
}

function checkBody(body: string): string {
  if (body.length > maxBodyLength) throw new InvalidArgumentError(`a body has at most ${maxBodyLength} characters`);
  return body;
}
