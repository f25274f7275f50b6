import { ProtocolError, type ButterError } from '../errors.js';
import type { Logger } from '../node/logger.js';
import { formatAddress, type Address, type Runtime, type TimerHandle } from '../runtime/types.js';
import type { HostQuality, KnownHost, KnownHosts } from './known-hosts.js';
import { exchangeAnswerCodec, exchangeRequestCodec, fromEntry, maxExchangeAnswerBytes, toExchanged, type ExchangedHost } from './messages.js';
import { decodeQuality, encodeQuality } from './quality.js';
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
}

export const defaultHostManagementOptions: HostManagementOptions = {
  refreshIntervalMs: 30_000,
  maxRefreshesPerSecond: 0.75,
  refreshTimeoutMs: 5_000,
  maxConcurrentRefreshes: 4,
  randomAcceptanceProbability: 0.05,
  exchangeIntervalMs: 2_000,
  exchangeSampleSize: 8,
};

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
  private refreshTimer: TimerHandle | undefined;
  private refreshTimerAt = Infinity;
  private exchangeTimer: TimerHandle | undefined;
  private exchangeInFlight = false;
  private lastQueriedAt = 0;
  private running = false;
  private unsubscribers: Array<() => void> = [];

  constructor(
    private readonly components: HostManagerComponents,
    readonly options: HostManagementOptions,
  ) {}

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
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    this.unsubscribers = [];
    this.refreshTimer?.cancel();
    this.exchangeTimer?.cancel();
    this.refreshTimer = undefined;
    this.exchangeTimer = undefined;
    this.refreshTimerAt = Infinity;
  }

  /**
   * Offers a host to the list. `forced` (the host knows no one, or asks to be
   * introduced) always gets in. Returns the host evicted to make room, if any.
   */
  consider(candidate: Candidate, forced = false): { admitted: boolean; evicted: KnownHost | undefined } {
    const { knownHosts, selfId } = this.components;
    if (candidate.id === selfId) return { admitted: false, evicted: undefined };
    const existing = knownHosts.get(candidate.id);
    if (existing) {
      if (candidate.quality && !existing.quality) knownHosts.setQuality(candidate.id, candidate.quality);
      return { admitted: true, evicted: undefined };
    }
    const decision = admit(knownHosts.list(), knownHosts.capacity, candidate.quality, forced, {
      randomAcceptanceProbability: this.options.randomAcceptanceProbability,
      random: this.components.runtime.random,
    });
    if (!decision.admit) return { admitted: false, evicted: undefined };
    const host: KnownHost = candidate.quality ? { id: candidate.id, address: candidate.address, quality: candidate.quality } : { id: candidate.id, address: candidate.address };
    if (decision.evict) knownHosts.replace(decision.evict.id, host);
    else knownHosts.add(host);
    return { admitted: true, evicted: decision.evict };
  }

  /** Bootstrap: connects to `address`, learns who is there and its quality, and offers it. */
  async introduce(address: Address): Promise<boolean> {
    const id = await this.components.identify(address);
    const quality = decodeQuality(await this.components.request(address, hostQualityRoute, new Uint8Array(0), this.options.refreshTimeoutMs));
    return this.consider({ id, address, quality }).admitted;
  }

  /** A random sample of at most `count` known hosts, leaving out `exceptId`. */
  sample(count: number, exceptId?: string): KnownHost[] {
    const hosts = this.components.knownHosts.list().filter((host) => host.id !== exceptId);
    const random = this.components.runtime.random;
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
    let displaced: ExchangedHost | undefined;
    if (peer.address) {
      const forced = request.introduce || request.quality.knownHosts === 0;
      const { evicted } = this.consider({ id: peer.id, address: peer.address, quality: request.quality }, forced);
      if (evicted) displaced = toExchanged(evicted);
    }
    const hosts = this.sample(this.options.exchangeSampleSize, peer.id).map(toExchanged);
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
  }

  private nextRefreshAt(): number {
    const { runtime } = this.components;
    return runtime.now() + this.refreshPeriodMs() * (0.75 + 0.5 * runtime.random.float());
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
    for (const [id, dueAt] of this.refreshDueAt) if (!this.refreshing.has(id) && dueAt < earliest) earliest = dueAt;
    if (this.refreshing.size >= this.options.maxConcurrentRefreshes || earliest >= this.refreshTimerAt) return;
    this.refreshTimer?.cancel();
    this.refreshTimerAt = earliest;
    if (earliest === Infinity) return;
    const { runtime } = this.components;
    this.refreshTimer = runtime.setTimer(Math.max(0, earliest - runtime.now()), () => {
      this.refreshTimerAt = Infinity;
      this.refreshTimer = undefined;
      this.refreshDue();
    });
  }

  private refreshDue(): void {
    if (!this.running) return;
    const now = this.components.runtime.now();
    for (const [id, dueAt] of this.refreshDueAt) {
      if (this.refreshing.size >= this.options.maxConcurrentRefreshes) break;
      if (dueAt <= now && !this.refreshing.has(id)) void this.refresh(id);
    }
    this.scheduleRefresh();
  }

  private async refresh(id: string): Promise<void> {
    const { knownHosts } = this.components;
    const host = knownHosts.get(id);
    if (!host) return;
    this.refreshing.add(id);
    try {
      const answer = await this.components.request(host.address, hostQualityRoute, new Uint8Array(0), this.options.refreshTimeoutMs);
      const quality = decodeQuality(answer);
      if (this.running && knownHosts.get(id) === host) {
        knownHosts.setQuality(id, quality);
        this.refreshDueAt.set(id, this.nextRefreshAt());
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

  private scheduleExchange(): void {
    if (!this.running) return;
    const { runtime } = this.components;
    const delayMs = this.options.exchangeIntervalMs * (0.5 + runtime.random.float());
    this.exchangeTimer = runtime.setTimer(delayMs, () => {
      this.exchangeTimer = undefined;
      this.exchangeIfUseful();
      this.scheduleExchange();
    });
  }

  /** Below capacity: learn more peers. Unlisted for a while: ask a known host to take this node in. */
  private exchangeIfUseful(): void {
    const { knownHosts, runtime } = this.components;
    if (this.exchangeInFlight || knownHosts.size === 0) return;
    const unreferenced = runtime.now() - this.lastQueriedAt > this.refreshPeriodMs() * unreferencedAfterRefreshIntervals;
    if (!unreferenced && knownHosts.size >= knownHosts.capacity) return;
    if (unreferenced) this.lastQueriedAt = runtime.now();
    const [peer] = this.sample(1);
    if (peer) void this.exchange(peer, unreferenced);
  }

  private async exchange(peer: KnownHost, introduce: boolean): Promise<void> {
    this.exchangeInFlight = true;
    try {
      const request = exchangeRequestCodec.encode({ quality: this.components.localQuality(), introduce });
      const bytes = await this.components.request(peer.address, peerExchangeRoute, request, this.options.refreshTimeoutMs);
      if (bytes.byteLength > maxExchangeAnswerBytes) throw new ProtocolError(`peer-exchange answer of ${bytes.byteLength} bytes`);
      const answer = exchangeAnswerCodec.decode(bytes);
      if (!this.running) return;
      // The displaced host lost a node that listed it; this node takes over, so no one is left unknown.
      if (answer.displaced) this.consider(fromEntry(answer.displaced), true);
      // Second-hand hosts only fill free room: evicting for them could leave someone known by no one.
      for (const entry of answer.hosts) {
        if (this.components.knownHosts.size >= this.components.knownHosts.capacity) break;
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
