import { EventKind, type SimEvent } from './event-queue.js';
import { SimHost, SimRuntime } from './host.js';
import {
  DEFAULT_LINK_CONDITIONS,
  Network,
  validateLinkConditions,
  type LinkConditions,
  type SimStats,
} from './network.js';
import { SimDiskContents } from './disk.js';
import { SeededRandom } from './random.js';

export interface SimulationOptions {
  seed: number;
  link?: Partial<LinkConditions>;
}

export interface HostOptions {
  /** Defaults to `n<index>.sim`; a synthetic name, never a real IP. */
  name?: string;
  /** Multicast domain; defaults to 'lan'. */
  subnet?: string;
  /** Defaults to 24 GiB. */
  totalMemoryBytes?: number;
  /**
   * Puts the host behind its subnet's NAT (a masquerading router with no port
   * forwarding): hosts of other subnets cannot connect to it, and see its
   * connections come from `<subnet>.nat`, an address nothing listens on. Default false.
   */
  behindNat?: boolean;
}

/** A host given by its name or its runtime. */
export type HostRef = string | SimRuntime;

const DEFAULT_MEMORY_BYTES = 24 * 1024 ** 3;

/**
 * One whole turn of Node's event loop every so many simulated instants and
 * when a run ends, so that real work beside the simulation (a test's own I/O
 * and wall-clock timers, Node's housekeeping) is not starved. Simulated nodes
 * start no real I/O: their disk is simulated too (`SimDisk`).
 */
const instantsPerEventLoopTurn = 1024;

/** `then` on it queues a microtask, without the async-hooks wrapper `queueMicrotask` allocates. */
const resolved = Promise.resolve();

/**
 * A deterministic discrete-event world: many hosts in one process on virtual
 * time. The same seed and the same calls give the same run, event for event.
 */
export class Simulation {
  readonly seed: number;
  private readonly random: SeededRandom;
  private readonly network: Network;
  private readonly runtimes: SimRuntime[] = [];
  private running = false;

  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    this.random = new SeededRandom(options.seed);
    this.network = new Network(this.random.fork('network'), { ...DEFAULT_LINK_CONDITIONS, ...options.link });
  }

  /** Virtual time in milliseconds since the simulation started. */
  get now(): number {
    return this.network.nowMs;
  }

  get stats(): Readonly<SimStats> {
    return this.network.stats;
  }

  get eventsProcessed(): number {
    return this.network.stats.eventsProcessed;
  }

  /** Events waiting in the queue (including cancelled ones not yet discarded). */
  get pendingEvents(): number {
    return this.network.queue.length;
  }

  get link(): Readonly<LinkConditions> {
    return this.network.link;
  }

  setLinkConditions(link: Partial<LinkConditions>): void {
    const next = { ...this.network.link, ...link };
    validateLinkConditions(next);
    this.network.link = next;
  }

  createHost(options: HostOptions = {}): SimRuntime {
    const name = options.name ?? `n${this.network.hosts.length}.sim`;
    if (this.network.hostsByName.has(name)) throw new Error(`host ${name} already exists`);
    const memory = options.totalMemoryBytes ?? DEFAULT_MEMORY_BYTES;
    return this.addHost(name, options.subnet ?? 'lan', memory, new SimDiskContents(), options.behindNat === true);
  }

  /**
   * Reboots a machine: crash-stops it if it is still up, then boots a fresh host
   * under the same name (so the same addresses), subnet and memory, on the same
   * disk. Nothing else of the old run survives: its timers, sockets and streams
   * are gone and its peers' streams to it stay broken. Returns the new host's
   * runtime; the old one stays dead.
   */
  restart(host: HostRef): SimRuntime {
    const previous = this.resolveHost(host);
    if (this.network.hostsByName.get(previous.name) !== previous) throw new Error(`host ${previous.name} was already restarted`);
    this.crashHost(previous);
    return this.addHost(previous.name, previous.subnet, previous.totalMemoryBytes, previous.diskContents, previous.behindNat);
  }

  private addHost(name: string, subnet: string, memory: number, disk: SimDiskContents, behindNat: boolean): SimRuntime {
    const index = this.network.hosts.length;
    // Derived from (root seed, index) only, so adding hosts later does not perturb earlier ones.
    const host = new SimHost(index, name, subnet, memory, this.random.fork(index), disk, behindNat);
    this.network.hosts.push(host);
    this.network.hostsByName.set(name, host);
    const runtime = new SimRuntime(this.network, host);
    this.runtimes.push(runtime);
    return runtime;
  }

  /** Every host created so far, in creation order (crashed ones and every run of a restarted one included). */
  get hosts(): readonly SimRuntime[] {
    return this.runtimes;
  }

  getHost(name: string): SimRuntime | undefined {
    const host = this.network.hostsByName.get(name);
    return host === undefined ? undefined : this.runtimes[host.index];
  }

  isAlive(host: HostRef): boolean {
    return this.resolveHost(host).alive;
  }

  /**
   * Crash-stop of the machine (power, network loss): the host's timers never fire, its
   * listeners and datagram sockets vanish and its streams go silent. Peers are not told;
   * they must time out, and connecting to it times out.
   */
  crash(host: HostRef): void {
    this.crashHost(this.resolveHost(host));
  }

  /**
   * The process dies (killed, crashed) on a machine that stays up: as with `crash` its code
   * never runs again, but its OS closes its connections (every peer's stream ends, one link
   * delay later) and refuses new ones (connecting gets 'refused' after a round trip).
   */
  kill(host: HostRef): void {
    const target = this.resolveHost(host);
    if (!target.alive) return;
    const streams = [...target.openStreams];
    this.crashHost(target, true);
    for (const stream of streams) stream.closeByOs();
  }

  private crashHost(target: SimHost, machineStaysUp = false): void {
    if (!target.machineUp) return;
    target.machineUp = machineStaysUp;
    if (!target.alive) return;
    target.alive = false; // pending events for it are discarded as they come up
    for (const listener of target.listeners.values()) listener.open = false;
    target.listeners.clear();
    for (const socket of [...target.datagramSockets]) socket.close();
    for (const stream of target.openStreams) stream.abandon();
    target.openStreams.clear();
  }

  /** Traffic between the two sets disappears until `heal()`; streams crossing it break for good. */
  partition(hostsA: readonly HostRef[], hostsB: readonly HostRef[]): void {
    const a = new Set(hostsA.map((host) => this.resolveHost(host)));
    const b = new Set(hostsB.map((host) => this.resolveHost(host)));
    this.network.addPartition(a, b);
  }

  heal(): void {
    this.network.clearPartitions();
  }

  /** Hash of every event processed so far (time, kind, host, bytes): equal runs give equal hashes. */
  traceHash(): string {
    return this.network.trace.digest();
  }

  /** Advances virtual time by `ms`, processing every event due until then. */
  runFor(ms: number): Promise<void> {
    return this.runUntil(this.network.nowMs + Math.max(0, ms));
  }

  /** Processes every event due at or before `timeMs`, then sets the clock to `timeMs`. */
  async runUntil(timeMs: number): Promise<void> {
    await this.run(timeMs);
    if (timeMs > this.network.nowMs && Number.isFinite(timeMs)) this.network.nowMs = timeMs;
  }

  /** Runs until no event is left or `maxMs` of virtual time have passed; the clock stays at the last event. */
  runUntilIdle(maxMs = Infinity): Promise<void> {
    return this.run(this.network.nowMs + Math.max(0, maxMs));
  }

  /**
   * Processes events one simulated instant at a time until `done()` holds, no
   * event is left, or `maxMs` of virtual time have passed; the clock stays at the
   * last event. Returns `done()`. Lets a caller await an operation on virtual
   * time without overshooting it.
   */
  async runUntilDone(done: () => boolean, maxMs = Infinity): Promise<boolean> {
    await this.run(this.network.nowMs + Math.max(0, maxMs), done);
    return done();
  }

  /**
   * The run loop: one simulated instant per step. A step runs as a microtask and
   * queues the next through `process.nextTick`, which Node runs only once V8 has
   * drained every microtask, chained ones included: what the instant's user code
   * started runs to its next wait before the clock moves on. Callbacks rather than
   * an `await` per instant: a large run has tens of millions of instants, and the
   * promises each await allocates were a sixth of what it allocated.
   */
  private run(limitMs: number, done?: () => boolean): Promise<void> {
    if (this.running) return Promise.reject(new Error('the simulation is already running'));
    this.running = true;
    return new Promise<void>((resolve, reject) => {
      let instants = 0;
      const resume = (): void => void resolved.then(step);
      const step = (): void => {
        try {
          if (done?.() || !this.processDue(limitMs)) {
            setImmediate(() => {
              this.running = false;
              resolve();
            });
            return;
          }
        } catch (error) {
          this.running = false;
          reject(error as Error);
          return;
        }
        instants += 1;
        if (instants % instantsPerEventLoopTurn === 0) setImmediate(resume);
        else process.nextTick(resume);
      };
      // Code started before the run may still have continuations to run (and events to schedule).
      process.nextTick(resume);
    });
  }

  /**
   * Processes due events up to the end of the first instant in which user code
   * ran. Returns true when user code ran: its async continuations must then run
   * (drain) before the clock may move on. Kept synchronous so V8 optimises it well.
   */
  private processDue(limitMs: number): boolean {
    const network = this.network;
    const queue = network.queue;
    let ranUserCode = false;
    while (true) {
      const next = queue.peek();
      if (next === undefined || next.timeMs > limitMs) return ranUserCode;
      if (ranUserCode && next.timeMs > network.nowMs) return true;
      queue.pop();
      if (next.cancelled) {
        network.stats.eventsSkipped++;
        continue;
      }
      if (next.timeMs > network.nowMs) network.nowMs = next.timeMs;
      if (this.dispatch(next)) ranUserCode = true;
    }
  }

  /** Returns true when user code ran. */
  private dispatch(event: SimEvent): boolean {
    const stats = this.network.stats;
    if (!event.host.alive) {
      stats.eventsSkipped++;
      return false;
    }
    stats.eventsProcessed++;
    const trace = this.network.trace;
    trace.mixFloat(event.timeMs);
    trace.mixWord((event.kind << 24) ^ event.host.index);
    trace.mixWord(event.byteLength);
    if (event.kind === EventKind.Timer) {
      (event.payload as () => void)();
      return true;
    }
    return event.target !== null && event.target.handleEvent(event);
  }

  private resolveHost(host: HostRef): SimHost {
    if (typeof host !== 'string') {
      if (this.network.hosts[host.host.index] !== host.host) {
        throw new Error(`runtime ${host.hostName} belongs to another simulation`);
      }
      return host.host;
    }
    const found = this.network.hostsByName.get(host);
    if (found === undefined) throw new Error(`unknown host ${host}`);
    return found;
  }
}
