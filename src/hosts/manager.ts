import { ProtocolError, type ButterError } from '../errors.js';
import type { Logger } from '../node/logger.js';
import { DeadlineTimer } from '../runtime/deadline-timer.js';
import { formatAddress, type Address, type Runtime } from '../runtime/types.js';
import type { AdmissionResult, Candidate, DiscoveredCandidate, HostsReport } from './admission.js';
import { HostsCore, type ExchangeAction, type HostAction, type HostManagementOptions, type RefreshAction, type ShuffleAction } from './core.js';
import type { HostQuality, KnownHost, KnownHosts } from './known-hosts.js';
import { exchangeAnswerCodec, exchangeRequestCodec, maxExchangeAnswerBytes, type ExchangeAnswer } from './messages.js';
import { BootstrapSchedule } from './bootstrap.js';
import { decodeQuality, encodeQuality } from './quality.js';
import type { FailedPeer, PeerFailureListener, PeerRef } from '../transport/vocabulary.js';

export type { Candidate, DiscoveredCandidate, HostReport, HostsReport } from './admission.js';
export { defaultHostManagementOptions, type HostManagementOptions } from './core.js';

export const hostQualityRoute = 'host-quality';
export const peerExchangeRoute = 'peer-exchange';

/** The payload of a `host-quality` request: nothing (one shared array rather than one per refresh). */
const emptyPayload = new Uint8Array(0);

/** What the manager needs from its node: a narrow view, so it can be tested and reasoned about alone. */
export interface HostManagerComponents {
  runtime: Runtime;
  knownHosts: KnownHosts;
  selfId: string;
  logger: Logger;
  localQuality(): HostQuality;
  /** A request to a host by id and address: a failure then names the host. */
  request(peer: PeerRef, route: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Connects and returns the id the peer proved in its hello. */
  identify(address: Address): Promise<string>;
  onPeerFailure(listener: PeerFailureListener): () => void;
  /**
   * Addresses to contact at start and again, with backoff, whenever the node
   * knows no host; read at each start. The `configured` ones are also retried
   * while hosts are known, until each has answered once (restored hosts are not).
   */
  bootstrap(): { addresses: readonly Address[]; configured: readonly Address[] };
}

/**
 * Adapts host management's sans-IO core (core.ts) to a runtime: one timer armed
 * at the core's next deadline, the requests the core asks for (performed through
 * `request`, their answers decoded and fed back), the `host-quality` and
 * `peer-exchange` routes (decided by the core) and the node's peer failures.
 */
export class HostManager {
  private readonly core: HostsCore;
  private readonly timer: DeadlineTimer;
  private readonly bootstrapTimer: DeadlineTimer;
  private bootstrap: BootstrapSchedule | undefined;
  private running = false;
  private unsubscribers: Array<() => void> = [];

  constructor(
    private readonly components: HostManagerComponents,
    readonly options: HostManagementOptions,
  ) {
    const local = { id: components.selfId, quality: () => components.localQuality() };
    this.core = new HostsCore(components.knownHosts, local, options, components.runtime.random.fork('hosts'));
    this.timer = new DeadlineTimer(components.runtime, () => this.wake());
    this.bootstrapTimer = new DeadlineTimer(components.runtime, () => this.bootstrapDue());
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const { knownHosts, runtime } = this.components;
    this.unsubscribers = [
      this.components.onPeerFailure((peer, error) => this.peerFailed(peer, error)),
      knownHosts.onChange(() => {
        this.core.listChanged(runtime.now());
        this.arm();
        this.bootstrap?.listChanged(runtime.now(), knownHosts.size > 0);
        this.armBootstrap();
      }),
    ];
    this.core.start(runtime.now());
    this.arm();
    const { bootstrapRetryMs, maxBootstrapRetryMs } = this.options;
    // A stream of its own: retries never reshuffle the core's draws.
    const random = runtime.random.fork('hosts/bootstrap');
    const { addresses, configured } = this.components.bootstrap();
    this.bootstrap = new BootstrapSchedule(addresses, configured, random, bootstrapRetryMs, maxBootstrapRetryMs, runtime.now());
    this.bootstrapDue();
  }

  /** Introductions to the bootstrap addresses that are due; each failure is logged and retried later. */
  private bootstrapDue(): void {
    if (!this.running || !this.bootstrap) return;
    for (const address of this.bootstrap.due(this.components.runtime.now())) {
      this.introduce(address).then(
        () => {
          this.bootstrap?.answered(address);
          this.armBootstrap();
        },
        (error: unknown) => {
          if (this.running) this.components.logger.warn({ address: formatAddress(address), err: error }, 'bootstrap host unreachable; retrying with backoff until it answers');
        },
      );
    }
    this.armBootstrap();
  }

  private armBootstrap(): void {
    const deadline = this.bootstrap?.nextDeadline() ?? Infinity;
    if (!this.running || deadline === Infinity) this.bootstrapTimer.cancel();
    else if (deadline !== this.bootstrapTimer.armedAtMs) this.bootstrapTimer.armAt(deadline);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    this.unsubscribers = [];
    this.core.stop();
    this.timer.cancel();
    this.bootstrapTimer.cancel();
  }

  /** Discovery heard `id` on the LAN's multicast group. */
  heardOnLan(id: string): void {
    this.core.admission.heardOnLan(id);
  }

  /** Distinct nodes heard on the LAN's group lately (at most 1,024): an estimate of the LAN's size. */
  get lanPeers(): number {
    return this.core.admission.lanPeers;
  }

  /** Slots of the far share: none in a list too short to spare one (e.g. a capacity of 1). */
  get farSlots(): number {
    return this.core.admission.farSlots;
  }

  /** No room left outside the far share: newcomers there go through peer selection. */
  get nearShareFull(): boolean {
    return this.core.admission.nearShareFull;
  }

  /**
   * Offers a host to the list. `forced` (the host knows no one, or asks to be
   * introduced) always gets in. Returns the host evicted to make room, if any.
   * At capacity, peer selection (SPEC §3) runs over the hosts outside the far share.
   */
  consider(candidate: Candidate, forced = false): AdmissionResult {
    return this.core.admission.consider(candidate, forced);
  }

  /** Takes `candidate` into the far share: into free room, else in place of `replacing` (a far host). */
  adoptFar(candidate: Candidate, replacing?: KnownHost): AdmissionResult {
    return this.core.admission.adoptFar(candidate, replacing);
  }

  /** A host discovery found (remembered as on the LAN when heard on the group); returns whether it is listed now. */
  discovered(found: DiscoveredCandidate): boolean {
    return this.core.admission.discovered(found);
  }

  /** Bootstrap: connects to `address`, learns who is there and its quality, and offers it. */
  async introduce(address: Address): Promise<boolean> {
    const id = await this.components.identify(address);
    const quality = decodeQuality(await this.components.request({ id, address }, hostQualityRoute, emptyPayload, this.options.refreshTimeoutMs));
    return this.core.admission.adoptBootstrap({ id, address, quality });
  }

  /** A random sample of at most `count` known hosts, leaving out `exceptId`. */
  sample(count: number, exceptId?: string): KnownHost[] {
    return this.core.admission.sample(count, exceptId);
  }

  /** Handler of `host-quality`: being asked is also how a node knows someone lists it. */
  answerQuality(): Uint8Array {
    return encodeQuality(this.core.qualityRequested(this.components.runtime.now()));
  }

  /** Handler of `peer-exchange`: considers the asker, answers a sample and whom it displaced. */
  answerExchange(payload: Uint8Array, peer: { id: string; address: Address | undefined }): Uint8Array {
    const answer = this.core.exchangeRequested(exchangeRequestCodec.decode(payload), peer, this.components.runtime.now());
    this.arm(); // the asker's refresh may have moved
    return exchangeAnswerCodec.encode(answer);
  }

  report(): HostsReport {
    return this.core.report();
  }

  /** The timer fired: performs what the core says is due, then re-arms. */
  private wake(): void {
    if (!this.running) return;
    for (const action of this.core.handleTimeout(this.components.runtime.now())) this.perform(action);
    this.arm();
  }

  /** One timer, at the core's next deadline. */
  private arm(): void {
    if (!this.running) return;
    const deadline = this.core.nextDeadline();
    if (deadline !== this.timer.armedAtMs) this.timer.armAt(deadline);
  }

  private perform(action: HostAction): void {
    if (action.kind === 'refresh') void this.refresh(action);
    else void this.exchange(action);
  }

  private async refresh(action: RefreshAction): Promise<void> {
    let quality: HostQuality;
    try {
      quality = decodeQuality(await this.components.request({ id: action.hostId, address: action.address }, hostQualityRoute, emptyPayload, this.options.refreshTimeoutMs));
    } catch (error) {
      // No answer, an error, or an invalid answer: the host is treated as failed.
      this.requestFailed(action, error, 'quality refresh failed; host removed');
      return;
    }
    this.core.refreshAnswered(action, quality, this.components.runtime.now());
    this.arm();
  }

  private async exchange(action: ExchangeAction | ShuffleAction): Promise<void> {
    let answer: ExchangeAnswer;
    try {
      answer = await this.askForHosts(action.host, exchangeRequestCodec.encode(action.request));
    } catch (error) {
      this.requestFailed(action, error, action.kind === 'shuffle' ? 'shuffle failed; host removed' : 'peer exchange failed; host removed');
      return;
    }
    this.core.exchangeAnswered(action, answer);
    this.arm();
  }

  private async askForHosts(host: KnownHost, request: Uint8Array): Promise<ExchangeAnswer> {
    const bytes = await this.components.request(host, peerExchangeRoute, request, this.options.refreshTimeoutMs);
    if (bytes.byteLength > maxExchangeAnswerBytes) throw new ProtocolError(`peer-exchange answer of ${bytes.byteLength} bytes`);
    return exchangeAnswerCodec.decode(bytes);
  }

  private requestFailed(action: HostAction, error: unknown, message: string): void {
    const removed = this.core.requestFailed(action);
    if (removed) this.components.logger.debug({ hostId: removed.id, err: error }, message);
    this.arm();
  }

  private peerFailed(peer: FailedPeer, error: ButterError): void {
    const removed = this.core.peerFailed(peer);
    if (removed) this.components.logger.debug({ hostId: removed.id, address: formatAddress(removed.address), err: error }, 'known host failed; removed');
  }
}
