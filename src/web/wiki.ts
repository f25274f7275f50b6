import type { ButterNode } from '../node/node.js';
import { blockKeyOf, parseContentId } from '../storage/block.js';
import type { GroupSnapshot } from '../storage/membership.js';
import type { StorageService } from '../storage/service.js';
import { InvalidArgumentError } from '../errors.js';
import { ArticleAuthor, articleKeywords, decodeArticle, encodeArticle, maxBodyLength, maxTitleLength, nameOfTitle, type ArticleRecord } from './article.js';
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

/** One version of an article, with the content id it is stored under. */
export type Article = ArticleRecord & { id: string };

export type { Holding };

export interface WikiOptions {
  /** Known hosts one node asks, and passes a list, search or holders query on to. */
  peersAsked: number;
  /** Times a query is passed on (1 to `maxHops`): the hosts known by the hosts this node knows, and so on. */
  hops: number;
  /** Time one node waits for the answers of one hop; a query passed on h times waits (h + 1) × this. */
  hopTimeoutMs: number;
  /** Versions followed by one history at most. */
  maxHistory: number;
  /** Milliseconds since the epoch, for a version's date (the runtime's clock is monotonic, with no origin to show). */
  wallClockMs: () => number;
}

export const defaultWikiOptions: Omit<WikiOptions, 'wallClockMs'> = { peersAsked: 8, hops: 2, hopTimeoutMs: 700, maxHistory: 100 };

/** Decoded records of the contents this node holds (null: not an article), bounded. */
const maxRecordCache = 4_096;
/** An article's stored size is bounded (title and body limits), so a larger content is not one. */
const maxArticleParts = 128;

/**
 * The wiki on a node's default services: every version is a content in
 * storage, found by id with `findContent`; which articles exist is asked of
 * the nodes that hold them (`wiki.list`), and which nodes hold one
 * (`wiki.holds`). Construct before `spawn`: it registers those routes.
 *
 * Today, over store and findContent: an edit stores a new version that links
 * the previous one, a delete stores a deletion version, search matches words
 * on the holders of the versions. With storage update/delete and retrieval
 * search the same methods map onto them (docs/ARCHITECTURE.md, "Wiki").
 */
export class Wiki {
  private readonly options: WikiOptions;
  private readonly records = new Map<string, ArticleRecord | null>();
  private readonly random;

  constructor(
    private readonly node: WikiNode,
    readonly author: ArticleAuthor,
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

  /** A new article; its name comes from the title. */
  publish(title: string, body: string): Promise<Article> {
    const checked = checkTitle(title);
    return this.store({ name: nameOfTitle(checked), title: checked, body: checkBody(body) });
  }

  /** A new version of the article whose latest version is `previousId`; only its author may. */
  async edit(previousId: string, title: string, body: string): Promise<Article> {
    const previous = await this.ownVersion(previousId);
    return this.store({ name: previous.name, title: checkTitle(title), body: checkBody(body), previous: previousId });
  }

  /** Marks the article deleted (a deletion version); only its author may. */
  async remove(previousId: string): Promise<Article> {
    const previous = await this.ownVersion(previousId);
    return this.store({ name: previous.name, title: previous.title, body: '', previous: previousId, deleted: true });
  }

  /** One version, found anywhere in the network; undefined when not found or not an article. */
  async read(id: string): Promise<Article | undefined> {
    if (!parseContentId(id)) throw new InvalidArgumentError(`invalid article id ${JSON.stringify(id)}`);
    const cached = this.records.get(id);
    if (cached) return { ...cached, id };
    const bytes = await this.node.services.storage.findContent(id);
    const record = bytes && decodeArticle(bytes);
    if (record) this.remember(id, record);
    return record ? { ...record, id } : undefined;
  }

  /** The versions from `id` back to the first, newest first, through versions of the same author. */
  async history(id: string): Promise<Article[]> {
    const versions: Article[] = [];
    let next: string | undefined = id;
    while (next !== undefined && versions.length < this.options.maxHistory) {
      const version = await this.read(next);
      if (!version || (versions.length > 0 && version.author !== versions[0]?.author)) break;
      versions.push(version);
      next = version.previous;
    }
    return versions;
  }

  /** The latest version of every article held here or within `hops` of here; with words, those whose latest version has them all. */
  async list(words: readonly string[] = []): Promise<ArticleSummary[]> {
    const summaries = await this.summariesAround(searchWords(words.join(' ')), this.options.hops);
    return latestVersions(summaries).filter((summary) => !summary.deleted && summary.matches);
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

  private async store(fields: { name: string; title: string; body: string; previous?: string; deleted?: true }): Promise<Article> {
    const record = this.author.sign({ ...fields, publishedAtMs: Math.floor(this.options.wallClockMs()) });
    const id = await this.node.services.storage.store(encodeArticle(record), { keywords: articleKeywords(record), durable: true });
    this.remember(id, record);
    return { ...record, id };
  }

  private async ownVersion(id: string): Promise<Article> {
    const version = await this.read(id);
    if (!version) throw new InvalidArgumentError(`no article ${id} found`);
    if (version.author !== this.author.publicKey) throw new InvalidArgumentError('only the author of an article can change it');
    if (version.deleted) throw new InvalidArgumentError('the article is deleted');
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

  /** Summaries of the article versions whose blocks are all held here. */
  private heldSummaries(words: readonly string[]): ArticleSummary[] {
    const lowered = words.map((word) => word.toLowerCase());
    const summaries: ArticleSummary[] = [];
    for (const group of this.node.services.storage.groups()) {
      if (summaries.length >= maxSummariesPerReply) break;
      if (!group.key.endsWith(':0')) continue;
      const id = group.key.slice(0, -2);
      const record = this.heldRecord(id);
      if (!record) continue;
      const text = `${record.title}\n${record.body}`.toLowerCase();
      const { name, title, author, publishedAtMs, previous, deleted } = record;
      summaries.push({ id, name, title, author, publishedAtMs, matches: lowered.every((word) => text.includes(word)), ...(previous && { previous }), ...(deleted && { deleted }) });
    }
    return summaries;
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

/** Per article (author and name), the version no other version of it replaces; the newest when two do not replace each other. */
export function latestVersions(summaries: readonly ArticleSummary[]): ArticleSummary[] {
  const replaced = new Set(summaries.map((summary) => `${summary.author}/${summary.previous ?? ''}`));
  const latest = new Map<string, ArticleSummary>();
  for (const summary of summaries) {
    if (replaced.has(`${summary.author}/${summary.id}`)) continue;
    const article = `${summary.author}/${summary.name}`;
    const current = latest.get(article);
    if (!current || summary.publishedAtMs > current.publishedAtMs) latest.set(article, summary);
  }
  return [...latest.values()].sort((a, b) => a.title.localeCompare(b.title));
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
