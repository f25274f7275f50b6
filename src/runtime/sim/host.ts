import {
  ConnectError,
  type Address,
  type ByteCarrier,
  type ConnectOptions,
  type DatagramOptions,
  type DatagramSocket,
  type Listener,
  type ListenOptions,
  type Runtime,
  type SecureOptions,
  type Stream,
  type TimerHandle,
} from '../types.js';
import { EventKind } from './event-queue.js';
import type { SimDatagramSocket } from './datagrams.js';
import { SimDisk, type SimDiskContents } from './disk.js';
import type { Network } from './network.js';
import { HostRandom, type SeededRandom } from './random.js';
import { secureCarrier } from './secure-carrier.js';
import { connectStream, listenStreams, type SimListener, type SimStream } from './streams.js';

const FIRST_LISTEN_PORT = 10000;
const FIRST_EPHEMERAL_PORT = 40000;
const LAST_PORT = 65535;

/** State of one simulated machine. Internal: protocol code sees only its `SimRuntime`. */
export class SimHost {
  /** Its process runs: timers fire, sockets work. */
  alive = true;
  /**
   * The machine is up: false after a crash (silence), still true after a process kill, where
   * its OS has closed the process's connections and refuses new ones.
   */
  machineUp = true;
  readonly listeners = new Map<number, SimListener>();
  readonly datagramSockets = new Set<SimDatagramSocket>();
  /** Streams with this host's end not yet closed: a crash cuts them loose from its code. */
  readonly openStreams = new Set<SimStream>();
  readonly random: HostRandom;
  /** This run's view of the machine's disk: it stops writing once the host crashes. */
  readonly disk: SimDisk;
  private nextListenPort = FIRST_LISTEN_PORT;
  private nextEphemeralPort = FIRST_EPHEMERAL_PORT;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly subnet: string,
    readonly totalMemoryBytes: number,
    random: SeededRandom,
    /** The machine's disk, kept when the host is restarted. */
    readonly diskContents: SimDiskContents,
    /** Behind its subnet's NAT: unreachable from other subnets, seen by them from `<subnet>.nat`. */
    readonly behindNat = false,
  ) {
    this.random = new HostRandom(random);
    this.disk = new SimDisk(diskContents, () => this.alive);
  }

  /** Next free listening port from 10000 up; undefined when all are taken. */
  allocateListenPort(): number | undefined {
    for (let tries = 0; tries <= LAST_PORT - FIRST_LISTEN_PORT; tries++) {
      const port = this.nextListenPort;
      this.nextListenPort = port >= LAST_PORT ? FIRST_LISTEN_PORT : port + 1;
      if (!this.listeners.has(port)) return port;
    }
    return undefined;
  }

  /** Client-side port of an outgoing stream; only informative, so it simply wraps around. */
  allocateEphemeralPort(): number {
    const port = this.nextEphemeralPort;
    this.nextEphemeralPort = port >= LAST_PORT ? FIRST_EPHEMERAL_PORT : port + 1;
    return port;
  }
}

/** Shared by every timer created on a crashed host. */
const INERT_TIMER: TimerHandle = Object.freeze({ cancel(): void {} });

/** Never settles: what a crashed host's pending operations look like to its (dead) code. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

/** The `Runtime` of one simulated host. */
export class SimRuntime implements Runtime {
  readonly kind = 'sim' as const;

  constructor(
    private readonly network: Network,
    /** @internal */
    readonly host: SimHost,
  ) {}

  get hostName(): string {
    return this.host.name;
  }

  get subnet(): string {
    return this.host.subnet;
  }

  get behindNat(): boolean {
    return this.host.behindNat;
  }

  get random(): HostRandom {
    return this.host.random;
  }

  /** The simulated machine's disk, in memory; it survives `Simulation.restart`. */
  get disk(): SimDisk {
    return this.host.disk;
  }

  get alive(): boolean {
    return this.host.alive;
  }

  now(): number {
    return this.network.nowMs;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    if (!this.host.alive || delayMs === Infinity) return INERT_TIMER;
    const delay = delayMs > 0 ? delayMs : 0; // negative and NaN mean "as soon as possible"
    return this.network.schedule(this.network.nowMs + delay, EventKind.Timer, this.host, null, callback, null, 0);
  }

  listen(options: ListenOptions, onStream: (stream: Stream) => void): Promise<Listener> {
    if (!this.host.alive) return never();
    try {
      return Promise.resolve(listenStreams(this.host, options.port, options.identity, onStream));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  connect(address: Address, options: ConnectOptions): Promise<Stream> {
    if (!this.host.alive) {
      return Promise.reject(new ConnectError(`host ${this.host.name} has crashed`, 'unreachable'));
    }
    return connectStream(this.network, this.host, address, options.timeoutMs, options.identity);
  }

  secure(carrier: ByteCarrier, options: SecureOptions): Promise<Stream> {
    if (!this.host.alive) return never();
    return secureCarrier(this.network.channelTickets, (delayMs, callback) => this.setTimer(delayMs, callback), carrier, options);
  }

  openDatagramSocket(options: DatagramOptions): Promise<DatagramSocket> {
    if (!this.host.alive) return never();
    try {
      return Promise.resolve(this.network.datagrams.open(this.host, options.port, options.multicastGroup));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  totalMemoryBytes(): number {
    return this.host.totalMemoryBytes;
  }
}
