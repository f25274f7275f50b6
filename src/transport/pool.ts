import { OverloadedError, PeerUnreachableError } from '../errors.js';
import { ConnectError, formatAddress, type Address, type Runtime, type Stream, type TimerHandle } from '../runtime/types.js';
import { Connection, type InboundDispatcher, type LocalHello } from './connection.js';
import type { TransportOptions } from './options.js';
import type { TrafficCounters } from './traffic.js';

/** A duplicate connection quiet for this long has no request of the peer's in flight either. */
const retiredIdleMs = 1_000;

/**
 * The node's connections, one per peer: dialled on first use, reused by every
 * later request in either direction, bounded in number (the idle connection
 * quiet the longest makes room) and closed after a period of idleness.
 */
export class ConnectionPool {
  /** Registered connections by the peer's listen address. */
  private readonly byAddress = new Map<string, Connection>();
  private readonly dialing = new Map<string, Promise<Connection>>();
  private readonly open = new Set<Connection>();
  /** Who dialled each registered connection: decides which of two duplicates stays. */
  private readonly diallerOf = new WeakMap<Connection, string>();
  /** Duplicates that lost the tie-break: unused for new requests, closed once idle. */
  private readonly retired = new Set<Connection>();
  private sweepTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly local: LocalHello,
    private readonly dispatcher: InboundDispatcher,
    private readonly options: TransportOptions,
    private readonly traffic: TrafficCounters,
  ) {
    this.scheduleSweep();
  }

  get size(): number {
    return this.open.size;
  }

  /** The open connection to the peer listening at `address`, if there is one. */
  openConnectionTo(address: Address): Connection | undefined {
    const key = formatAddress(address);
    const existing = this.byAddress.get(key);
    return existing?.isOpen && existing.remote ? existing : undefined;
  }

  /** The connection to the peer listening at `address`, dialling it when there is none. */
  async connectionTo(address: Address, timeoutMs: number): Promise<Connection> {
    const open = this.openConnectionTo(address);
    if (open) return open;
    const key = formatAddress(address);
    const pending = this.dialing.get(key);
    if (pending) return this.joinDial(pending, key, timeoutMs);
    const dial = this.dial(address, key, timeoutMs).finally(() => this.dialing.delete(key));
    this.dialing.set(key, dial);
    return dial;
  }

  /** A caller joining a dial started with a longer timeout (e.g. a heartbeat's) still gives up after its own. */
  private joinDial(dial: Promise<Connection>, key: string, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const timer = this.runtime.setTimer(timeoutMs, () => reject(new PeerUnreachableError(`cannot connect to ${key} (timeout)`)));
      dial.then(
        (connection) => {
          timer.cancel();
          resolve(connection);
        },
        (error: unknown) => {
          timer.cancel();
          reject(error as Error);
        },
      );
    });
  }

  /** Takes an inbound stream from the listener. */
  accept(stream: Stream): void {
    if (this.stopped || !this.makeRoom()) {
      stream.destroy();
      return;
    }
    const connection = this.track(stream);
    connection.ready.then(
      (hello) => {
        if (hello.listenPort === 0) return; // the peer accepts no connections: nothing to reuse it for
        const address = { host: stream.remoteAddress.host, port: hello.listenPort };
        connection.peerAddress = address;
        this.registerUnlessDuplicate(formatAddress(address), connection, hello.nodeId);
      },
      () => undefined,
    );
  }

  /**
   * Closes every connection to the peer at `address` (the one in use and any
   * retired duplicate) on which nothing has arrived for `silentForMs`: a
   * half-open connection (the path was cut without a FIN or RST) would
   * otherwise swallow one-way messages for ever. The next message redials.
   */
  closeSilent(address: Address, silentForMs: number): void {
    const key = formatAddress(address);
    const now = this.runtime.now();
    for (const connection of [...this.open]) {
      if (!connection.peerAddress || formatAddress(connection.peerAddress) !== key) continue;
      if (now - connection.lastReceivedAtMs >= silentForMs) connection.close();
    }
  }

  closeAll(): void {
    this.stopped = true;
    this.sweepTimer?.cancel();
    for (const connection of [...this.open]) connection.close();
    this.byAddress.clear();
  }

  private async dial(address: Address, key: string, timeoutMs: number): Promise<Connection> {
    if (this.stopped) throw new PeerUnreachableError('the node is stopping');
    if (!this.makeRoom()) throw new OverloadedError(`all ${this.options.maxConnections} connections are busy`);
    const startedAt = this.runtime.now();
    let stream: Stream;
    try {
      stream = await this.runtime.connect(address, { timeoutMs: Math.min(timeoutMs, this.options.connectTimeoutMs) });
    } catch (error) {
      const reason = error instanceof ConnectError ? error.reason : 'unreachable';
      throw new PeerUnreachableError(`cannot connect to ${key} (${reason})`, { cause: error });
    }
    if (this.stopped) {
      stream.destroy();
      throw new PeerUnreachableError('the node is stopping');
    }
    const connection = this.track(stream);
    const remainingMs = Math.max(1, timeoutMs - (this.runtime.now() - startedAt));
    const handshakeTimer = this.runtime.setTimer(remainingMs, () => connection.close());
    try {
      await connection.ready;
    } catch (error) {
      throw new PeerUnreachableError(`handshake with ${key} failed: ${(error as Error).message}`, { cause: error });
    } finally {
      handshakeTimer.cancel();
    }
    connection.peerAddress = address;
    this.registerUnlessDuplicate(key, connection, this.local.nodeId);
    return connection;
  }

  /**
   * Two nodes that dial each other at the same moment (as discovery makes them
   * do) end up with two connections. Both sides keep the same one, the one
   * dialled by the lower node id; the other takes no new requests and is
   * closed by the sweep once idle.
   */
  private registerUnlessDuplicate(key: string, connection: Connection, diallerId: string): void {
    const existing = this.byAddress.get(key);
    const existingDiallerId = existing ? this.diallerOf.get(existing) : undefined;
    this.diallerOf.set(connection, diallerId);
    if (!existing || !existing.isOpen || existingDiallerId === undefined || diallerId < existingDiallerId) {
      if (existing?.isOpen) this.retired.add(existing);
      this.byAddress.set(key, connection);
      return;
    }
    if (existing !== connection) this.retired.add(connection);
  }

  private track(stream: Stream): Connection {
    const connection = new Connection(this.runtime, stream, this.local, this.dispatcher, this.options, this.traffic);
    this.open.add(connection);
    connection.onClose(() => {
      this.open.delete(connection);
      this.retired.delete(connection);
      if (!connection.peerAddress) return;
      const key = formatAddress(connection.peerAddress);
      if (this.byAddress.get(key) === connection) this.byAddress.delete(key);
    });
    return connection;
  }

  /**
   * Ensures one more connection fits, closing the idle connection quiet the longest if
   * needed: a scan, but only when the pool is full, where keeping the pool in recency order
   * cost a map delete and insert on every request.
   */
  private makeRoom(): boolean {
    if (this.open.size < this.options.maxConnections) return true;
    let quietest: Connection | undefined;
    for (const connection of this.byAddress.values()) {
      if (connection.pendingRequests === 0 && (quietest === undefined || connection.lastActivityAt < quietest.lastActivityAt)) quietest = connection;
    }
    quietest?.close();
    return quietest !== undefined;
  }

  private scheduleSweep(): void {
    const intervalMs = Math.max(1_000, this.options.idleTimeoutMs / 2);
    this.sweepTimer = this.runtime.setTimer(intervalMs, () => {
      const now = this.runtime.now();
      for (const connection of [...this.open]) {
        const idleMs = this.retired.has(connection) ? retiredIdleMs : this.options.idleTimeoutMs;
        if (connection.pendingRequests === 0 && now - connection.lastActivityAt >= idleMs) connection.close();
      }
      if (!this.stopped) this.scheduleSweep();
    });
  }
}
