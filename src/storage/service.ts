import { join } from 'node:path';
import { DurableStoreError, InvalidArgumentError, InvalidConfigError, NodeStoppedError, ProtocolError, StorageFullError, TimeoutError } from '../errors.js';
import { checkOptions, optionTypes, type OptionSchemas } from '../node/options.js';
import type { FailedPeer, PeerRef, RequestContext, Service, ServiceComponents, ServiceFactory } from '../node/service.js';
import { Slots } from '../node/slots.js';
import { DeadlineTimer } from '../runtime/deadline-timer.js';
import type { KeyValueEnvironment } from '../runtime/disk.js';
import type { Address } from '../runtime/types.js';
import { blockKey, blockKeyOf, blockStorageBytes, joinContent, parseContentId, splitContent, verifyBlock, type Block } from './block.js';
import { parseSegmentKey, segmentBlockKeys, segmentCount, segmentKeyOf, segmentKeyOfBlockKey, segmentRange, segmentsOf, packSegment, unpackSegment } from './segment.js';
import { AuthoredContent, defaultAuthorshipOptions, type AuthorshipOptions, type UpdateOptions } from './authored-content.js';
import type { NameRecord, Tombstone } from './authorship.js';
import { barredIntervals, challengeCodec, challengeReplyCodec, challengeRoute, possessionDigest, PossessionChallenges, type ChallengeToSend, type HeldSegments } from './challenges.js';
import { createMemoryBlockStore, openDiskBlockStore, blockStoreDirectory, type BlockStore } from './block-store.js';
import type { Candidate } from './candidates.js';
import {
  announceCodec,
  fetchCodec,
  fetchReplyCodec,
  heartbeatCodec,
  maxReplicas,
  maxWalkHosts,
  offerCodec,
  offerReplyCodec,
  routes,
  shedCodec,
  walkCodec,
  walkReplyCodec,
  withdrawCodec,
  type MemberRecord,
} from './group-messages.js';
import { defaultMembershipOptions, GroupMembership, intervalDefaults, type GroupSnapshot, type MembershipOptions, type Recruitment } from './membership.js';
import { maxPersistedMembers, persistedGroupCodec, persistedView, type PersistedGroup } from './persisted-group.js';
import {
  chooseCandidates,
  directPlacementPlan,
  directPlacementShortfall,
  handOverPlan,
  placementConcurrency,
  recruitmentOutcome,
  recruitmentPlan,
  refillTargets,
  type OfferPlan,
} from './placement.js';

export interface StorageOptions extends MembershipOptions, AuthorshipOptions {
  /**
   * Timeout of one offer to a candidate, plus two seconds per MB offered (a segment is up to
   * 525 KB; one offer may be ahead of it); a dead candidate costs at most this before the next is tried.
   */
  offerTimeoutMs: number;
  /** Candidates tried per recruitment before giving up until the next retry. */
  maxOfferAttempts: number;
  /** Time a durable store waits for its replicas before failing. */
  durableTimeoutMs: number;
  /** Hosts visited by one exhaustive walk at most. */
  maxWalkVisits: number;
  /** Requests one walk keeps in flight. */
  walkConcurrency: number;
  /** Each peer sharing a group with this node is challenged to prove possession once per this interval (challenges.ts). */
  challengeIntervalMs: number;
}

/**
 * The storage service's defaults. `failureTimeoutMs`, `shedAfterMs` and
 * `recruitRetryMs` follow `heartbeatIntervalMs` (1.1 ×, 2 ×, 0.75 ×) unless given.
 */
export const defaultStorageOptions: StorageOptions = {
  ...defaultMembershipOptions,
  ...defaultAuthorshipOptions,
  offerTimeoutMs: 500,
  maxOfferAttempts: 12,
  durableTimeoutMs: 30_000,
  maxWalkVisits: 10_000,
  walkConcurrency: 8,
  challengeIntervalMs: 60_000,
};

const storageSchemas: OptionSchemas<StorageOptions> = {
  replicas: optionTypes.integer(1, maxReplicas),
  maxReplicas: optionTypes.integer(1, maxReplicas),
  heartbeatIntervalMs: optionTypes.positive(),
  failureTimeoutMs: optionTypes.positive(),
  palpitationChance: optionTypes.between(0, 1),
  tombstoneLifetimeMs: optionTypes.positive(),
  shedAfterMs: optionTypes.positive(),
  recruitRetryMs: optionTypes.positive(),
  queriesPerExtraReplica: optionTypes.positive(),
  popularityWindowMs: optionTypes.positive(),
  offerTimeoutMs: optionTypes.positive(),
  maxOfferAttempts: optionTypes.integer(1, 1_000),
  durableTimeoutMs: optionTypes.positive(),
  maxWalkVisits: optionTypes.integer(1),
  walkConcurrency: optionTypes.integer(1, 1_000),
  challengeIntervalMs: optionTypes.positive(),
  contentTombstoneLifetimeMs: optionTypes.positive(),
  maxTombstones: optionTypes.integer(1, 1_000_000),
  maxNameRecords: optionTypes.integer(1, 1_000_000),
};

export interface StoreOptions {
  keywords?: readonly string[];
  /** Replication of this content's groups; default the service's `replicas`. */
  replicas?: number;
  /**
   * Resolve only once `replicas` members hold every block (a durable write). When that
   * fails the store is rolled back and rejects with a DurableStoreError.
   */
  durable?: boolean;
  /** Called as each segment is placed (durable: once it has its replicas). */
  onProgress?: (progress: StoreProgress) => void;
}

export interface StoreProgress {
  contentId: string;
  blocksPlaced: number;
  blocks: number;
  segmentsPlaced: number;
  segments: number;
}

/** A host whose request failed is not offered blocks for this long. */
const unreachableForgetMs = 60_000;
/** Hosts met through storage traffic, on top of the known hosts, kept as recruitment candidates. */
const maxContacts = 256;
const maxUnreachable = 1024;
/** Hosts this node has drawn a stable recruitment preference for. */
const maxPreferences = 4096;
/** Delay after start before announcing to known hosts (bootstrap introductions run just after start). */
const announceDelayMs = 200;
/** The slowest transfer an offer is given time for, beyond `offerTimeoutMs`. */
const offerSlowestBytesPerSecond = 1_000_000;
/**
 * Offers out to one host at once: the rest wait their turn here, so that an offer's timeout
 * covers its own transfer and the one ahead of it, not a queue of them. Two keep the host
 * busy (one is verified while the next arrives). The waiting ones are bounded by the stores
 * (`placementConcurrency` segments each), leaves and recruitments running (one per group at a time).
 */
const offersInFlightPerHost = 2;
/** Segments placed at a time but not yet withdrawable, remembered at most (the oldest go first). */
const maxProvisional = 65_536;

/** What one store placed: the groups it made here, and the hosts that took segments with no room here. */
type Placements = { joined: Set<string>; elsewhere: Map<string, MemberRecord[]> };

/** A segment this node took from a placer, which may withdraw it until `untilMs` (a durable store rolling back). */
type Provisional = { placedBy: string; untilMs: number };

type DurableWaiter = { key: string; replicas: number; resolve: () => void; reject: (error: Error) => void };

/**
 * `storage(options)`: the Peer Content Group service (SPEC §5), for a node's
 * `services`. Options are checked here, so a bad one fails at once with an
 * `InvalidConfigError`. With the node's `dataDir`, blocks and group membership
 * live in LMDB under `<dataDir>/blocks` and a restarted node rejoins its groups.
 */
export function storage(options: Partial<StorageOptions> = {}): ServiceFactory<StorageService> {
  const interval = typeof options?.heartbeatIntervalMs === 'number' ? options.heartbeatIntervalMs : defaultStorageOptions.heartbeatIntervalMs;
  const checked = checkOptions('storage.', options, storageSchemas, { ...defaultStorageOptions, ...intervalDefaults(interval) });
  if (checked.maxReplicas < checked.replicas) {
    throw new InvalidConfigError(`storage.maxReplicas (${checked.maxReplicas}) must be at least storage.replicas (${checked.replicas})`);
  }
  return (components) => new StorageService(components, checked);
}

/**
 * The adapter around the membership core: it owns the block store, runs the
 * core on the node's runtime timer, sends what the core asks for, serves the
 * storage routes and offers the store/fetch/find API.
 */
export class StorageService implements Service {
  private storeInstance: BlockStore | undefined;
  private membershipInstance: GroupMembership | undefined;
  private challenges: PossessionChallenges | undefined;
  /** Polls the membership core at the deadline it reports. */
  private readonly timer: DeadlineTimer;
  private starting: Promise<void> | undefined;
  private leaving = false;
  private disposed = false;
  private readonly contacts = new Map<string, Address>();
  private readonly unreachableUntil = new Map<string, number>();
  /** This node's own random but stable order of hosts, so that its recruitments keep picking the same ones. */
  private readonly preferences = new Map<string, number>();
  private readonly durableWaiters = new Set<DurableWaiter>();
  /** Per host with offers out or waiting (removed when idle). */
  private readonly offerSlots = new Map<string, Slots>();
  /** In the order taken, so the expired ones are at the front. */
  private readonly provisional = new Map<string, Provisional>();
  private unsubscribePeerFailure: (() => void) | undefined;
  private unsubscribeClosedByPeer: (() => void) | undefined;
  /** Mutable names and tombstones (authored-content.ts). */
  private readonly authored: AuthoredContent;
  /** With a data directory: where `authored` keeps its records. */
  private authorshipEnvironment: KeyValueEnvironment | undefined;

  constructor(
    private readonly components: ServiceComponents,
    readonly options: StorageOptions,
  ) {
    this.timer = new DeadlineTimer(components.runtime, (deadlineMs) => this.onTimer(deadlineMs));
    this.authored = new AuthoredContent(
      {
        components,
        store: (data, storeOptions) => this.store(data, storeOptions),
        findContent: (contentId) => this.findContent(contentId),
        heldBlock: (contentId) => this.heldBlockOf(contentId),
        holders: (contentId) => this.heldSegmentKeysOf(contentId).flatMap((key) => this.membershipInstance?.aliveMembers(key) ?? []),
        dropContent: (contentId) => this.dropContent(contentId),
        candidates: () => this.candidatePool(),
        concurrency: options.walkConcurrency,
      },
      options,
    );
  }

  private get offerTimeoutMs(): number {
    return this.options.offerTimeoutMs;
  }

  get blocks(): BlockStore {
    if (!this.storeInstance) throw new NodeStoppedError('the storage overlay is not running (the node is starting or stopping)');
    return this.storeInstance;
  }

  private get membership(): GroupMembership {
    if (!this.membershipInstance) throw new NodeStoppedError('the storage overlay is not running (the node is starting or stopping)');
    return this.membershipInstance;
  }

  availableStorageBytes(): number {
    return this.storeInstance?.freeBytes() ?? this.components.memory.storageBytes;
  }

  /** Fellow group members: the node keeps their connections when it must make room. */
  usesPeer(peerId: string): boolean {
    return this.membershipInstance?.hasPeer(peerId) ?? false;
  }

  /** Registers the storage routes, opens the block store (on disk with the node's `dataDir`) and rejoins persisted groups. */
  async start(): Promise<void> {
    this.starting ??= this.open();
    await this.starting;
  }

  private async open(): Promise<void> {
    const { components } = this;
    this.leaving = false;
    this.disposed = false;
    components.route(routes.heartbeat, (payload, context) => this.onHeartbeat(payload, context));
    components.route(routes.offer, (payload, context) => this.onOffer(payload, context));
    components.route(routes.shed, (payload, context) => this.onShed(payload, context));
    components.route(routes.withdraw, (payload, context) => this.onWithdraw(payload, context));
    components.route(routes.fetch, (payload, context) => this.onFetch(payload, context));
    components.route(routes.walk, (payload, context) => this.onWalk(payload, context));
    components.route(routes.announce, (payload, context) => this.onAnnounce(payload, context));
    this.authored.registerRoutes();
    components.route(challengeRoute, (payload) => this.onChallenge(payload));
    this.unsubscribePeerFailure = components.onPeerFailure((peer) => this.onPeerFailure(peer));
    this.unsubscribeClosedByPeer = components.onConnectionClosedByPeer((peerId) => this.onClosedByPeer(peerId));
    const capacity = components.memory.storageBytes;
    const store = components.dataDir
      ? await openDiskBlockStore(components.runtime.disk, blockStoreDirectory(components.dataDir), capacity, { logger: components.logger })
      : createMemoryBlockStore(capacity);
    this.storeInstance = store;
    if (components.dataDir) {
      const environment = await components.runtime.disk.openKeyValue(join(components.dataDir, 'authorship'));
      this.authorshipEnvironment = environment;
      this.authored.restore({ names: environment.database('names'), tombstones: environment.database('tombstones') });
    }
    const now = components.runtime.now();
    const restored = this.restoredSegments(store);
    const incarnation = restored.reduce((highest, entry) => Math.max(highest, entry.record?.incarnation ?? 0), 0);
    this.membershipInstance = new GroupMembership(components.nodeId, components.random.fork('membership'), this.options, now, incarnation + 1);
    this.challenges = new PossessionChallenges(components.random.fork('challenges'), this.options.challengeIntervalMs, now);
    for (const { key, record } of restored) {
      // A restarted node rejoins with the views it persisted; members that moved on simply time out.
      this.membership.join(key, record?.replicas ?? this.options.replicas, persistedView(record), now);
    }
    components.runtime.setTimer(announceDelayMs, () => this.announce());
    this.schedule();
  }

  /** Graceful leave: every block goes to a host outside its group, then the groups hear this node left. */
  async leave(): Promise<void> {
    if (!this.membershipInstance || this.leaving || this.disposed) return;
    this.leaving = true;
    const keys = this.membership.keys().filter((key) => this.membership.has(key));
    await forEachLimited(keys, placementConcurrency, async (key) => {
      const blocks = this.segmentBlocksHeld(key);
      if (blocks) await this.handOver(key, blocks);
    });
    const now = this.components.runtime.now();
    for (const key of keys) this.membership.depart(key, now);
    await Promise.all(this.sendHeartbeats(this.membership.poll(now).heartbeats));
  }

  /** Stops maintenance and closes the block store (flushed to disk); `start` may open it again. */
  async stop(): Promise<void> {
    const starting = this.starting;
    if (!starting) return;
    this.starting = undefined;
    await starting.catch(() => undefined);
    this.unsubscribePeerFailure?.();
    this.unsubscribePeerFailure = undefined;
    this.unsubscribeClosedByPeer?.();
    this.unsubscribeClosedByPeer = undefined;
    this.disposed = true;
    this.timer.cancel();
    for (const waiter of this.durableWaiters) waiter.reject(new NodeStoppedError('the node stopped before the durable store completed'));
    this.durableWaiters.clear();
    const store = this.storeInstance;
    this.storeInstance = undefined;
    this.membershipInstance = undefined;
    this.challenges = undefined;
    this.authored.detach();
    const environment = this.authorshipEnvironment;
    this.authorshipEnvironment = undefined;
    await environment?.close().catch((error: unknown) => this.components.logger.warn({ err: error }, 'authorship store close failed'));
    await store?.close().catch((error: unknown) => this.components.logger.warn({ err: error }, 'block store close failed'));
  }

  /**
   * Stores `data`; returns its content id. Its segments are placed several at a time
   * (`placementConcurrency`), each in one offer per host. Durable: resolves once
   * `replicas` members hold every segment; otherwise rolls back and rejects with a
   * DurableStoreError naming the content id and the replicas reached.
   */
  async store(data: Uint8Array, options: StoreOptions = {}): Promise<string> {
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('data must be a Uint8Array');
    const replicas = options.replicas ?? this.options.replicas;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > this.options.maxReplicas) {
      throw new InvalidArgumentError(`replicas must be an integer from 1 to ${this.options.maxReplicas}`);
    }
    const durable = options.durable === true;
    const { contentId, blocks } = splitContent(data, options.keywords ?? []);
    this.authored.checkNotDeleted(contentId, options.keywords ?? []);
    const segments = segmentsOf(contentId, blocks);
    const progress: StoreProgress = { contentId, blocksPlaced: 0, blocks: blocks.length, segmentsPlaced: 0, segments: segments.length };
    const placements: Placements = { joined: new Set(), elsewhere: new Map() };
    try {
      await forEachLimited(segments, placementConcurrency, async (segment) => {
        await this.place(segment.key, segment.blocks, replicas, durable, placements);
        progress.blocksPlaced += segment.blocks.length;
        progress.segmentsPlaced += 1;
        options.onProgress?.({ ...progress });
      });
    } catch (error) {
      if (!durable || !this.membershipInstance || !(error instanceof TimeoutError || error instanceof StorageFullError)) throw error;
      const reached = this.rollBack(segments.map((segment) => segment.key), placements);
      throw new DurableStoreError(`durable store of ${contentId} rolled back: ${error.message}`, contentId, replicas, reached, { cause: error });
    }
    return contentId;
  }

  has(key: string): boolean {
    return this.storeInstance?.has(key) ?? false;
  }

  // ---- update and delete by the author (authored-content.ts) ---------------------------------------

  /** This node's author key (its identity's Ed25519 public key): readers name its mutable names by it. */
  get authorKey(): Uint8Array {
    return this.components.signer.publicKey;
  }

  /**
   * Stores `data` as the next version of this node's mutable `name` (authored by its key) and
   * spreads the signed name record; resolves with it. Throws InvalidArgumentError for a bad name.
   */
  update(name: string, data: Uint8Array, options: UpdateOptions = {}): Promise<NameRecord> {
    return this.authored.update(name, data, options);
  }

  /** The newest verified version of `author`'s `name` that this node or the hosts it asks know. */
  resolveName(author: Uint8Array, name: string): Promise<NameRecord | undefined> {
    return this.authored.resolve(author, name);
  }

  /** The newest verified version of `author`'s `name` and its content. */
  readName(author: Uint8Array, name: string): Promise<{ record: NameRecord; data: Uint8Array } | undefined> {
    return this.authored.read(author, name);
  }

  /** Deletes content this node authored (a signed tombstone); throws SignatureError for content by another author. */
  delete(contentId: string): Promise<Tombstone> {
    return this.authored.delete(contentId);
  }

  /** Sends a name record or tombstone to one peer; SignatureError or StaleVersionError when it refuses. */
  publishTo(peer: PeerRef, item: { record: NameRecord } | { tombstone: Tombstone }): Promise<void> {
    return this.authored.publishTo(peer, item);
  }

  /** Takes a name record as if a peer sent it; SignatureError (forged) or StaleVersionError (not newer). */
  acceptNameRecord(record: NameRecord): void {
    this.authored.accept({ record });
  }

  /** Takes a tombstone as if a peer sent it; SignatureError (forged, or not by the content's author) or StaleVersionError (held). */
  acceptTombstone(tombstone: Tombstone): void {
    this.authored.accept({ tombstone });
  }

  /** Segment keys of `contentId` whose groups this node is in. */
  private heldSegmentKeysOf(contentId: string): string[] {
    const parsed = parseContentId(contentId);
    const membership = this.membershipInstance;
    if (!parsed || !membership) return [];
    const keys: string[] = [];
    for (let segment = 0; segment < segmentCount(parsed.parts); segment += 1) {
      const key = segmentKeyOf(contentId, segment);
      if (membership.has(key)) keys.push(key);
    }
    return keys;
  }

  /** The first block of any segment of `contentId` held here. */
  private heldBlockOf(contentId: string): Block | undefined {
    const parsed = parseContentId(contentId);
    if (!parsed || !this.storeInstance) return undefined;
    for (let segment = 0; segment < segmentCount(parsed.parts); segment += 1) {
      const block = this.storeInstance.get(blockKeyOf(contentId, segmentRange(parsed.parts, segment).first));
      if (block) return block;
    }
    return undefined;
  }

  /** A tombstone took the content: this node leaves its groups (the members hear it) and drops every block. */
  private dropContent(contentId: string): void {
    const now = this.components.runtime.now();
    for (const key of this.heldSegmentKeysOf(contentId)) this.membership.depart(key, now);
    const parsed = parseContentId(contentId);
    for (let segment = 0; parsed && segment < segmentCount(parsed.parts); segment += 1) {
      const key = segmentKeyOf(contentId, segment);
      this.provisional.delete(key);
      this.dropSegment(key);
    }
    this.schedule(true);
  }

  get(key: string): Block | undefined {
    return this.storeInstance?.get(key);
  }

  /** Milliseconds since each peer alive in a group with this node was last heard (see `GroupMembership.heartbeatLagsMs`). */
  heartbeatLagsMs(): number[] {
    return this.membershipInstance?.heartbeatLagsMs(this.components.runtime.now()) ?? [];
  }

  /** The groups this node belongs to, with their state, leader and view. */
  groups(): GroupSnapshot[] {
    return this.membershipInstance?.snapshot() ?? [];
  }

  /** The segments (`<content id>:<segment>`) this node holds whole, as their groups' members: what retrieval summarises. */
  heldSegmentKeys(): string[] {
    const membership = this.membershipInstance;
    if (!membership || this.leaving) return [];
    return membership.keys().filter((key) => membership.has(key));
  }

  /** The other alive members of segment `key`'s group, when this node holds it (a hit names them). */
  holdersOf(key: string): MemberRecord[] | undefined {
    const membership = this.membershipInstance;
    if (!membership || this.leaving || !membership.has(key)) return undefined;
    return membership.aliveMembers(key);
  }

  /**
   * A hit for segment `key` was served here to peer `requesterId` (a block fetched, or a
   * retrieval query answered): it feeds the group's popularity, once per requester per
   * popularity window (SPEC §5).
   */
  servedHit(key: string, requesterId: string): void {
    this.membershipInstance?.recordHit(key, requesterId, this.components.runtime.now());
  }

  /** Asks one peer for a block; the reply is verified against the key. */
  async fetch(peer: PeerRef, key: string): Promise<Block | undefined> {
    const reply = fetchReplyCodec.decode(await this.components.request(peer, routes.fetch, fetchCodec.encode({ key })));
    if (!reply.block) return undefined;
    if (blockKey(reply.block) !== key || !verifyBlock(reply.block)) throw new ProtocolError(`peer answered ${key} with a block that does not verify`);
    return reply.block;
  }

  /**
   * Exhaustive network walk (until the retrieval overlay replaces it): visits
   * hosts breadth-first from the known hosts, asking which parts of the
   * content each holds and whom it knows; fetches missing parts as they turn
   * up. Undefined when the walk ends before every part is found.
   */
  async findContent(contentId: string): Promise<Uint8Array | undefined> {
    const parsed = parseContentId(contentId);
    if (!parsed) throw new InvalidArgumentError(`invalid content id ${JSON.stringify(contentId)}`);
    const found = new Map<number, Block>();
    for (let part = 0; part < parsed.parts; part += 1) {
      const block = this.storeInstance?.get(blockKeyOf(contentId, part));
      if (block) found.set(part, block);
    }
    const queue: Candidate[] = this.candidatePool();
    const visited = new Set<string>([this.components.nodeId, ...queue.map((candidate) => candidate.id)]);
    const maxVisits = this.options.maxWalkVisits;
    let visits = 0;
    const visit = async (candidate: Candidate) => {
      const reply = walkReplyCodec.decode(await this.components.request(candidate, routes.walk, walkCodec.encode({ contentId }), { timeoutMs: this.offerTimeoutMs }));
      for (const part of reply.parts) {
        if (part >= parsed.parts || found.has(part)) continue;
        const block = await this.fetch(candidate.address, blockKeyOf(contentId, part));
        if (block) found.set(part, block);
      }
      for (const host of reply.hosts) {
        if (visited.has(host.id)) continue;
        visited.add(host.id);
        queue.push({ id: host.id, address: { host: host.host, port: host.port } });
      }
    };
    const concurrency = this.options.walkConcurrency;
    // Breadth-first in waves of `concurrency` hosts, bounded by `maxVisits`.
    while (found.size < parsed.parts && queue.length > 0 && visits < maxVisits && this.components.isRunning()) {
      const wave = queue.splice(0, Math.min(concurrency, maxVisits - visits));
      visits += wave.length;
      await Promise.all(wave.map((candidate) => visit(candidate).catch(() => undefined)));
    }
    return found.size === parsed.parts ? joinContent([...found.values()]) : undefined;
  }

  // ---- placement ---------------------------------------------------------

  /** One segment: held here and recruited for, or (no room here) offered straight to other hosts, the first of which leads its group. */
  private async place(key: string, blocks: Block[], replicas: number, durable: boolean, placements: Placements): Promise<void> {
    if (this.blocks.putAll(blocks)) {
      const now = this.components.runtime.now();
      if (!this.membership.has(key)) {
        this.membership.join(key, replicas, [], now);
        placements.joined.add(key);
      }
      this.persist(key);
      const waiter = durable ? this.waitForReplicas(key, replicas) : undefined;
      this.schedule(true);
      await waiter;
      return;
    }
    const plan = directPlacementPlan(this.rankedCandidates(new Set([this.components.nodeId]), segmentStorageBytes(blocks)), replicas, durable);
    await this.runOffers(plan, blocks, replicas);
    placements.elsewhere.set(key, [...plan.placed]);
    const shortfall = directPlacementShortfall(plan, replicas, durable, key);
    if (shortfall) throw new StorageFullError(shortfall);
  }

  /** The blocks of a segment held here, in part order; undefined unless every one is. */
  private segmentBlocksHeld(key: string): Block[] | undefined {
    const blocks: Block[] = [];
    for (const blockKeyText of segmentBlockKeys(key)) {
      const block = this.storeInstance?.get(blockKeyText);
      if (!block) return undefined;
      blocks.push(block);
    }
    return blocks.length > 0 ? blocks : undefined;
  }

  /**
   * A failed durable store: this node leaves the groups this store made and drops their
   * blocks, and every host it knows holds one of its segments (members, direct placements)
   * is asked to drop it too; a segment held here before the store stays. Returns the fewest
   * holders any segment had.
   */
  private rollBack(keys: readonly string[], placements: Placements): number {
    let reached = Infinity;
    const now = this.components.runtime.now();
    for (const key of keys) {
      const held = this.membership.has(key);
      const holders = [...(held ? this.membership.aliveMembers(key) : []), ...(placements.elsewhere.get(key) ?? [])];
      reached = Math.min(reached, holders.length + (held ? 1 : 0));
      if (held && !placements.joined.has(key)) continue;
      for (const holder of holders) this.withdrawFrom(holder, key);
      if (held) this.membership.depart(key, now);
      this.dropSegment(key);
    }
    this.schedule(true);
    return reached === Infinity ? 0 : reached;
  }

  private withdrawFrom(holder: MemberRecord, key: string): void {
    this.components.notify({ id: holder.id, address: { host: holder.host, port: holder.port } }, routes.withdraw, withdrawCodec.encode({ key })).catch(() => undefined);
  }

  private waitForReplicas(key: string, replicas: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: DurableWaiter = { key, replicas, resolve, reject };
      const timer = this.components.runtime.setTimer(this.options.durableTimeoutMs, () => {
        if (!this.durableWaiters.delete(waiter)) return;
        const holders = this.membership.aliveMembers(key).length + 1;
        reject(
          this.rankedCandidates(new Set([this.components.nodeId]), 0).length === 0
            ? new StorageFullError(`only ${holders} of ${replicas} replicas of ${key}: no host in reach had room`)
            : new TimeoutError(`only ${holders} of ${replicas} replicas of ${key} within the durable timeout`),
        );
      });
      waiter.resolve = () => {
        timer.cancel();
        resolve();
      };
      waiter.reject = (error) => {
        timer.cancel();
        reject(error);
      };
      this.durableWaiters.add(waiter);
      this.checkDurableWaiters();
    });
  }

  private checkDurableWaiters(): void {
    for (const waiter of this.durableWaiters) {
      if (this.membership.aliveMembers(waiter.key).length + 1 < waiter.replicas) continue;
      this.durableWaiters.delete(waiter);
      waiter.resolve();
    }
  }

  /** Offers a segment (its encoded `storage/offer`) to one candidate, in its turn; resolves with its incarnation when it joined, undefined when it refused. */
  private async offer(candidate: Candidate, payload: Uint8Array): Promise<number | undefined> {
    let slots = this.offerSlots.get(candidate.id);
    if (!slots) {
      slots = new Slots(offersInFlightPerHost);
      this.offerSlots.set(candidate.id, slots);
    }
    try {
      return await slots.run(() => this.sendOffer(candidate, payload));
    } finally {
      if (slots.idle && this.offerSlots.get(candidate.id) === slots) this.offerSlots.delete(candidate.id);
    }
  }

  private async sendOffer(candidate: Candidate, payload: Uint8Array): Promise<number | undefined> {
    // An offer ahead of this one failed while it waited: the host is not tried again now.
    if ((this.unreachableUntil.get(candidate.id) ?? 0) > this.components.runtime.now()) return undefined;
    // A whole segment is up to 530 KB: it gets the time to cross a slow link, behind the one other offer that may be ahead of it, on top.
    const timeoutMs = this.offerTimeoutMs + ((offersInFlightPerHost * payload.length) / offerSlowestBytesPerSecond) * 1000;
    const reply = offerReplyCodec.decode(await this.components.request(candidate, routes.offer, payload, { timeoutMs }));
    this.contacts.set(candidate.id, candidate.address);
    // A member that missed a delete learns it from the host it recruits (checked like any tombstone: by the content's own author).
    if (reply.tombstone) this.authored.takeTombstone(reply.tombstone);
    return reply.accepted ? reply.incarnation : undefined;
  }

  /**
   * Makes the plan's offers and feeds each outcome back until it is done (placement.ts
   * decides which, and how many at once); `stopWhen` ends it early (no new offers).
   */
  private runOffers(plan: OfferPlan, blocks: Block[], replicas: number, onAccepted?: (record: MemberRecord) => void, stopWhen?: () => boolean): Promise<void> {
    // Packed once; offers with the same view carry the same bytes, so a segment is encoded once per view, not once per candidate.
    const packed = packSegment(blocks);
    let encoded: { viewKey: string; payload: Uint8Array } | undefined;
    const payloadFor = (view: MemberRecord[]) => {
      const viewKey = view.map((member) => `${member.id}@${member.host}:${member.port}#${member.incarnation}`).join(',');
      if (encoded?.viewKey !== viewKey) encoded = { viewKey, payload: offerCodec.encode({ ...packed, replicas, view }) };
      return encoded.payload;
    };
    return new Promise<void>((resolve) => {
      const pump = () => {
        if (stopWhen?.()) plan.stop();
        for (const { candidate, view } of plan.next()) {
          void this.offer(candidate, payloadFor(view))
            .catch(() => undefined)
            .then((incarnation) => {
              try {
                if (incarnation === undefined) {
                  plan.refused();
                } else {
                  // The plan hears first, whether or not anyone listens (`onAccepted?.(plan.accepted(…))` would skip it).
                  const record = plan.accepted(candidate, incarnation);
                  onAccepted?.(record);
                }
              } finally {
                pump(); // whatever `onAccepted` did, the plan goes on (or ends)
              }
            });
        }
        if (plan.done) resolve();
      };
      pump();
    });
  }

  /** Recruits for a cold group: the plan's offers, each acceptance admitted at once; the outcome sets the retry. */
  private async recruit(recruitment: Recruitment): Promise<void> {
    const { key, view } = recruitment;
    const blocks = this.segmentBlocksHeld(key);
    let retryAfterMs = this.options.recruitRetryMs;
    if (blocks) {
      const exclude = new Set([this.components.nodeId, ...view.map((member) => member.id)]);
      const plan = recruitmentPlan(recruitment.needed, view, this.rankedCandidates(exclude, segmentStorageBytes(blocks), view), this.options);
      const replicas = this.membership.record(key)?.replicas ?? this.options.replicas;
      // The service may stop while offers are out: an acceptance then has no core to go to. A store rolled back meanwhile takes the segment back.
      const admit = (record: MemberRecord) => {
        if (this.membershipInstance?.has(key)) this.membershipInstance.admit(key, record, this.components.runtime.now());
        else if (this.membershipInstance) this.withdrawFrom(record, key);
      };
      await this.runOffers(plan, blocks, replicas, admit, () => this.leaving || !this.membershipInstance?.has(key));
      if (!this.membershipInstance) return;
      const outcome = recruitmentOutcome(plan, this.options);
      if (outcome.refill) await this.refillContacts(parseSegmentKey(key)?.contentId ?? '');
      this.persist(key);
      retryAfterMs = outcome.retryAfterMs;
    }
    // The refill above awaits too: the service may have stopped since.
    if (!this.membershipInstance) return;
    this.membership.recruitmentDone(key, this.components.runtime.now(), retryAfterMs);
    this.checkDurableWaiters();
    this.schedule(true);
  }

  /** Graceful leave of one segment: one host outside the group takes it (or the group is told and recruits). */
  private async handOver(key: string, blocks: Block[]): Promise<void> {
    const view = this.membership.aliveMembers(key);
    const exclude = new Set([this.components.nodeId, ...view.map((member) => member.id)]);
    const replicas = this.membership.record(key)?.replicas ?? this.options.replicas;
    await this.runOffers(handOverPlan(view, this.rankedCandidates(exclude, segmentStorageBytes(blocks), view), this.options), blocks, replicas);
  }

  /** Up to `count` hosts to tell a peer about: hosts heard from moments ago first, then a random share of the rest. */
  private sampleHosts(excludeId: string, count: number): Array<{ id: string; host: string; port: number }> {
    const pool = this.candidatePool().filter((candidate) => candidate.id !== excludeId);
    const random = this.components.random;
    for (let index = pool.length - 1; index > 0; index -= 1) {
      const other = random.int(index + 1);
      [pool[index], pool[other]] = [pool[other] as Candidate, pool[index] as Candidate];
    }
    pool.sort((a, b) => Number(b.live === true) - Number(a.live === true));
    return pool.slice(0, count).map((candidate) => ({ id: candidate.id, host: candidate.address.host, port: candidate.address.port }));
  }

  /**
   * Recruitment ran out of candidates: ask a few reachable hosts whom they
   * know (the walk route's host list) and keep the answers as contacts.
   */
  private async refillContacts(contentId: string): Promise<void> {
    const now = this.components.runtime.now();
    const asked = refillTargets(this.candidatePool(), (id) => (this.unreachableUntil.get(id) ?? 0) > now);
    await Promise.all(
      asked.map(async (candidate) => {
        const payload = walkCodec.encode({ contentId });
        const reply = walkReplyCodec.decode(await this.components.request(candidate, routes.walk, payload, { timeoutMs: this.offerTimeoutMs }));
        for (const host of reply.hosts) if (host.id !== this.components.nodeId && !this.contacts.has(host.id)) this.rememberContact(host.id, { host: host.host, port: host.port });
      }).map((request) => request.catch(() => undefined)),
    );
  }

  private candidatePool(): Candidate[] {
    const pool = new Map<string, Candidate>();
    for (const host of this.components.knownHosts.list()) pool.set(host.id, { id: host.id, address: host.address, host });
    for (const [id, address] of this.contacts) if (!pool.has(id)) pool.set(id, { id, address });
    if (this.membershipInstance) {
      for (const peer of this.membership.recentlyHeard(this.components.runtime.now())) {
        pool.set(peer.id, { ...pool.get(peer.id), id: peer.id, address: { host: peer.host, port: peer.port }, live: true });
      }
    }
    return [...pool.values()];
  }

  private rankedCandidates(exclude: Set<string>, neededBytes: number, view: MemberRecord[] = []): Candidate[] {
    const now = this.components.runtime.now();
    const zones = new Set<string>();
    for (const member of view) {
      const zone = this.components.knownHosts.get(member.id)?.quality?.zone;
      if (zone !== undefined) zones.add(zone);
    }
    const unreachable = (id: string) => (this.unreachableUntil.get(id) ?? 0) > now;
    return chooseCandidates(this.candidatePool(), { exclude, unreachable, neededBytes, zones, preference: (id) => this.preference(id) });
  }

  private preference(id: string): number {
    let value = this.preferences.get(id);
    if (value === undefined) {
      if (this.preferences.size >= maxPreferences) this.preferences.delete(this.preferences.keys().next().value as string);
      value = this.components.random.float();
      this.preferences.set(id, value);
    }
    return value;
  }

  // ---- timer and sending ---------------------------------------------------

  /** Polls the core now (when `immediately`, or when no timer is armed); otherwise the armed timer will. */
  private schedule(immediately = false): void {
    if (this.disposed || !this.membershipInstance) return;
    const now = this.components.runtime.now();
    if (!immediately && this.timer.armedAtMs !== Infinity) return; // the armed timer polls the core, which reports its next deadline
    this.timer.armAt(now);
  }

  private onTimer(deadlineMs: number): void {
    // Stopping (a graceful leave drives its own last poll) or stopped.
    if (this.disposed || !this.components.isRunning()) return;
    const now = this.components.runtime.now();
    const result = this.membership.poll(now, now - deadlineMs);
    // Only connections that delivered nothing for as long go: one carrying other traffic is not cut.
    for (const peer of result.silentPeers) this.components.disconnectIfSilent(peer.peerId, this.membership.options.failureTimeoutMs);
    void Promise.all(this.sendHeartbeats(result.heartbeats));
    for (const shedding of result.sheddings) {
      this.components.notify({ id: shedding.peerId, address: shedding.address }, routes.shed, shedCodec.encode({ key: shedding.key, incarnation: shedding.incarnation })).catch(() => undefined);
    }
    for (const recruitment of result.recruitments) void this.recruit(recruitment);
    this.checkDurableWaiters();
    const challenges = this.challenges;
    if (challenges) for (const challenge of challenges.poll(now, () => this.membership.peerSeats(), this.heldSegments)) void this.challenge(challenges, challenge);
    // At least a millisecond: a deadline that rounds to now must not spin the timer at one instant.
    this.timer.armAt(Math.max(Math.min(result.nextDeadlineMs, challenges?.nextDeadlineMs ?? Infinity), now + 1));
  }

  // ---- possession challenges (challenges.ts) ---------------------------------------------------

  /** What the challenge planner sees of the segments held here. */
  private readonly heldSegments: HeldSegments = {
    parts: (key) => {
      const parsed = parseSegmentKey(key);
      if (!parsed || !this.segmentBlocksHeld(key)) return undefined;
      const { first, count } = segmentRange(parsed.parts, parsed.segment);
      return Array.from({ length: count }, (_, index) => first + index);
    },
    blockLength: (key, part) => this.storeInstance?.get(blockKeyOf(parseSegmentKey(key)?.contentId ?? '', part))?.data.byteLength,
  };

  /**
   * Sends one challenge and judges the answer against this node's own copy: a wrong or empty
   * digest takes the peer's seat in that group; no answer within the failure timeout suspects
   * the peer (as any failed request does). Items whose block left this node meanwhile are not judged.
   */
  private async challenge(challenges: PossessionChallenges, challenge: ChallengeToSend): Promise<void> {
    const expected = challenge.items.map((item) => {
      const blockKeyText = blockKeyOf(parseSegmentKey(item.key)?.contentId ?? '', item.part);
      const block = this.storeInstance?.get(blockKeyText);
      return block && possessionDigest(challenge.nonce, blockKeyText, block.data, item.offset, item.length);
    });
    const peer = { id: challenge.peerId, address: challenge.address };
    let digests: Uint8Array[];
    try {
      const payload = challengeCodec.encode({ nonce: challenge.nonce, items: challenge.items });
      digests = challengeReplyCodec.decode(await this.components.request(peer, challengeRoute, payload, { timeoutMs: this.options.failureTimeoutMs })).digests;
    } catch {
      if (this.membershipInstance) this.membershipInstance.peerUnreachable(challenge.peerId, this.components.runtime.now());
      this.schedule(true);
      return;
    }
    const membership = this.membershipInstance;
    if (!membership || this.challenges !== challenges) return;
    const failed = challenge.items.filter((item, index) => {
      const want = expected[index];
      const got = digests[index];
      return want !== undefined && (got === undefined || Buffer.compare(want, got) !== 0);
    });
    if (failed.length === 0) {
      challenges.passed(challenge);
      return;
    }
    const now = this.components.runtime.now();
    for (const item of failed) membership.dispossess(item.key, challenge.peerId, now, barredIntervals * this.options.challengeIntervalMs);
    this.components.logger.debug({ peer: challenge.peerId, segments: failed.length }, 'a member failed a possession challenge and lost its seat');
    this.schedule(true);
  }

  /**
   * Answers a challenge from this node's blocks. A segment this node is a member of but no
   * longer holds whole (a disk lost blocks) is answered empty and left: its group recruits.
   */
  private onChallenge(payload: Uint8Array): Uint8Array {
    const { nonce, items } = challengeCodec.decode(payload);
    const digests = items.map((item) => {
      const parsed = parseSegmentKey(item.key);
      const range = parsed && segmentRange(parsed.parts, parsed.segment);
      const inSegment = range !== undefined && item.part >= range.first && item.part < range.first + range.count;
      const blockKeyText = blockKeyOf(parsed?.contentId ?? '', item.part);
      const block = inSegment ? this.storeInstance?.get(blockKeyText) : undefined;
      if (block && item.offset + item.length <= block.data.byteLength) return possessionDigest(nonce, blockKeyText, block.data, item.offset, item.length);
      if (inSegment && this.membershipInstance?.has(item.key) && !this.segmentBlocksHeld(item.key)) this.leaveLostSegment(item.key);
      return new Uint8Array(0);
    });
    return challengeReplyCodec.encode({ digests });
  }

  private leaveLostSegment(key: string): void {
    this.membership.depart(key, this.components.runtime.now());
    this.dropSegment(key);
    this.schedule(true);
  }

  private sendHeartbeats(heartbeats: ReturnType<GroupMembership['poll']>['heartbeats']): Promise<void>[] {
    return heartbeats.map((heartbeat) => this.components.notify({ id: heartbeat.peerId, address: heartbeat.address }, routes.heartbeat, heartbeatCodec.encode(heartbeat.message)).catch(() => undefined));
  }

  private announce(): void {
    if (this.disposed || !this.components.isRunning()) return;
    const payload = announceCodec.encode({ freeBytes: this.availableStorageBytes() });
    for (const host of this.components.knownHosts.list()) this.components.notify(host, routes.announce, payload).catch(() => undefined);
  }

  private onPeerFailure(peer: FailedPeer): void {
    const { id, address } = peer;
    if (id === undefined || !this.membershipInstance) return;
    // A member that restarted elsewhere is reached at its new address: the old one failing says nothing about it.
    const contact = this.contacts.get(id);
    if (contact && address && (contact.host !== address.host || contact.port !== address.port)) return;
    const now = this.components.runtime.now();
    this.markUnreachable(id, now);
    this.membership.peerUnreachable(id, now);
    this.schedule(true);
  }

  private onClosedByPeer(peerId: string): void {
    if (!this.membershipInstance) return;
    this.membership.peerClosedConnection(peerId, this.components.runtime.now());
    this.schedule(true);
  }

  private markUnreachable(id: string, nowMs: number): void {
    if (this.unreachableUntil.size >= maxUnreachable) {
      for (const [key, until] of this.unreachableUntil) if (until <= nowMs) this.unreachableUntil.delete(key);
      if (this.unreachableUntil.size >= maxUnreachable) this.unreachableUntil.delete(this.unreachableUntil.keys().next().value as string);
    }
    this.unreachableUntil.set(id, nowMs + unreachableForgetMs);
    this.contacts.delete(id);
  }

  private addContact(context: RequestContext): void {
    const { id, address } = context.peer;
    if (address) this.rememberContact(id, address);
  }

  private rememberContact(id: string, address: Address): void {
    this.contacts.delete(id);
    this.contacts.set(id, address);
    this.unreachableUntil.delete(id);
    if (this.contacts.size > maxContacts) this.contacts.delete(this.contacts.keys().next().value as string);
  }

  // ---- inbound routes ----------------------------------------------------------

  private onHeartbeat(payload: Uint8Array, context: RequestContext): Uint8Array {
    const message = heartbeatCodec.decode(payload);
    if (!this.membershipInstance || this.leaving) return new Uint8Array(0);
    this.addContact(context);
    const now = this.components.runtime.now();
    const outcome = this.membership.receiveHeartbeat(context.peer.id, context.peer.address, message, now);
    // The sender does not hear us: our connection to it may be half-open while its own to us works.
    if (outcome.senderMissesSelf) this.components.disconnectIfSilent(context.peer.id, this.membership.options.failureTimeoutMs);
    for (const key of outcome.shedFrom) this.dropSegment(key);
    this.checkDurableWaiters();
    this.schedule(outcome.shedFrom.length > 0);
    return new Uint8Array(0);
  }

  private onOffer(payload: Uint8Array, context: RequestContext): Uint8Array {
    const offer = offerCodec.decode(payload);
    const segment = unpackSegment(offer);
    if (!segment) throw new ProtocolError('the offer is not one whole segment within the limits, or does not verify against its content hash');
    const { key, blocks } = segment;
    this.addContact(context);
    const membership = this.membershipInstance;
    if (!membership || this.leaving || !this.components.isRunning()) return offerReplyCodec.encode({ accepted: false, reason: 'leaving', incarnation: 0 });
    const tombstone = this.authored.tombstoneFor(blocks[0] as Block);
    if (tombstone) return offerReplyCodec.encode({ accepted: false, reason: 'deleted', tombstone, incarnation: membership.incarnation });
    if (!membership.has(key)) {
      if (!this.blocks.putAll(blocks)) return offerReplyCodec.encode({ accepted: false, reason: 'full', incarnation: membership.incarnation });
      const now = this.components.runtime.now();
      const view = offer.view.filter((member) => member.id !== context.peer.id && member.id !== this.components.nodeId);
      if (context.peer.address) view.push({ id: context.peer.id, host: context.peer.address.host, port: context.peer.address.port, incarnation: 0 });
      membership.join(key, offer.replicas, view, now);
      this.rememberProvisional(key, context.peer.id, now);
      this.persist(key);
      this.schedule(true);
    }
    return offerReplyCodec.encode({ accepted: true, incarnation: membership.incarnation });
  }

  private onShed(payload: Uint8Array, context: RequestContext): Uint8Array {
    const { key } = shedCodec.decode(payload);
    if (this.membershipInstance?.shedBy(key, context.peer.id, this.components.runtime.now())) {
      this.dropSegment(key);
      this.schedule(true);
    }
    return new Uint8Array(0);
  }

  /**
   * A durable store rolling back takes a segment back: obeyed only while the segment is
   * provisional here (taken less than `durableTimeoutMs` + `offerTimeoutMs` ago) and only from the host that
   * placed it or an alive member of its group; the other members hear of it in turn.
   */
  private onWithdraw(payload: Uint8Array, context: RequestContext): Uint8Array {
    const { key } = withdrawCodec.decode(payload);
    const membership = this.membershipInstance;
    const now = this.components.runtime.now();
    const provisional = this.provisional.get(key);
    if (!membership || !provisional || provisional.untilMs < now || !membership.has(key)) return new Uint8Array(0);
    const members = membership.aliveMembers(key);
    if (provisional.placedBy !== context.peer.id && !members.some((member) => member.id === context.peer.id)) return new Uint8Array(0);
    this.provisional.delete(key);
    for (const member of members) if (member.id !== context.peer.id) this.withdrawFrom(member, key);
    membership.depart(key, now);
    this.dropSegment(key);
    this.schedule(true);
    return new Uint8Array(0);
  }

  private rememberProvisional(key: string, placedBy: string, nowMs: number): void {
    for (const [oldKey, entry] of this.provisional) {
      if (entry.untilMs >= nowMs && this.provisional.size < maxProvisional) break;
      this.provisional.delete(oldKey);
    }
    this.provisional.delete(key);
    // The author's durable timeout started before this join; an offer timeout covers the withdraw's way here.
    this.provisional.set(key, { placedBy, untilMs: nowMs + this.options.durableTimeoutMs + this.options.offerTimeoutMs });
  }

  private onFetch(payload: Uint8Array, context: RequestContext): Uint8Array {
    const { key } = fetchCodec.decode(payload);
    const block = this.storeInstance?.get(key);
    const segmentKey = block && segmentKeyOfBlockKey(key);
    if (segmentKey) this.servedHit(segmentKey, context.peer.id);
    return fetchReplyCodec.encode(block ? { block } : {});
  }

  private onWalk(payload: Uint8Array, context: RequestContext): Uint8Array {
    const { contentId } = walkCodec.decode(payload);
    const parsed = parseContentId(contentId);
    const parts: number[] = [];
    if (parsed && this.storeInstance) {
      for (let part = 0; part < parsed.parts && parts.length < 4096; part += 1) if (this.storeInstance.has(blockKeyOf(contentId, part))) parts.push(part);
    }
    const hosts = this.sampleHosts(context.peer.id, maxWalkHosts);
    return walkReplyCodec.encode({ parts, hosts });
  }

  private onAnnounce(payload: Uint8Array, context: RequestContext): Uint8Array {
    announceCodec.decode(payload);
    this.addContact(context);
    return new Uint8Array(0);
  }

  private dropSegment(key: string): void {
    for (const blockKeyText of segmentBlockKeys(key)) this.storeInstance?.delete(blockKeyText);
  }

  // ---- persistence -----------------------------------------------------------

  /** A group's record lives beside the first block of its segment. */
  private persist(key: string): void {
    const store = this.storeInstance;
    const record = this.membershipInstance?.record(key);
    const first = segmentBlockKeys(key)[0];
    if (!store || !record || first === undefined || !store.has(first)) return;
    store.setMeta(first, persistedGroupCodec.encode({ replicas: record.replicas, incarnation: this.membership.incarnation, view: record.view.slice(0, maxPersistedMembers) }));
  }

  /** The segments held whole at open, with their records; blocks of a segment held only in part (an offer cut short) are dropped. */
  private restoredSegments(store: BlockStore): Array<{ key: string; record: PersistedGroup | undefined }> {
    const segments = new Set<string>();
    for (const key of store.keys()) {
      const segmentKey = segmentKeyOfBlockKey(key);
      if (segmentKey) segments.add(segmentKey);
    }
    const restored: Array<{ key: string; record: PersistedGroup | undefined }> = [];
    for (const key of segments) {
      const keys = segmentBlockKeys(key);
      if (keys.every((blockKeyText) => store.has(blockKeyText))) restored.push({ key, record: this.readPersisted(store, keys[0] as string) });
      else for (const blockKeyText of keys) store.delete(blockKeyText);
    }
    return restored;
  }

  private readPersisted(store: BlockStore, key: string): PersistedGroup | undefined {
    const meta = store.getMeta(key);
    if (!meta) return undefined;
    try {
      return persistedGroupCodec.decode(meta);
    } catch {
      return undefined;
    }
  }
}

/** Runs `body` on `limit` items at a time; after a failure starts no more, waits for those running, then throws the first failure. */
async function forEachLimited<T>(items: readonly T[], limit: number, body: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await body(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

function segmentStorageBytes(blocks: readonly Block[]): number {
  return blocks.reduce((sum, block) => sum + blockStorageBytes(block), 0);
}

