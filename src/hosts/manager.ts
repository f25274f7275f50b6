import { ProtocolError, type ButterError } from '../errors.js';
import type { Logger } from '../node/logger.js';
import { DeadlineTimer } from '../runtime/deadline-timer.js';
import { formatAddress, type Address, type Random, type Runtime, type TimerHandle } from '../runtime/types.js';
import type { HostQuality, KnownHost, KnownHosts } from './known-hosts.js';
import { exchangeAnswerCodec, exchangeRequestCodec, fromEntry, maxExchangeAnswerBytes, toExchanged, type ExchangedHost } from './messages.js';
import { decodeQuality, encodeQuality } from './quality.js';
import { RecentIds } from './recent-ids.js';
import { admit, classCountsOf, classOf, averagesOf, classStandardDeviation } from './selection.js';

export const hostQualityRoute = 'host-quality';
export const peerExchangeRoute = 'peer-exchange';

export interface HostManagementOptions {
  /** Every known host's quality is fetched again about this often (±25 % jitter), or less often, see below. */
  refreshIntervalMs: number;
  /**
   * Ceiling on refreshes this node starts per second: a long list is refreshed
   * more slowly, so maintenance traffic stays flat however much memory a node has.
   */
  maxRefreshesPerSecond: number;
  /** Timeout of one quality refresh; a host that does not answer in time is removed. */
  refreshTimeoutMs: number;
  /** Refreshes in flight at once. */
  maxConcurrentRefreshes: number;
  /** Chance that a newcomer is accepted at capacity whatever its class (SPEC §3). */
  randomAcceptanceProbability: number;
  /** While the list is not full, one peer exchange about this often (±50 % jitter). */
  exchangeIntervalMs: number;
  /** Hosts sent in one peer-exchange answer. */
  exchangeSampleSize: number;
  /**
   * Share of the list (rounded down) kept for hosts learned by shuffling with
   * random peers rather than through the LAN: these links cross multicast
   * domains and are re-made as nodes die, so the network stays one component.
   */
  farShare: number;
  /** One shuffle (a peer exchange that renews the far share) about this often (±50 % jitter), full list or not. */
  shuffleIntervalMs: number;
}

export const defaultHostManagementOptions: HostManagementOptions = {
  refreshIntervalMs: 30_000,
  maxRefreshesPerSecond: 0.75,
  refreshTimeoutMs: 5_000,
  maxConcurrentRefreshes: 4,
  randomAcceptanceProbability: 0.05,
  exchangeIntervalMs: 2_000,
  exchangeSampleSize: 8,
  farShare: 0.375,
  shuffleIntervalMs: 10_000,
};

/** Ids remembered as heard on the LAN's multicast group (oldest forgotten first). */
const maxLanIds = 1_024;

/**
 * A wake-up starts every refresh due within this share of the refresh period, as timer slack
 * does: with 8 hosts over a 30 s period, about 3 per wake-up instead of 1, and the ±25 % jitter
 * already spreads each host's refreshes that much. Early refreshes keep their due time as the
 * base of the next.
 */
const refreshSlackShare = 0.25;

/** The payload of a `host-quality` request: nothing (one shared array rather than one per refresh). */
const emptyPayload = new Uint8Array(0);

/** No quality request for this many refresh intervals: probably no one lists this node. */
const unreferencedAfterRefreshIntervals = 2.5;

/** What the manager needs from its node: a narrow view, so it can be tested and reasoned about alone. */
export interface HostManagerComponents {
  runtime: Runtime;
  knownHosts: KnownHosts;
  selfId: string;
  logger: Logger;
  localQuality(): HostQuality;
  request(address: Address, route: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Connects and returns the id the peer proved in its hello. */
  identify(address: Address): Promise<string>;
  onPeerFailure(listener: (address: Address, error: ButterError) => void): () => void;
}

export interface Candidate {
  id: string;
  address: Address;
  quality?: HostQuality;
}

export interface HostReport {
  id: string;
  address: Address;
  quality: HostQuality | undefined;
  /** 0..7 (bit 2 uptime, bit 1 storage, bit 0 known hosts above the list's average); undefined until the quality is known. */
  hostClass: number | undefined;
  /** Held in the far share (learned by shuffling, not through the LAN). */
  far: boolean;
}

export interface HostsReport {
  capacity: number;
  hosts: HostReport[];
  classCounts: number[];
  /** Population standard deviation of the class counts; lower is more diverse. */
  diversity: number;
}

/**
 * Keeps the known-host list alive and diverse: answers `host-quality` and
 * `peer-exchange`, refreshes every host's quality on a jittered schedule,
 * removes hosts that fail, applies peer selection, and learns peers from
 * known hosts until the list is full.
 */
export class HostManager {
  private readonly refreshDueAt = new Map<string, number>();
  private readonly refreshing = new Set<string>();
  private readonly refreshTimer: DeadlineTimer;
  private exchangeTimer: TimerHandle | undefined;
  private exchangeTimerAt = Infinity;
  private exchangeInFlight = false;
  private shuffleTimer: TimerHandle | undefined;
  private shuffleInFlight = false;
  /** Nodes heard on the multicast group: on this LAN, so never worth a far slot. Insertion-ordered, bounded. */
  private readonly lanIds = new RecentIds(maxLanIds);
  private lastQueriedAt = 0;
  private running = false;
  private unsubscribers: Array<() => void> = [];
  private readonly random: Random;

  constructor(
    private readonly components: HostManagerComponents,
    readonly options: HostManagementOptions,
  ) {
    this.refreshTimer = new DeadlineTimer(components.runtime, () => this.refreshDue());
    this.random = components.runtime.random.fork('hosts');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const { knownHosts, runtime } = this.components;
    this.lastQueriedAt = runtime.now();
    this.unsubscribers = [
      this.components.onPeerFailure((address, error) => this.failed(address, error)),
      knownHosts.onChange(() => this.listChanged()),
    ];
    for (const host of knownHosts.list()) this.refreshDueAt.set(host.id, host.quality ? this.nextRefreshAt() : runtime.now());
    this.scheduleRefresh();
    this.scheduleExchange();
    this.scheduleShuffle();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    this.unsubscribers = [];
    this.refreshTimer.cancel();
    this.exchangeTimer?.cancel();
    this.shuffleTimer?.cancel();
    this.exchangeTimer = undefined;
    this.shuffleTimer = undefined;
  }

  /** Discovery heard `id` on the LAN's multicast group. */
  heardOnLan(id: string): void {
    this.lanIds.add(id);
  }

  /** Distinct nodes heard on the LAN's group lately (at most 1,024): an estimate of the LAN's size. */
  get lanPeers(): number {
    return this.lanIds.size;
  }

  /** Slots of the far share: none in a list too short to spare one (e.g. a capacity of 1). */
  get farSlots(): number {
    return Math.floor(this.components.knownHosts.capacity * this.options.farShare);
  }

  /** No room left outside the far share: newcomers there go through peer selection. */
  get nearShareFull(): boolean {
    const { knownHosts } = this.components;
    return knownHosts.size - knownHosts.farCount >= knownHosts.capacity - this.farSlots;
  }

  /**
   * Offers a host to the list. `forced` (the host knows no one, or asks to be
   * introduced) always gets in. Returns the host evicted to make room, if any.
   * At capacity, peer selection (SPEC §3) runs over the hosts outside the far share.
   */
  consider(candidate: Candidate, forced = false): { admitted: boolean; evicted: KnownHost | undefined } {
    const { knownHosts, selfId } = this.components;
    if (candidate.id === selfId) return { admitted: false, evicted: undefined };
    const existing = knownHosts.get(candidate.id);
    if (existing) {
      if (candidate.quality && !existing.quality) knownHosts.setQuality(candidate.id, candidate.quality);
      return { admitted: true, evicted: undefined };
    }
    const host = asKnownHost(candidate);
    if (!this.nearShareFull) {
      knownHosts.add(host);
      return { admitted: true, evicted: undefined };
    }
    const decision = this.selectNear(candidate.quality, forced);
    if (!decision.admit || !decision.evict) return { admitted: false, evicted: undefined };
    knownHosts.replace(decision.evict.id, host);
    return { admitted: true, evicted: decision.evict };
  }

  /**
   * Takes `candidate` into the far share (reserved room: other hosts never
   * take it): into free room, else in place of `replacing` (a far host).
   * Returns whether it got in and whom it evicted.
   */
  adoptFar(candidate: Candidate, replacing?: KnownHost): { admitted: boolean; evicted: KnownHost | undefined } {
    const { knownHosts, selfId } = this.components;
    if (candidate.id === selfId || knownHosts.get(candidate.id) || this.lanIds.has(candidate.id) || this.farSlots === 0) {
      return { admitted: false, evicted: undefined };
    }
    const host: KnownHost = { ...asKnownHost(candidate), far: true };
    if (knownHosts.farCount < this.farSlots) {
      knownHosts.add(host);
      return { admitted: true, evicted: undefined };
    }
    if (!replacing?.far || knownHosts.get(replacing.id) !== replacing) return { admitted: false, evicted: undefined };
    knownHosts.replace(replacing.id, host);
    return { admitted: true, evicted: replacing };
  }

  private randomFarHost(): KnownHost | undefined {
    const far = this.components.knownHosts.list().filter((host) => host.far);
    return far.length > 0 ? far[this.random.int(far.length)] : undefined;
  }

  /** Peer selection at capacity among the hosts outside the far share. */
  private selectNear(quality: HostQuality | undefined, forced: boolean) {
    const near = this.components.knownHosts.list().filter((host) => !host.far);
    return admit(near, near.length, quality, forced, {
      randomAcceptanceProbability: this.options.randomAcceptanceProbability,
      random: this.random,
    });
  }

  /** Bootstrap: connects to `address`, learns who is there and its quality, and offers it. */
  async introduce(address: Address): Promise<boolean> {
    const id = await this.components.identify(address);
    const quality = decodeQuality(await this.components.request(address, hostQualityRoute, emptyPayload, this.options.refreshTimeoutMs));
    // A bootstrap address usually leads out of the LAN: the first far link.
    return this.adoptFar({ id, address, quality }).admitted || this.consider({ id, address, quality }).admitted;
  }

  /** A random sample of at most `count` known hosts, leaving out `exceptId`. */
  sample(count: number, exceptId?: string): KnownHost[] {
    const hosts = this.components.knownHosts.list().filter((host) => host.id !== exceptId);
    const random = this.random;
    for (let index = 0; index < Math.min(count, hosts.length); index += 1) {
      const other = index + random.int(hosts.length - index);
      [hosts[index], hosts[other]] = [hosts[other] as KnownHost, hosts[index] as KnownHost];
    }
    return hosts.slice(0, count);
  }

  /** Handler of `host-quality`: being asked is also how a node knows someone lists it. */
  answerQuality(): Uint8Array {
    this.lastQueriedAt = this.components.runtime.now();
    return encodeQuality(this.components.localQuality());
  }

  /** Handler of `peer-exchange`: considers the asker, answers a sample and whom it displaced. */
  answerExchange(payload: Uint8Array, peer: { id: string; address: Address | undefined }): Uint8Array {
    const request = exchangeRequestCodec.decode(payload);
    const shuffle = request.far === true;
    // Sampled before the asker is taken in. A shuffle is answered with far hosts first: they lead out of the asker's LAN more surely.
    const sampled = this.sample(this.options.exchangeSampleSize, peer.id);
    const hosts = (shuffle ? [...sampled.filter((host) => host.far), ...sampled.filter((host) => !host.far)] : sampled).map(toExchanged);
    let displaced: ExchangedHost | undefined;
    if (peer.address) {
      const candidate = { id: peer.id, address: peer.address, quality: request.quality };
      const forced = request.introduce || request.quality.knownHosts === 0;
      const { admitted, evicted } = shuffle ? this.adoptFar(candidate, this.randomFarHost()) : this.consider(candidate, forced);
      // The asker just proved it is alive and said its quality: no need to ask it again at once.
      if (admitted && this.refreshDueAt.has(peer.id) && !this.refreshing.has(peer.id)) this.refreshDueAt.set(peer.id, this.nextRefreshAt());
      if (evicted) displaced = toExchanged(evicted);
    }
    return exchangeAnswerCodec.encode(displaced ? { hosts, displaced } : { hosts });
  }

  report(): HostsReport {
    const { knownHosts } = this.components;
    const hosts = knownHosts.list();
    const averages = averagesOf(hosts.flatMap((host) => (host.quality ? [host.quality] : [])));
    const classCounts = classCountsOf(hosts);
    return {
      capacity: knownHosts.capacity,
      hosts: hosts.map((host) => ({
        id: host.id,
        address: host.address,
        quality: host.quality,
        hostClass: host.quality && averages ? classOf(host.quality, averages) : undefined,
        far: host.far === true,
      })),
      classCounts,
      diversity: classStandardDeviation(classCounts),
    };
  }

  private failed(address: Address, error: ButterError): void {
    const host = this.components.knownHosts.findByAddress(address);
    if (!host) return;
    this.components.logger.debug({ hostId: host.id, address: formatAddress(address), err: error }, 'known host failed; removed');
    this.components.knownHosts.remove(host.id);
  }

  /** Keeps the refresh schedule in step with the list, whoever changed it. */
  private listChanged(): void {
    if (!this.running) return;
    const { knownHosts, runtime } = this.components;
    for (const id of this.refreshDueAt.keys()) if (!knownHosts.get(id)) this.refreshDueAt.delete(id);
    // A new host is asked at once: it may have been learned second-hand, from a list that still holds the dead.
    for (const host of knownHosts.list()) if (!this.refreshDueAt.has(host.id)) this.refreshDueAt.set(host.id, runtime.now());
    this.scheduleRefresh();
    this.wakeExchange();
  }

  /** About one refresh period after `from` (now by default), jittered. */
  private nextRefreshAt(from = this.components.runtime.now()): number {
    return from + this.refreshPeriodMs() * (0.75 + 0.5 * this.random.float());
  }

  /** The refresh interval, stretched so that a full list costs at most `maxRefreshesPerSecond`. */
  private refreshPeriodMs(): number {
    const { knownHosts } = this.components;
    return Math.max(this.options.refreshIntervalMs, (knownHosts.capacity * 1000) / this.options.maxRefreshesPerSecond);
  }

  /** One timer, armed at the earliest due refresh. */
  private scheduleRefresh(): void {
    if (!this.running) return;
    let earliest = Infinity;
    // forEach rather than for-of: no [id, dueAt] array per entry on a path every refresh takes.
    this.refreshDueAt.forEach((dueAt, id) => {
      if (dueAt < earliest && !this.refreshing.has(id)) earliest = dueAt;
    });
    if (this.refreshing.size >= this.options.maxConcurrentRefreshes || earliest >= this.refreshTimer.armedAtMs) return;
    this.refreshTimer.armAt(earliest);
  }

  private refreshDue(): void {
    if (!this.running) return;
    const horizon = this.components.runtime.now() + this.refreshPeriodMs() * refreshSlackShare;
    this.refreshDueAt.forEach((dueAt, id) => {
      if (dueAt <= horizon && this.refreshing.size < this.options.maxConcurrentRefreshes && !this.refreshing.has(id)) void this.refresh(id);
    });
    this.scheduleRefresh();
  }

  private async refresh(id: string): Promise<void> {
    const { knownHosts } = this.components;
    const host = knownHosts.get(id);
    if (!host) return;
    const dueAt = this.refreshDueAt.get(id) ?? this.components.runtime.now();
    this.refreshing.add(id);
    try {
      const answer = await this.components.request(host.address, hostQualityRoute, emptyPayload, this.options.refreshTimeoutMs);
      const quality = decodeQuality(answer);
      if (this.running && knownHosts.get(id) === host) {
        knownHosts.setQuality(id, quality);
        // Started early (slack): count the period from when it was due, so hosts are not asked more often.
        this.refreshDueAt.set(id, this.nextRefreshAt(Math.max(dueAt, this.components.runtime.now())));
      }
    } catch (error) {
      // No answer, an error, or an invalid answer: the host is treated as failed.
      if (this.running && knownHosts.get(id)?.address === host.address) {
        this.components.logger.debug({ hostId: id, err: error }, 'quality refresh failed; host removed');
        knownHosts.remove(id);
      }
    } finally {
      this.refreshing.delete(id);
      this.scheduleRefresh();
    }
  }

  /**
   * Arms the exchange timer: about every `exchangeIntervalMs` while the near share has room;
   * with a full list, not before this node would count as unlisted (a full list has nothing to
   * learn, and waking every node every 2 s for nothing is most of a large network's timers).
   */
  private scheduleExchange(): void {
    if (!this.running) return;
    const { runtime } = this.components;
    const jitteredMs = this.options.exchangeIntervalMs * (0.5 + this.random.float());
    const delayMs = this.nearShareFull ? Math.max(jitteredMs, this.unreferencedAt() - runtime.now()) : jitteredMs;
    this.exchangeTimerAt = runtime.now() + delayMs;
    this.exchangeTimer = runtime.setTimer(delayMs, () => {
      this.exchangeTimer = undefined;
      this.exchangeIfUseful();
      this.scheduleExchange();
    });
  }

  /** The list lost a host while the exchange timer sleeps long: exchange again soon. */
  private wakeExchange(): void {
    if (!this.exchangeTimer || this.nearShareFull) return;
    const { runtime } = this.components;
    if (this.exchangeTimerAt - runtime.now() <= this.options.exchangeIntervalMs * 1.5) return;
    this.exchangeTimer.cancel();
    this.scheduleExchange();
  }

  /** When this node, not asked its quality since, would count as unlisted. */
  private unreferencedAt(): number {
    return this.lastQueriedAt + this.refreshPeriodMs() * unreferencedAfterRefreshIntervals;
  }

  /** Below capacity: learn more peers. Unlisted for a while: ask a known host to take this node in. */
  private exchangeIfUseful(): void {
    const { knownHosts, runtime } = this.components;
    if (this.exchangeInFlight || knownHosts.size === 0) return;
    const unreferenced = runtime.now() >= this.unreferencedAt();
    if (!unreferenced && this.nearShareFull) return;
    if (unreferenced) this.lastQueriedAt = runtime.now();
    const [peer] = this.sample(1);
    if (peer) void this.exchange(peer, unreferenced);
  }

  private scheduleShuffle(): void {
    if (!this.running || this.farSlots === 0) return;
    const { runtime } = this.components;
    const delayMs = this.options.shuffleIntervalMs * (0.5 + this.random.float());
    this.shuffleTimer = runtime.setTimer(delayMs, () => {
      this.shuffleTimer = undefined;
      if (!this.shuffleInFlight && this.components.knownHosts.size > 0) void this.shuffle();
      this.scheduleShuffle();
    });
  }

  /**
   * Renews far links (à la Cyclon): asks a far host (any host while there is
   * none) to take this node into its far share, adopts whom it displaced and
   * fills free far room from its answer. Far shares thus keep turning over and
   * every node keeps being known outside its LAN, however many of its old links died.
   */
  private async shuffle(): Promise<void> {
    const { knownHosts } = this.components;
    const peer = this.randomFarHost() ?? this.sample(1)[0];
    if (!peer) return;
    this.shuffleInFlight = true;
    try {
      const request = exchangeRequestCodec.encode({ quality: this.components.localQuality(), introduce: false, far: true });
      const answer = await this.askForHosts(peer, request);
      if (!this.running) return;
      // The answerer dropped it to take this node in: this node holds it instead, so it stays known.
      if (answer.displaced) {
        const displaced = fromEntry(answer.displaced);
        if (!this.adoptFar(displaced).admitted) this.consider(displaced, true);
      }
      // Free far room only: dropping a far host to make room could leave it known by no one.
      for (const entry of answer.hosts) {
        if (knownHosts.farCount >= this.farSlots) break;
        this.adoptFar(fromEntry(entry));
      }
    } catch (error) {
      if (!this.running) return;
      this.components.logger.debug({ hostId: peer.id, err: error }, 'shuffle failed; host removed');
      if (knownHosts.get(peer.id)?.address === peer.address) knownHosts.remove(peer.id);
    } finally {
      this.shuffleInFlight = false;
    }
  }

  private async askForHosts(peer: KnownHost, request: Uint8Array) {
    const bytes = await this.components.request(peer.address, peerExchangeRoute, request, this.options.refreshTimeoutMs);
    if (bytes.byteLength > maxExchangeAnswerBytes) throw new ProtocolError(`peer-exchange answer of ${bytes.byteLength} bytes`);
    return exchangeAnswerCodec.decode(bytes);
  }

  private async exchange(peer: KnownHost, introduce: boolean): Promise<void> {
    this.exchangeInFlight = true;
    try {
      const request = exchangeRequestCodec.encode({ quality: this.components.localQuality(), introduce });
      const answer = await this.askForHosts(peer, request);
      if (!this.running) return;
      // The displaced host lost a node that listed it; this node takes over, so no one is left unknown.
      if (answer.displaced) this.consider(fromEntry(answer.displaced), true);
      // Second-hand hosts only fill free room: evicting for them could leave someone known by no one.
      for (const entry of answer.hosts) {
        if (this.nearShareFull) break;
        this.consider(fromEntry(entry));
      }
    } catch (error) {
      if (!this.running) return;
      this.components.logger.debug({ hostId: peer.id, err: error }, 'peer exchange failed; host removed');
      if (this.components.knownHosts.get(peer.id)?.address === peer.address) this.components.knownHosts.remove(peer.id);
    } finally {
      this.exchangeInFlight = false;
    }
  }
}

function asKnownHost(candidate: Candidate): KnownHost {
  return candidate.quality ? { id: candidate.id, address: candidate.address, quality: candidate.quality } : { id: candidate.id, address: candidate.address };
}
