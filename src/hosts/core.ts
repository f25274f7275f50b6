import type { FailedPeer } from '../transport/vocabulary.js';
import type { Address, Random } from '../runtime/types.js';
import { Admission, type Candidate, type HostsReport } from './admission.js';
import type { HostQuality, KnownHost, KnownHosts } from './known-hosts.js';
import { fromEntry, toExchanged, type ExchangeAnswer, type ExchangedHost, type ExchangeRequest } from './messages.js';
import { MaintenanceSchedule, type DeadlineSnapshot } from './schedule.js';

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
  /** While the node knows no host, its bootstrap addresses are tried again after this, then twice as long each time (±25 %). */
  bootstrapRetryMs: number;
  /** Ceiling of the bootstrap backoff. */
  maxBootstrapRetryMs: number;
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
  bootstrapRetryMs: 1_000,
  maxBootstrapRetryMs: 60_000,
};

/**
 * A wake-up starts every refresh due within this share of the refresh period, as timer slack
 * does: with 8 hosts over a 30 s period, about 3 per wake-up instead of 1, and the ±25 % jitter
 * already spreads each host's refreshes that much. Early refreshes keep their due time as the
 * base of the next.
 */
const refreshSlackShare = 0.25;

/** No quality request for this many refresh intervals: probably no one lists this node. */
const unreferencedAfterRefreshIntervals = 2.5;

/** A list that lost a host wakes a sleeping exchange only when it would sleep longer than this many exchange intervals. */
const exchangeWakeIntervals = 1.5;

/** Ask `address` for the quality of host `hostId` (`host-quality`). */
export interface RefreshAction {
  readonly kind: 'refresh';
  readonly hostId: string;
  readonly address: Address;
}

/** Send `request` to `host` on `peer-exchange`: to fill the list, or (with `introduce`) to be taken in. */
export interface ExchangeAction {
  readonly kind: 'exchange';
  readonly host: KnownHost;
  readonly request: ExchangeRequest;
}

/** Send `request` (with `far`) to `host` on `peer-exchange`: a shuffle that renews the far share. */
export interface ShuffleAction {
  readonly kind: 'shuffle';
  readonly host: KnownHost;
  readonly request: ExchangeRequest;
}

/** A request the adapter performs; it reports back once, by `refreshAnswered`, `exchangeAnswered` or `requestFailed`. */
export type HostAction = RefreshAction | ExchangeAction | ShuffleAction;

/** What the core reads from its node, synchronously and without I/O. */
export interface HostsLocal {
  readonly id: string;
  /** What this node says about itself: answered on `host-quality`, sent in peer exchanges. */
  quality(): HostQuality;
}

const none: readonly never[] = Object.freeze([]);

/**
 * Host management, sans I/O: keeps the known-host list alive and diverse. Inputs are
 * `now`, answers and failures of the requests it asked for, requests from peers and
 * list changes; outputs are the requests to perform (`handleTimeout`) and the next
 * deadline (`nextDeadline`). It reads no clock, arms no timer and awaits nothing;
 * randomness comes from the injected `Random`. The adapter (manager.ts) owns the
 * single timer and the requests.
 *
 * The schedule is one table of named deadlines (schedule.ts): each listed host's
 * quality refresh, the peer exchange (while the list has room, or when this node
 * seems unlisted) and the shuffle of the far share. Whoever edits the list, this
 * core included, the adapter reports it through `listChanged(now)`
 * (`KnownHosts.onChange`), which keeps the refresh table in step with the list.
 */
export class HostsCore {
  readonly admission: Admission;
  private readonly schedule: MaintenanceSchedule;
  /** The host an exchange is in flight to (one at a time). */
  private exchangingWith: KnownHost | undefined;
  /** The host a shuffle is in flight to (one at a time). */
  private shufflingWith: KnownHost | undefined;
  /** When a peer last asked this node's quality (the start counts as one). */
  private lastQueriedAt = 0;
  private running = false;

  constructor(
    private readonly knownHosts: KnownHosts,
    private readonly local: HostsLocal,
    readonly options: HostManagementOptions,
    private readonly random: Random,
  ) {
    this.admission = new Admission(knownHosts, local.id, options, random);
    this.schedule = new MaintenanceSchedule(options.maxConcurrentRefreshes);
  }

  /** Starts the schedule: hosts already listed are refreshed at once when their quality is unknown, else about a period from now. */
  start(now: number): void {
    if (this.running) return;
    this.running = true;
    this.lastQueriedAt = now;
    this.schedule.clearRefreshes();
    for (const host of this.knownHosts.list()) this.schedule.setRefresh(host.id, host.quality ? this.nextRefreshAt(now) : now);
    this.scheduleExchange(now);
    this.scheduleShuffle(now);
  }

  /** Stops the schedule; answers to requests still in flight are then only acknowledged. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.schedule.exchangeAt = Infinity;
    this.schedule.shuffleAt = Infinity;
  }

  /** When `handleTimeout` next has something to do; Infinity when stopped or nothing is pending. */
  nextDeadline(): number {
    return this.running ? this.schedule.next() : Infinity;
  }

  /** The table of deadlines as it stands (a copy). */
  deadlines(): DeadlineSnapshot {
    return this.schedule.snapshot();
  }

  /** Starts what is due at `now`: refreshes (with slack), a peer exchange, a shuffle. Returns the requests to perform. */
  handleTimeout(now: number): readonly HostAction[] {
    if (!this.running) return none;
    const actions: HostAction[] = [];
    if (this.schedule.earliestRefresh() <= now) this.startDueRefreshes(now, actions);
    if (this.schedule.exchangeAt <= now) {
      this.exchangeIfUseful(now, actions);
      this.scheduleExchange(now);
    }
    if (this.schedule.shuffleAt <= now) {
      this.shuffleIfUseful(actions);
      this.scheduleShuffle(now);
    }
    return actions.length > 0 ? actions : none;
  }

  /** The list gained or lost hosts (whoever changed it): a new host is asked at once, a gap wakes the exchange. */
  listChanged(now: number): void {
    if (!this.running) return;
    // Asked at once: a new host may have been learned second-hand, from a list that still holds the dead.
    this.schedule.syncRefreshes(this.knownHosts, now);
    this.wakeExchange(now);
  }

  /** A `host-quality` request this core asked for was answered (schema-checked by the adapter). */
  refreshAnswered(action: RefreshAction, quality: HostQuality, now: number): void {
    const refresh = this.schedule.finishRefresh(action.hostId);
    if (!refresh || !this.running || this.knownHosts.get(action.hostId) !== refresh.host) return;
    this.knownHosts.setQuality(action.hostId, quality);
    // Started early (slack): count the period from when it was due, so hosts are not asked more often.
    this.schedule.setRefresh(action.hostId, this.nextRefreshAt(Math.max(refresh.dueAt, now)));
  }

  /**
   * A `peer-exchange` this core asked for was answered (size- and schema-checked by the adapter).
   * An exchange takes in the displaced host (forced) and fills free room from the sample; a
   * shuffle puts them into the far share.
   */
  exchangeAnswered(action: ExchangeAction | ShuffleAction, answer: ExchangeAnswer): void {
    if (!this.finishExchange(action) || !this.running) return;
    if (action.kind === 'shuffle') this.shuffleAnswered(answer);
    else this.peerExchangeAnswered(answer);
  }

  /**
   * A request this core asked for failed: no answer in time, an error reply or an invalid
   * answer. The host asked is removed, unless it left or changed address meanwhile.
   * Returns the host removed, if any.
   */
  requestFailed(action: HostAction): KnownHost | undefined {
    let asked: KnownHost | undefined;
    if (action.kind === 'refresh') asked = this.schedule.finishRefresh(action.hostId)?.host;
    else if (this.finishExchange(action)) asked = action.host;
    if (!asked || !this.running || this.knownHosts.get(asked.id)?.address !== asked.address) return undefined;
    this.knownHosts.remove(asked.id);
    return asked;
  }

  /**
   * A request of this node failed elsewhere in the node: the host is removed,
   * found by id (by address when the failure names none), unless it has since
   * moved to another address (the failure says nothing about the new one).
   */
  peerFailed(peer: FailedPeer): KnownHost | undefined {
    const host = peer.id !== undefined ? this.knownHosts.get(peer.id) : peer.address && this.knownHosts.findByAddress(peer.address);
    if (!host) return undefined;
    if (peer.address && (host.address.host !== peer.address.host || host.address.port !== peer.address.port)) return undefined;
    this.knownHosts.remove(host.id);
    return host;
  }

  /** A peer asks this node's quality (`host-quality`): being asked is also how a node knows someone lists it. */
  qualityRequested(now: number): HostQuality {
    this.lastQueriedAt = now;
    return this.local.quality();
  }

  /**
   * A peer's `peer-exchange`: the asker is offered to the list (into the far share for a
   * shuffle); the answer is a sample of the list and the host displaced to take the asker in.
   * `peer.address` is unset when the asker accepts no connections: it is then not offered.
   */
  exchangeRequested(request: ExchangeRequest, peer: { id: string; address: Address | undefined }, now: number): ExchangeAnswer {
    const shuffle = request.far === true;
    // Sampled before the asker is taken in. A shuffle is answered with far hosts first: they lead out of the asker's LAN more surely.
    const sampled = this.admission.sample(this.options.exchangeSampleSize, peer.id);
    const hosts = (shuffle ? [...sampled.filter((host) => host.far), ...sampled.filter((host) => !host.far)] : sampled).map(toExchanged);
    let displaced: ExchangedHost | undefined;
    if (peer.address) {
      const candidate: Candidate = { id: peer.id, address: peer.address, quality: request.quality };
      const forced = request.introduce || request.quality.knownHosts === 0;
      const { admitted, evicted } = shuffle ? this.admission.adoptFar(candidate, this.admission.randomFarHost()) : this.admission.consider(candidate, forced);
      // The asker just proved it is alive and said its quality: no need to ask it again at once.
      if (admitted && this.schedule.refreshDue(peer.id) !== undefined && !this.schedule.isRefreshing(peer.id)) {
        this.schedule.setRefresh(peer.id, this.nextRefreshAt(now));
      }
      if (evicted) displaced = toExchanged(evicted);
    }
    return displaced ? { hosts, displaced } : { hosts };
  }

  report(): HostsReport {
    return this.admission.report();
  }

  /** The refresh interval, stretched so that a full list costs at most `maxRefreshesPerSecond`. */
  refreshPeriodMs(): number {
    return Math.max(this.options.refreshIntervalMs, (this.knownHosts.capacity * 1000) / this.options.maxRefreshesPerSecond);
  }

  /** Wakes for the earliest due refresh and starts every refresh due within a quarter period with it (timer slack). */
  private startDueRefreshes(now: number, actions: HostAction[]): void {
    const horizon = now + this.refreshPeriodMs() * refreshSlackShare;
    for (const id of this.schedule.refreshesDueBy(horizon)) {
      if (this.schedule.refreshesInFlight >= this.options.maxConcurrentRefreshes) break;
      const host = this.knownHosts.get(id);
      if (!host) continue;
      this.schedule.startRefresh(id, { host, dueAt: this.schedule.refreshDue(id) ?? now });
      actions.push({ kind: 'refresh', hostId: id, address: host.address });
    }
  }

  /** About one refresh period after `from`, jittered ±25 %. */
  private nextRefreshAt(from: number): number {
    return from + this.refreshPeriodMs() * (0.75 + 0.5 * this.random.float());
  }

  /**
   * The next exchange: about every `exchangeIntervalMs` (±50 %) while the near share has room;
   * with a full list, not before this node would count as unlisted (a full list has nothing to
   * learn, and waking every node every 2 s for nothing is most of a large network's timers).
   */
  private scheduleExchange(now: number): void {
    const jitteredMs = this.options.exchangeIntervalMs * (0.5 + this.random.float());
    const delayMs = this.admission.nearShareFull ? Math.max(jitteredMs, this.unreferencedAt() - now) : jitteredMs;
    this.schedule.exchangeAt = now + delayMs;
  }

  /** The list lost a host while the exchange sleeps long: exchange again soon. */
  private wakeExchange(now: number): void {
    if (this.admission.nearShareFull) return;
    if (this.schedule.exchangeAt - now <= this.options.exchangeIntervalMs * exchangeWakeIntervals) return;
    this.scheduleExchange(now);
  }

  /** When this node, not asked its quality since, would count as unlisted. */
  private unreferencedAt(): number {
    return this.lastQueriedAt + this.refreshPeriodMs() * unreferencedAfterRefreshIntervals;
  }

  /** Below capacity: learn more peers. Unlisted for a while: ask a known host to take this node in. */
  private exchangeIfUseful(now: number, actions: HostAction[]): void {
    if (this.exchangingWith || this.knownHosts.size === 0) return;
    const unreferenced = now >= this.unreferencedAt();
    if (!unreferenced && this.admission.nearShareFull) return;
    if (unreferenced) this.lastQueriedAt = now;
    const [peer] = this.admission.sample(1);
    if (!peer) return;
    this.exchangingWith = peer;
    actions.push({ kind: 'exchange', host: peer, request: { quality: this.local.quality(), introduce: unreferenced } });
  }

  private scheduleShuffle(now: number): void {
    this.schedule.shuffleAt = this.admission.farSlots === 0 ? Infinity : now + this.options.shuffleIntervalMs * (0.5 + this.random.float());
  }

  /**
   * Renews far links (à la Cyclon): asks a far host (any host while there is none) to take
   * this node into its far share. Far shares thus keep turning over and every node keeps
   * being known outside its LAN, however many of its old links died.
   */
  private shuffleIfUseful(actions: HostAction[]): void {
    if (this.shufflingWith || this.knownHosts.size === 0) return;
    const peer = this.admission.randomFarHost() ?? this.admission.sample(1)[0];
    if (!peer) return;
    this.shufflingWith = peer;
    actions.push({ kind: 'shuffle', host: peer, request: { quality: this.local.quality(), introduce: false, far: true } });
  }

  /** Ends the exchange or shuffle in flight to `action.host`; false when that is not the one in flight. */
  private finishExchange(action: ExchangeAction | ShuffleAction): boolean {
    if (action.kind === 'shuffle') {
      if (this.shufflingWith !== action.host) return false;
      this.shufflingWith = undefined;
      return true;
    }
    if (this.exchangingWith !== action.host) return false;
    this.exchangingWith = undefined;
    return true;
  }

  private peerExchangeAnswered(answer: ExchangeAnswer): void {
    // The displaced host lost a node that listed it; this node takes over, so no one is left unknown.
    if (answer.displaced) this.admission.consider(fromEntry(answer.displaced), true);
    // Second-hand hosts only fill free room: evicting for them could leave someone known by no one.
    for (const entry of answer.hosts) {
      if (this.admission.nearShareFull) break;
      this.admission.consider(fromEntry(entry));
    }
  }

  private shuffleAnswered(answer: ExchangeAnswer): void {
    // The answerer dropped it to take this node in: this node holds it instead, so it stays known.
    if (answer.displaced) {
      const displaced = fromEntry(answer.displaced);
      if (!this.admission.adoptFar(displaced).admitted) this.admission.consider(displaced, true);
    }
    // Free far room only: dropping a far host to make room could leave it known by no one.
    for (const entry of answer.hosts) {
      if (this.knownHosts.farCount >= this.admission.farSlots) break;
      this.admission.adoptFar(fromEntry(entry));
    }
  }
}
