import { OverloadedError, PeerUnreachableError } from '../errors.js';
import { ConnectError, formatAddress, type Address, type Runtime, type Stream, type TimerHandle } from '../runtime/types.js';
import { Connection, type BufferCharges, type InboundDispatcher, type LocalHello, type RemoteHello } from './connection.js';
import { chooseEviction, type EvictionCandidate } from './eviction.js';
import { InboundBudget } from './inbound-budget.js';
import { OutboundBuffers } from './outbound-buffers.js';
import type { TransportOptions } from './options.js';
import type { TrafficCounters } from './traffic.js';

/** A duplicate connection quiet for this long has no request of the peer's in flight either. */
const retiredIdleMs = 1_000;

/** Whom to reach: a peer id, where to dial it, or both (the id is then checked against the HELLO). */
export interface DialTarget {
  readonly id: string | undefined;
  readonly address: Address | undefined;
}

/** Told of every peer whose HELLO was accepted: its id, where it accepts connections, and how it sees us. */
export type IdentifiedListener = (connection: Connection, hello: RemoteHello) => void;

/** Told when the connection in use to a peer was ended from the peer's side (its process may be gone, or it closed an idle connection). */
export type ClosedByPeerListener = (peerId: string) => void;

/** What the node tells the pool for admission control. */
export interface PoolAdmission {
  /** Bytes of partial inbound frames all connections may hold together (the node's `memory.inboundBufferBytes`). */
  readonly inboundBufferBytes: number;
  /** Bytes written and not yet taken by the peers, all connections together (the node's `memory.outboundBufferBytes`). */
  readonly outboundBufferBytes: number;
  /** A known host or a service's peer: never closed to make room for a stranger. */
  isProtected(peerId: string): boolean;
}

const unlimitedAdmission: PoolAdmission = { inboundBufferBytes: Infinity, outboundBufferBytes: Infinity, isProtected: () => false };

/**
 * The node's connections, one per peer, keyed by the peer's id: dialled on
 * first use, reused by every later request in either direction, bounded in
 * number (the least valuable connection makes room: admission control, see
 * `makeRoom`; inbound handshakes and partial frames have bounds of their own) and closed after a
 * period of idleness.
 */
export class ConnectionPool {
  /** Registered connections by peer id. */
  private readonly byId = new Map<string, Connection>();
  /** Dials in progress by the dialled address. */
  private readonly dialing = new Map<string, Promise<Connection>>();
  private readonly open = new Set<Connection>();
  /** Who dialled each registered connection: decides which of two duplicates stays. */
  private readonly diallerOf = new WeakMap<Connection, string>();
  /** Duplicates that lost the tie-break: unused for new requests, closed once idle. */
  private readonly retired = new Set<Connection>();
  /** Inbound connections before a valid HELLO, oldest first, and how many come from each remote host. */
  private readonly handshaking = new Set<Connection>();
  private readonly handshakesByHost = new Map<string, number>();
  /** Failed handshakes by `<direction>:<reason>` (a closed set: this node's own error codes and connect reasons). */
  private readonly failedHandshakes = new Map<string, number>();
  private readonly inboundBudget: InboundBudget;
  private readonly outboundBuffers: OutboundBuffers<Connection>;
  /** Set while connections are being closed for the outbound cap (their closing records 0 again). */
  private keepingOutboundCap = false;
  private readonly bufferCharges: BufferCharges;
  private sweepTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly local: LocalHello,
    private readonly dispatcher: InboundDispatcher,
    private readonly options: TransportOptions,
    private readonly traffic: TrafficCounters,
    private readonly onIdentified: IdentifiedListener = () => undefined,
    private readonly admission: PoolAdmission = unlimitedAdmission,
    private readonly onClosedByPeer: ClosedByPeerListener = () => undefined,
  ) {
    this.inboundBudget = new InboundBudget(admission.inboundBufferBytes);
    this.outboundBuffers = new OutboundBuffers(admission.outboundBufferBytes);
    this.bufferCharges = {
      charge: (connection, bytes) => this.chargeInbound(connection, bytes),
      release: (bytes) => this.inboundBudget.release(bytes),
      sendBuffered: (connection, bytes) => this.recordOutbound(connection, bytes),
    };
    this.scheduleSweep();
  }

  get size(): number {
    return this.open.size;
  }

  /** Inbound connections still before a valid HELLO. */
  get handshakes(): number {
    return this.handshaking.size;
  }

  /**
   * Handshakes that failed, by direction and reason: inbound ones that closed before a valid
   * HELLO (`inbound:TIMEOUT`, `inbound:PROTOCOL_ERROR`, …) and dials whose TLS or HELLO failed
   * (`outbound:unauthenticated`, `outbound:timeout`, …). TLS failures of inbound sockets
   * happen in the runtime, before the pool sees a stream, and are not counted here.
   */
  get handshakeFailures(): ReadonlyMap<string, number> {
    return this.failedHandshakes;
  }

  /** Bytes of partial inbound frames held now, all connections together, and the cap. */
  get inboundBuffers(): { usedBytes: number; capacityBytes: number } {
    return { usedBytes: this.inboundBudget.usedBytes, capacityBytes: this.inboundBudget.capacityBytes };
  }

  /** Bytes written and not yet taken by the peers (as of each connection's last write), all connections together, and the cap. */
  get outboundBuffersHeld(): { usedBytes: number; capacityBytes: number } {
    return { usedBytes: this.outboundBuffers.usedBytes, capacityBytes: this.outboundBuffers.capacityBytes };
  }

  /** The open connection to peer `id`, if there is one. */
  openConnectionTo(id: string): Connection | undefined {
    const existing = this.byId.get(id);
    return existing?.isOpen && existing.remote ? existing : undefined;
  }

  /**
   * The connection to the target: the open one to its id, else a dial of its
   * address. A dialled peer whose HELLO names another id than the target's is
   * refused: the address no longer leads to that peer.
   */
  async connectionTo(target: DialTarget, timeoutMs: number): Promise<Connection> {
    const open = target.id === undefined ? undefined : this.openConnectionTo(target.id);
    if (open) return open;
    if (!target.address) throw new PeerUnreachableError(`no address known for peer ${target.id?.slice(0, 16)}…`);
    const key = formatAddress(target.address);
    const pending = this.dialing.get(key);
    const dial = pending ?? this.dial(target.address, key, timeoutMs).finally(() => this.dialing.delete(key));
    if (!pending) this.dialing.set(key, dial);
    const connection = pending ? await this.joinDial(pending, key, timeoutMs) : await dial;
    const found = (connection.remote as RemoteHello).nodeId;
    if (target.id !== undefined && found !== target.id) {
      throw new PeerUnreachableError(`${key} is now peer ${found.slice(0, 16)}…, not ${target.id.slice(0, 16)}…`);
    }
    return connection;
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
    const host = stream.remoteAddress.host;
    if (this.stopped || (this.handshakesByHost.get(host) ?? 0) >= this.options.maxHandshakesPerAddress) {
      stream.destroy();
      return;
    }
    // The oldest unfinished handshake makes room: it has had the longest to say HELLO.
    if (this.handshaking.size >= this.options.maxHandshakes) this.handshaking.values().next().value?.evict('the oldest handshake in progress made room for a new one');
    if (!this.makeRoom(false)) {
      stream.destroy();
      return;
    }
    const connection = this.track(stream);
    this.trackHandshake(connection, host);
    connection.ready.then(
      (hello) => {
        connection.peerAddress = dialableAddress(hello, stream.remoteAddress);
        this.registerUnlessDuplicate(hello.nodeId, connection, hello.nodeId);
        this.onIdentified(connection, hello);
      },
      () => undefined,
    );
  }

  /**
   * Closes every connection to peer `id` (the one in use and any retired
   * duplicate) on which nothing has arrived for `silentForMs`: a half-open
   * connection (the path was cut without a FIN or RST) would otherwise swallow
   * one-way messages for ever. The next message redials.
   */
  closeSilent(id: string, silentForMs: number): void {
    const now = this.runtime.now();
    for (const connection of [...this.open]) {
      if (connection.remote?.nodeId !== id) continue;
      if (now - connection.lastReceivedAtMs >= silentForMs) connection.close();
    }
  }

  closeAll(): void {
    this.stopped = true;
    this.sweepTimer?.cancel();
    for (const connection of [...this.open]) connection.close();
    this.byId.clear();
  }

  private async dial(address: Address, key: string, timeoutMs: number): Promise<Connection> {
    if (this.stopped) throw new PeerUnreachableError('the node is stopping');
    if (!this.makeRoom(true)) throw new OverloadedError(`all ${this.options.maxConnections} connections are busy`);
    const startedAt = this.runtime.now();
    let stream: Stream;
    try {
      stream = await this.runtime.connect(address, {
        timeoutMs: Math.min(timeoutMs, this.options.connectTimeoutMs),
        identity: this.dispatcher.channel.identity,
      });
    } catch (error) {
      const reason = error instanceof ConnectError ? error.reason : 'unreachable';
      if (reason === 'unauthenticated' || reason === 'timeout') this.countFailedHandshake(`outbound:${reason}`);
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
      this.countFailedHandshake(`outbound:${errorCode(error)}`);
      throw new PeerUnreachableError(`handshake with ${key} failed: ${(error as Error).message}`, { cause: error });
    } finally {
      handshakeTimer.cancel();
    }
    connection.peerAddress = address;
    const hello = connection.remote as RemoteHello;
    this.registerUnlessDuplicate(hello.nodeId, connection, this.local.nodeId);
    this.onIdentified(connection, hello);
    return connection;
  }

  /**
   * Two nodes that dial each other at the same moment (as discovery makes them
   * do) end up with two connections. Both sides keep the same one, the one
   * dialled by the lower node id; the other takes no new requests and is
   * closed by the sweep once idle.
   */
  private registerUnlessDuplicate(peerId: string, connection: Connection, diallerId: string): void {
    const existing = this.byId.get(peerId);
    const existingDiallerId = existing ? this.diallerOf.get(existing) : undefined;
    this.diallerOf.set(connection, diallerId);
    if (!existing || !existing.isOpen || existingDiallerId === undefined || diallerId < existingDiallerId) {
      if (existing?.isOpen) this.retired.add(existing);
      this.byId.set(peerId, connection);
      return;
    }
    if (existing !== connection) this.retired.add(connection);
  }

  private track(stream: Stream): Connection {
    const connection = new Connection(this.runtime, stream, this.local, this.dispatcher, this.options, this.traffic, this.bufferCharges);
    this.open.add(connection);
    connection.onClose(() => {
      this.open.delete(connection);
      this.retired.delete(connection);
      const peerId = connection.remote?.nodeId;
      if (peerId === undefined || this.byId.get(peerId) !== connection) return;
      this.byId.delete(peerId);
      if (connection.closedByPeer && !this.stopped) this.onClosedByPeer(peerId);
    });
    return connection;
  }

  /** Counts an inbound connection among the handshakes in progress until its HELLO is accepted or it closes. */
  private trackHandshake(connection: Connection, host: string): void {
    this.handshaking.add(connection);
    this.handshakesByHost.set(host, (this.handshakesByHost.get(host) ?? 0) + 1);
    const done = (): void => {
      if (!this.handshaking.delete(connection)) return;
      const left = (this.handshakesByHost.get(host) ?? 1) - 1;
      if (left === 0) this.handshakesByHost.delete(host);
      else this.handshakesByHost.set(host, left);
    };
    connection.ready.then(done, (error: unknown) => {
      if (this.handshaking.has(connection)) this.countFailedHandshake(`inbound:${errorCode(error)}`);
      done();
    });
  }

  private countFailedHandshake(key: string): void {
    this.failedHandshakes.set(key, (this.failedHandshakes.get(key) ?? 0) + 1);
  }

  /**
   * Ensures one more connection fits, closing the least valuable one if needed (see
   * `evictionClass`): a scan, but only when the pool is full, where keeping the pool in
   * order cost work on every request. Only the node's own dials may displace a protected peer.
   */
  private makeRoom(forOwnDial: boolean): boolean {
    if (this.open.size < this.options.maxConnections) return true;
    const chosen = chooseEviction(this.evictionCandidates(), forOwnDial);
    chosen?.connection.evict('closed to make room for another connection');
    return chosen !== undefined;
  }

  private *evictionCandidates(): Generator<EvictionCandidate & { connection: Connection }> {
    for (const connection of this.open) {
      const peerId = connection.remote?.nodeId;
      // A dial of our own still in its handshake is not a candidate: it is about to be used.
      if (peerId === undefined && !this.handshaking.has(connection)) continue;
      yield {
        connection,
        unauthenticated: peerId === undefined,
        anonymous: connection.peerAddress === undefined,
        protected: peerId !== undefined && this.admission.isProtected(peerId),
        pendingRequests: connection.pendingRequests,
        lastActivityAt: connection.lastActivityAt,
      };
    }
  }

  /**
   * Charges bytes of a partial frame to the one inbound cap. When it is full, a protected
   * peer's frame (a group peer's block) may take the room strangers' partial frames hold,
   * largest first; anyone else's connection is dropped instead.
   */
  private chargeInbound(connection: Connection, bytes: number): boolean {
    if (this.inboundBudget.tryCharge(bytes)) return true;
    const peerId = connection.remote?.nodeId;
    if (peerId === undefined || !this.admission.isProtected(peerId)) return false;
    const holders = [...this.open]
      .filter((other) => other !== connection && other.heldInboundBytes > 0 && !this.isProtectedConnection(other))
      .sort((a, b) => b.heldInboundBytes - a.heldInboundBytes);
    for (const holder of holders) {
      holder.evict('its partial frame made room for a protected peer\'s');
      if (this.inboundBudget.tryCharge(bytes)) return true;
    }
    return false;
  }

  /**
   * Keeps the send buffers of all connections together within the cap. Over it, every
   * figure is read again (stale ones only overstate); if that does not bring it back, the
   * connections holding the most close, strangers before protected peers: a peer that does
   * not read what it asked for costs its own connection, not the node's memory.
   */
  private recordOutbound(connection: Connection, bytes: number): void {
    if (this.outboundBuffers.record(connection, bytes) || this.keepingOutboundCap) return;
    this.keepingOutboundCap = true;
    try {
      this.outboundBuffers.recount((holder) => (holder.isOpen ? holder.stream.bufferedBytes() : 0));
      const holders = this.outboundBuffers.largestFirst();
      const ordered = [...holders.filter((holder) => !this.isProtectedConnection(holder)), ...holders.filter((holder) => this.isProtectedConnection(holder))];
      for (const holder of ordered) {
        if (!this.outboundBuffers.overCapacity) break;
        holder.evict('the peer is not reading: the node\'s send buffers are full');
      }
    } finally {
      this.keepingOutboundCap = false;
    }
  }

  private isProtectedConnection(connection: Connection): boolean {
    const peerId = connection.remote?.nodeId;
    return peerId !== undefined && this.admission.isProtected(peerId);
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

/**
 * Where to dial back a peer that connected to us: its first TCP listen
 * address, with an unspecified host (it listens on every interface) read as
 * the host it connected from. Undefined when it accepts no connections.
 */
function dialableAddress(hello: RemoteHello, seenFrom: Address): Address | undefined {
  const listen = hello.listenAddresses.find((address) => address.transport === 'tcp' && address.port > 0);
  if (!listen) return undefined;
  const unspecified = listen.host === '0.0.0.0' || listen.host === '::';
  return { host: unspecified ? seenFrom.host : listen.host, port: listen.port };
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}
