import type { KnownHosts } from '../hosts/known-hosts.js';
import type { Logger } from '../node/logger.js';
import { DeadlineTimer } from '../runtime/deadline-timer.js';
import type { Address, DatagramSocket, Runtime } from '../runtime/types.js';
import type { TrafficCounters } from '../transport/traffic.js';
import { DiscoveryCore, type DiscoveredHost, type DiscoveryLocal, type DiscoveryOptions, type DiscoveryStats } from './core.js';

export interface DiscoveryComponents {
  runtime: Runtime;
  logger: Logger;
  traffic: TrafficCounters;
  /** Watched only to resume pinging at once when the list empties. */
  knownHosts: KnownHosts;
  local: DiscoveryLocal;
  /**
   * Each host the core found, in order: host management remembers those heard on the
   * group as on the LAN and decides whether to list it (a pinger this node answers is
   * `forced`; an overheard one only fills free room).
   */
  onDiscovered(found: DiscoveredHost): void;
}

/**
 * Adapts the discovery core to a runtime: owns the group's socket (shared port,
 * multicast), this node's reply socket (a port of its own, where PONGs come) and
 * one timer, feeds datagrams and deadlines to the core, sends what it emits and
 * hands the hosts it discovers to `onDiscovered`.
 */
export class DiscoveryService {
  private core: DiscoveryCore | undefined;
  private groupSocket: DatagramSocket | undefined;
  private replySocket: DatagramSocket | undefined;
  private readonly timer: DeadlineTimer;
  private unsubscribe: (() => void) | undefined;
  private state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';

  constructor(
    private readonly components: DiscoveryComponents,
    readonly options: DiscoveryOptions,
  ) {
    this.timer = new DeadlineTimer(components.runtime, () => this.step());
  }

  get stats(): DiscoveryStats | undefined {
    return this.core?.stats;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle' || !this.options.enabled) return;
    this.state = 'starting';
    const { runtime } = this.components;
    const { port, multicastGroup, multicastInterface } = this.options;
    const onInterface = multicastInterface === undefined ? {} : { multicastInterface };
    const groupSocket = await runtime.openDatagramSocket({ port, multicastGroup, ...onInterface });
    let replySocket: DatagramSocket;
    try {
      replySocket = await runtime.openDatagramSocket({ port: 0, ...onInterface });
    } catch (error) {
      groupSocket.close();
      throw error;
    }
    if (this.state !== 'starting') {
      // Stopped while the sockets were opening.
      groupSocket.close();
      replySocket.close();
      return;
    }
    this.state = 'running';
    this.groupSocket = groupSocket;
    this.replySocket = replySocket;
    this.core = new DiscoveryCore(this.components.local, this.options, runtime.random.fork('discovery'), runtime.now(), replySocket.localAddress.port);
    const receive = (data: Uint8Array, from: Address): void => {
      if (this.state !== 'running') return;
      this.core?.receive(data, from, runtime.now());
      this.step();
    };
    groupSocket.onMessage(receive);
    replySocket.onMessage(receive);
    // When the list empties, discovery resumes at once rather than at the next deadline.
    this.unsubscribe = this.components.knownHosts.onChange(() => {
      if (this.components.knownHosts.size === 0) this.step();
    });
    this.step();
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.unsubscribe?.();
    this.timer.cancel();
    this.groupSocket?.close();
    this.replySocket?.close();
  }

  /** Runs the core at `now`, then applies its outputs and re-arms the timer. */
  private step(): void {
    const core = this.core;
    if (!core || this.state !== 'running') return;
    const { runtime, traffic } = this.components;
    core.tick(runtime.now());
    for (const found of core.takeDiscovered()) this.components.onDiscovered(found);
    for (const datagram of core.takeOutgoing()) {
      if (datagram.to) this.replySocket?.send(datagram.bytes, datagram.to);
      else this.groupSocket?.sendToGroup(datagram.bytes);
      traffic.record('datagram', datagram.kind, datagram.bytes.byteLength);
    }
    this.arm(core.nextDeadline());
  }

  private arm(deadline: number): void {
    if (deadline !== this.timer.armedAtMs) this.timer.armAt(deadline);
  }

}
