import { ContentDeletedError, InvalidArgumentError, SignatureError, StaleVersionError } from '../errors.js';
import type { PeerRef, RequestContext, ServiceComponents } from '../node/service.js';
import type { KeyValueDatabase } from '../runtime/disk.js';
import {
  authorKeyword,
  authorOfBlock,
  authorOfKeywords,
  authorshipReplyCodec,
  authorshipRoutes,
  NameTable,
  nameProblem,
  publishNameCodec,
  resolveNameCodec,
  resolveNameReplyCodec,
  sameKey,
  signNameRecord,
  signTombstone,
  tombstoneCodec,
  TombstoneTable,
  verifyNameRecord,
  verifyTombstone,
  type NameRecord,
  type Refusal,
  type Tombstone,
} from './authorship.js';
import { contentIdOf, parseContentId, type Block } from './block.js';
import type { Candidate } from './candidates.js';
import type { MemberRecord } from './group-messages.js';

export interface AuthorshipOptions {
  /** How long a node keeps a tombstone (and refuses the content it deletes), from when it took it. */
  contentTombstoneLifetimeMs: number;
  /** Tombstones one node keeps at most (the oldest go first). */
  maxTombstones: number;
  /** Mutable names one node keeps the newest record of, at most (the one heard of longest ago goes first). */
  maxNameRecords: number;
}

export const defaultAuthorshipOptions: AuthorshipOptions = {
  contentTombstoneLifetimeMs: 7 * 24 * 3_600_000,
  maxTombstones: 4096,
  maxNameRecords: 4096,
};

/** Hosts a record or tombstone is pushed to beyond the content's group members, and hosts asked when resolving a name. */
export const maxAuthorshipFanOut = 64;

export interface UpdateOptions {
  keywords?: readonly string[];
  replicas?: number;
  durable?: boolean;
}

/** What the storage service lends the authorship layer: its store, its content and whom it knows. */
export interface AuthorshipHost {
  readonly components: ServiceComponents;
  store(data: Uint8Array, options: UpdateOptions): Promise<string>;
  findContent(contentId: string): Promise<Uint8Array | undefined>;
  /** A block of the content held here, if any (its keywords name the author). */
  heldBlock(contentId: string): Block | undefined;
  /** Alive members of the content's groups that this node is in. */
  holders(contentId: string): MemberRecord[];
  /** Leaves the content's groups and drops its blocks. */
  dropContent(contentId: string): void;
  candidates(): Candidate[];
  concurrency: number;
}

/**
 * Update and delete by the author (SPEC §5, docs/PROTOCOL.md "Authorship"): the adapter that
 * signs, checks, keeps and spreads name records and tombstones; authorship.ts holds the
 * formats, the signatures and the bounded tables.
 */
/** Where a node with a data directory keeps its name records and tombstones (`<dataDir>/authorship`), written through. */
export interface AuthorshipPersistence {
  names: KeyValueDatabase;
  tombstones: KeyValueDatabase;
}

export class AuthoredContent {
  readonly names: NameTable;
  readonly tombstones: TombstoneTable;
  private persistence: AuthorshipPersistence | undefined;

  constructor(
    private readonly host: AuthorshipHost,
    options: AuthorshipOptions,
  ) {
    this.names = new NameTable(options.maxNameRecords, {
      kept: (key, record) => this.persistence?.names.put(key, publishNameCodec.encode({ record })),
      forgot: (key) => this.persistence?.names.remove(key),
    });
    this.tombstones = new TombstoneTable(options.maxTombstones, options.contentTombstoneLifetimeMs, {
      kept: (contentId, tombstone) => this.persistence?.tombstones.put(contentId, tombstoneCodec.encode({ tombstone })),
      forgot: (contentId) => this.persistence?.tombstones.remove(contentId),
    });
  }

  /**
   * Takes back what an earlier run kept, checked again like input from a peer (a record that
   * no longer decodes or verifies is removed), then writes every change through. A tombstone
   * restored lives its whole lifetime again from now: the runtime's clock does not span restarts.
   */
  restore(persistence: AuthorshipPersistence): void {
    this.persistence = persistence;
    for (const { key, value } of persistence.names.entries()) {
      const record = decodeOrUndefined(() => publishNameCodec.decode(value).record);
      if (!record || this.takeNameRecord(record) === 'forged') persistence.names.remove(key);
    }
    for (const { key, value } of persistence.tombstones.entries()) {
      const tombstone = decodeOrUndefined(() => tombstoneCodec.decode(value).tombstone);
      if (!tombstone || tombstone.contentId !== key || this.takeTombstone(tombstone) === 'forged') persistence.tombstones.remove(key);
    }
  }

  /** Stops writing through (the service closes the environment). */
  detach(): void {
    this.persistence = undefined;
  }

  private get components(): ServiceComponents {
    return this.host.components;
  }

  registerRoutes(): void {
    const { route } = this.components;
    route(authorshipRoutes.publishName, (payload) => authorshipReplyCodec.encode(replyOf(this.takeNameRecord(publishNameCodec.decode(payload).record))));
    route(authorshipRoutes.resolveName, (payload) => this.onResolve(payload));
    route(authorshipRoutes.tombstone, (payload, context) => this.onTombstone(payload, context));
  }

  /** The live tombstone by the content's own author that covers this block's content, if any. */
  tombstoneFor(block: Block): Tombstone | undefined {
    return this.tombstones.covering(contentIdOf(block.contentHash, block.parts), authorOfBlock(block), this.components.runtime.now());
  }

  /** Throws ContentDeletedError when the author deleted this content and its tombstone lives here. */
  checkNotDeleted(contentId: string, keywords: readonly string[]): void {
    if (this.tombstones.covering(contentId, authorOfKeywords(keywords), this.components.runtime.now())) throw new ContentDeletedError(`content ${contentId} was deleted by its author`, contentId);
  }

  /**
   * Stores `data` as a new version of this node's mutable `name`: the content is authored
   * (its keywords name this node's key), and a name record with the next sequence number
   * goes to the content's group members and up to maxAuthorshipFanOut known hosts.
   */
  async update(name: string, data: Uint8Array, options: UpdateOptions = {}): Promise<NameRecord> {
    const problem = nameProblem(name);
    if (problem) throw new InvalidArgumentError(problem);
    const keywords = [...(options.keywords ?? []).filter((keyword) => !keyword.startsWith('author:')), authorKeyword(this.components.signer.publicKey)];
    const previous = this.names.get(this.components.signer.publicKey, name) ?? (await this.resolve(this.components.signer.publicKey, name));
    const contentId = await this.host.store(data, { ...options, keywords });
    const record = signNameRecord(this.components.signer, { name, sequence: (previous?.sequence ?? 0) + 1, contentId });
    throwOnRefusal(this.takeNameRecord(record), `name record ${name}`);
    await this.spread(contentId, authorshipRoutes.publishName, publishNameCodec.encode({ record }));
    return record;
  }

  /** The newest verified record of (author, name) that this node or the hosts it asks (up to maxAuthorshipFanOut) hold. */
  async resolve(author: Uint8Array, name: string): Promise<NameRecord | undefined> {
    const problem = nameProblem(name);
    if (problem) throw new InvalidArgumentError(problem);
    const payload = resolveNameCodec.encode({ author, name });
    const asked = this.host.candidates().slice(0, maxAuthorshipFanOut);
    await forEachInWaves(asked, this.host.concurrency, async (candidate) => {
      const { record } = resolveNameReplyCodec.decode(await this.components.request(candidate, authorshipRoutes.resolveName, payload));
      // A peer's answer counts only when it is the name asked for and signed by its author.
      if (record && record.name === name && sameKey(record.author, author) && verifyNameRecord(record)) this.names.accept(record);
    });
    return this.names.get(author, name);
  }

  /** The newest version of (author, name) and its bytes, or undefined when no version (or its content) is found. */
  async read(author: Uint8Array, name: string): Promise<{ record: NameRecord; data: Uint8Array } | undefined> {
    const record = await this.resolve(author, name);
    if (!record) return undefined;
    const data = await this.host.findContent(record.contentId);
    return data ? { record, data } : undefined;
  }

  /**
   * Deletes content this node authored: a signed tombstone is kept here and sent to the
   * content's group members and known hosts; each drops its copies and refuses the content
   * while the tombstone lives. Throws SignatureError when the content names another author.
   */
  async delete(contentId: string): Promise<Tombstone> {
    if (!parseContentId(contentId)) throw new InvalidArgumentError(`invalid content id ${JSON.stringify(contentId)}`);
    const block = this.host.heldBlock(contentId);
    if (block && !sameKey(authorOfBlock(block), this.components.signer.publicKey)) throw new SignatureError(`content ${contentId} was not authored by this node`);
    const tombstone = signTombstone(this.components.signer, contentId);
    const holders = this.host.holders(contentId);
    throwOnRefusal(this.takeTombstone(tombstone), `tombstone of ${contentId}`);
    await this.spread(contentId, authorshipRoutes.tombstone, tombstoneCodec.encode({ tombstone }), holders);
    return tombstone;
  }

  /** Sends a record or tombstone to one peer; throws SignatureError or StaleVersionError when it refuses it. */
  async publishTo(peer: PeerRef, item: { record: NameRecord } | { tombstone: Tombstone }): Promise<void> {
    const [route, payload, what] =
      'record' in item
        ? [authorshipRoutes.publishName, publishNameCodec.encode({ record: item.record }), `name record ${item.record.name}`]
        : [authorshipRoutes.tombstone, tombstoneCodec.encode({ tombstone: item.tombstone }), `tombstone of ${item.tombstone.contentId}`];
    const reply = authorshipReplyCodec.decode(await this.components.request(peer, route, payload));
    if (!reply.accepted) throwOnRefusal(reply.reason ?? 'forged', what);
  }

  /** Takes a record or tombstone handed in locally; throws SignatureError or StaleVersionError as a peer would refuse it. */
  accept(item: { record: NameRecord } | { tombstone: Tombstone }): void {
    if ('record' in item) throwOnRefusal(this.takeNameRecord(item.record), `name record ${item.record.name}`);
    else throwOnRefusal(this.takeTombstone(item.tombstone), `tombstone of ${item.tombstone.contentId}`);
  }

  /** Keeps a verified record newer than the one held; the refusal otherwise. */
  takeNameRecord(record: NameRecord): Refusal | undefined {
    if (!verifyNameRecord(record)) return 'forged';
    return this.names.accept(record);
  }

  /**
   * Keeps a verified tombstone and drops the content: refused as forged when a block held
   * here names another author (or none), so only the author deletes; one not covering held
   * content is kept too, and refuses only content that names the tombstone's author.
   */
  takeTombstone(tombstone: Tombstone): Refusal | undefined {
    if (!verifyTombstone(tombstone)) return 'forged';
    const block = this.host.heldBlock(tombstone.contentId);
    if (block && !sameKey(authorOfBlock(block), tombstone.author)) return 'forged';
    const refusal = this.tombstones.accept(tombstone, this.components.runtime.now());
    if (refusal) return refusal;
    if (block) this.host.dropContent(tombstone.contentId);
    return undefined;
  }

  private onResolve(payload: Uint8Array): Uint8Array {
    const { author, name } = resolveNameCodec.decode(payload);
    const record = this.names.get(author, name);
    return resolveNameReplyCodec.encode(record ? { record } : {});
  }

  private onTombstone(payload: Uint8Array, context: RequestContext): Uint8Array {
    const { tombstone } = tombstoneCodec.decode(payload);
    const refusal = this.takeTombstone(tombstone);
    if (refusal === 'forged') this.components.logger.debug({ peer: context.peer.id, contentId: tombstone.contentId }, 'refused a forged tombstone');
    return authorshipReplyCodec.encode(replyOf(refusal));
  }

  /** Pushes to the content's group members first, then known hosts, up to maxAuthorshipFanOut in all; refusals and failures are the peers' business. */
  private async spread(contentId: string, route: string, payload: Uint8Array, holders = this.host.holders(contentId)): Promise<void> {
    const targets = new Map<string, PeerRef>();
    for (const member of holders) targets.set(member.id, { id: member.id, address: { host: member.host, port: member.port } });
    for (const candidate of this.host.candidates()) {
      if (targets.size >= maxAuthorshipFanOut) break;
      if (!targets.has(candidate.id)) targets.set(candidate.id, { id: candidate.id, address: candidate.address });
    }
    await forEachInWaves([...targets.values()], this.host.concurrency, (peer) => this.components.request(peer, route, payload).then(() => undefined));
  }
}

function decodeOrUndefined<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch {
    return undefined;
  }
}

function replyOf(refusal: Refusal | undefined): { accepted: boolean; reason?: Refusal } {
  return refusal ? { accepted: false, reason: refusal } : { accepted: true };
}

function throwOnRefusal(refusal: Refusal | undefined, what: string): void {
  if (refusal === 'forged') throw new SignatureError(`${what} refused: its signature does not verify against the content's author`);
  if (refusal === 'stale') throw new StaleVersionError(`${what} refused: no newer than the one held (an older version or a replay)`);
}

/** Runs `body` on `limit` items at a time, every failure swallowed (peers that fail or refuse do not stop the rest). */
async function forEachInWaves<T>(items: readonly T[], limit: number, body: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += limit) {
    await Promise.all(items.slice(start, start + limit).map((item) => body(item).catch(() => undefined)));
  }
}
