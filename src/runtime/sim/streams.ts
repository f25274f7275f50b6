import {
  ListenError,
  ConnectError,
  formatAddress,
  type Address,
  type ChannelIdentity,
  type Listener,
  type Stream,
  type StreamHandlers,
} from '../types.js';
import { EventKind, type EventTarget, type SimEvent } from './event-queue.js';
import type { SimHost } from './host.js';
import type { Network } from './network.js';
import { copyBytes } from './bytes.js';

/** A "lost" segment is retransmitted: it arrives this much later, still in order. */
export const RETRANSMIT_TIMEOUT_MS = 200;
/** After `end()`, how long to wait for the peer's FIN before closing anyway (as the real runtime does). */
export const END_LINGER_MS = 10_000;

export class SimListener implements Listener {
  open = true;

  constructor(
    private readonly host: SimHost,
    readonly address: Address,
    readonly identity: ChannelIdentity,
    readonly onStream: (stream: Stream) => void,
  ) {}

  close(): Promise<void> {
    if (this.open) {
      this.open = false;
      if (this.host.listeners.get(this.address.port) === this) this.host.listeners.delete(this.address.port);
    }
    return Promise.resolve();
  }
}

/** Registers a listener at `hostName:port`; port 0 picks the next free port from 10000 up. */
export function listenStreams(host: SimHost, port: number, identity: ChannelIdentity, onStream: (stream: Stream) => void): SimListener {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`invalid port ${port}`);
  }
  const chosen = port === 0 ? host.allocateListenPort() : port;
  if (chosen === undefined || host.listeners.has(chosen)) {
    throw new ListenError(`cannot listen on ${host.name}:${port}: the port is already in use`, 'in-use');
  }
  const listener = new SimListener(host, Object.freeze({ host: host.name, port: chosen }), identity, onStream);
  host.listeners.set(chosen, listener);
  return listener;
}

/**
 * One end of a simulated TCP connection. Every segment (data, FIN, RST) sent in
 * one direction arrives in order; a direction that crossed a partition is broken
 * for good, and nothing flows to or from a crashed host (and nobody is told); a
 * killed process's OS ends its streams with a FIN.
 * The simulator is trusted code: each end's `remotePublicKey` is the key the
 * other end connected or listened with, as a TLS handshake would have proved.
 */
export class SimStream implements Stream, EventTarget {
  peer!: SimStream;
  private handlers: StreamHandlers | null = null;
  /** Chunks (and a close) that arrived before `start`, or while a flush is pending. */
  private inbox: Uint8Array[] = [];
  private inboxClose: { error: Error | undefined } | null = null;
  private flushPending = false;
  /** `onClose` has been called or is queued; nothing more is delivered. */
  private closed = false;
  /** `destroy()` was called here: incoming segments are ignored. */
  private destroyed = false;
  /** No more segments may be sent from this end (after end, destroy, or the peer's FIN). */
  private writeClosed = false;
  /** This end -> peer direction crossed a partition; like a timed-out TCP connection it never recovers. */
  private outBroken = false;
  /** Delivery time of the last segment sent from this end, to keep the direction in order. */
  private lastDeliveryMs = 0;
  private lingerTimer: SimEvent | null = null;

  constructor(
    private readonly network: Network,
    readonly host: SimHost,
    readonly localAddress: Address,
    readonly remoteAddress: Address,
    readonly remotePublicKey: Uint8Array,
    readonly channelBinding: Uint8Array,
  ) {
    host.openStreams.add(this);
  }

  start(handlers: StreamHandlers): void {
    if (this.handlers !== null) throw new Error('stream already started');
    this.handlers = handlers;
    if (this.inbox.length > 0 || this.inboxClose !== null) this.scheduleFlush();
  }

  write(chunk: Uint8Array): void {
    if (this.writeClosed || !this.host.alive || chunk.byteLength === 0) return;
    const copy = copyBytes(chunk); // the caller may reuse its buffer
    this.send(EventKind.StreamData, copy, copy.byteLength);
  }

  bufferedBytes(): number {
    return 0; // written bytes are handed to the simulated network at once
  }

  end(): void {
    if (this.writeClosed || !this.host.alive) return;
    this.writeClosed = true;
    this.send(EventKind.StreamFin, undefined, 0);
    // A crashed or partitioned peer never answers the FIN.
    const network = this.network;
    this.lingerTimer = network.scheduleSignal(network.nowMs + END_LINGER_MS, EventKind.StreamLinger, this.host, this);
  }

  destroy(): void {
    if (this.destroyed || !this.host.alive) return;
    this.destroyed = true;
    this.inbox.length = 0;
    if (!this.writeClosed) {
      this.writeClosed = true;
      this.send(EventKind.StreamReset, undefined, 0);
    }
    if (!this.closed) {
      this.closed = true;
      this.host.openStreams.delete(this);
      this.lingerTimer?.cancel();
      // onClose runs from the event loop, as in Node, not inside destroy().
      this.network.scheduleSignal(this.network.nowMs, EventKind.StreamLocalClose, this.host, this);
    }
  }

  /**
   * The host crashed: its code never runs again, so this end lets go of it. The peer's
   * end still points here until its own connection gives up; without this, every node a
   * dead node was connected to would keep the dead node's whole state reachable, and
   * through its connections other dead nodes, for as long as the simulation ran.
   */
  abandon(): void {
    this.handlers = null;
    this.inbox = [];
    this.inboxClose = null;
    this.lingerTimer?.cancel();
    this.lingerTimer = null;
  }

  /**
   * The host's process died on a machine that stays up: its OS ends the connection for it
   * with a FIN (RST when unread data was left is not modelled: the peer closes either way).
   */
  closeByOs(): void {
    this.closed = true;
    this.destroyed = true;
    if (this.writeClosed) return;
    this.writeClosed = true;
    this.send(EventKind.StreamFin, undefined, 0);
  }

  handleEvent(event: SimEvent): boolean {
    switch (event.kind) {
      case EventKind.StreamFlush:
        return this.flush();
      case EventKind.StreamLinger:
        this.lingerTimer = null;
        this.destroyed = true;
        return this.close(undefined);
      case EventKind.StreamLocalClose:
        if (this.handlers === null) {
          this.inboxClose = { error: undefined }; // handed over if `start` is still called
          return false;
        }
        this.handlers.onClose();
        return true;
      default:
        return this.receive(event);
    }
  }

  private send(kind: EventKind, payload: Uint8Array | undefined, byteLength: number): void {
    const peer = this.peer;
    const network = this.network;
    if (this.outBroken || !peer.host.alive) {
      network.stats.streamChunksDropped++;
      return;
    }
    if (network.isPartitioned(this.host, peer.host)) {
      this.outBroken = true;
      network.stats.streamChunksDropped++;
      return;
    }
    let deliveryMs = network.nowMs + network.sampleOneWayMs();
    if (network.sampleLoss()) {
      deliveryMs += RETRANSMIT_TIMEOUT_MS;
      network.stats.streamChunksRetransmitted++;
    }
    if (deliveryMs < this.lastDeliveryMs) deliveryMs = this.lastDeliveryMs;
    this.lastDeliveryMs = deliveryMs;
    network.schedule(deliveryMs, kind, peer.host, peer, payload, this, byteLength);
  }

  /** A segment from the peer arrives (the event loop already checked that this host is alive). */
  private receive(event: SimEvent): boolean {
    const sender = this.peer;
    const network = this.network;
    // What a killed process sent, and its OS's FIN, still arrive; nothing from a crashed machine does.
    if (sender.outBroken || !sender.host.machineUp) {
      network.stats.streamChunksDropped++;
      return false;
    }
    if (network.isPartitioned(sender.host, this.host)) {
      sender.outBroken = true;
      network.stats.streamChunksDropped++;
      return false;
    }
    if (this.closed || this.destroyed) return false;
    switch (event.kind) {
      case EventKind.StreamData: {
        const chunk = event.payload as Uint8Array;
        network.stats.streamChunksDelivered++;
        network.stats.streamBytesDelivered += chunk.byteLength;
        if (this.handlers === null || this.flushPending) {
          this.inbox.push(chunk);
          return false;
        }
        this.handlers.onData(chunk);
        return true;
      }
      case EventKind.StreamFin:
        // Like a Node socket without allowHalfOpen: answer the FIN with ours, then close.
        if (!this.writeClosed) {
          this.writeClosed = true;
          this.send(EventKind.StreamFin, undefined, 0);
        }
        return this.close(undefined);
      case EventKind.StreamReset:
        this.writeClosed = true;
        return this.close(new Error(`connection reset by ${formatAddress(this.remoteAddress)}`));
      default:
        return false;
    }
  }

  private close(error: Error | undefined): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.host.openStreams.delete(this);
    this.lingerTimer?.cancel();
    if (this.handlers === null || this.flushPending) {
      this.inboxClose = { error };
      return false;
    }
    this.handlers.onClose(error);
    return true;
  }

  private scheduleFlush(): void {
    this.flushPending = true;
    this.network.scheduleSignal(this.network.nowMs, EventKind.StreamFlush, this.host, this);
  }

  /** Hands over what arrived before `start`, from the event loop rather than inside `start`. */
  private flush(): boolean {
    this.flushPending = false;
    const handlers = this.handlers;
    if (handlers === null) return false;
    const chunks = this.inbox;
    this.inbox = [];
    let ran = false;
    for (const chunk of chunks) {
      if (this.destroyed) break; // the handler may destroy the stream mid-flush
      handlers.onData(chunk);
      ran = true;
    }
    const pendingClose = this.inboxClose;
    if (pendingClose !== null) {
      this.inboxClose = null;
      handlers.onClose(pendingClose.error);
      ran = true;
    }
    return ran;
  }
}

/** The client side of a connection attempt, driven by SYN, reply and timeout events. */
class ConnectAttempt implements EventTarget {
  private settled = false;
  private timeoutEvent: SimEvent | null = null;
  private readonly startMs: number;

  constructor(
    private readonly network: Network,
    private readonly client: SimHost,
    private readonly address: Address,
    private readonly timeoutMs: number,
    private readonly identity: ChannelIdentity,
    private readonly resolve: (stream: Stream) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.startMs = network.nowMs;
  }

  begin(): void {
    const network = this.network;
    const deadlineMs = this.startMs + this.timeoutMs;
    if (deadlineMs !== Infinity) {
      this.timeoutEvent = network.scheduleSignal(deadlineMs, EventKind.ConnectTimeout, this.client, this);
    }
    network.scheduleSignal(network.nowMs + network.sampleOneWayMs(), EventKind.ConnectSyn, this.client, this);
  }

  handleEvent(event: SimEvent): boolean {
    if (this.settled) return false;
    switch (event.kind) {
      case EventKind.ConnectSyn:
        this.onSynArrived();
        return false;
      case EventKind.ConnectReply:
        return this.onReply();
      case EventKind.ConnectTimeout:
        return this.settle(
          new ConnectError(`connect to ${formatAddress(this.address)} timed out after ${this.timeoutMs} ms`, 'timeout'),
        );
      default:
        return false;
    }
  }

  private target(): SimHost | undefined {
    const target = this.network.hostsByName.get(this.address.host);
    if (target?.behindNat && target.subnet !== this.client.subnet) return undefined; // the NAT drops unsolicited SYNs
    // A machine whose process died still answers, with a refusal (it listens no more); a crashed one never does.
    return target !== undefined && this.client.alive && target.machineUp && !this.network.isPartitioned(this.client, target) ? target : undefined;
  }

  /** An unknown, crashed or partitioned target never answers: the timeout will fire. */
  private onSynArrived(): void {
    if (this.target() === undefined) return;
    const network = this.network;
    network.scheduleSignal(network.nowMs + network.sampleOneWayMs(), EventKind.ConnectReply, this.client, this);
  }

  private onReply(): boolean {
    const target = this.target();
    if (target === undefined) return false; // the answer was lost to a crash or partition
    const listener = target.listeners.get(this.address.port);
    if (listener === undefined || !listener.open) {
      return this.settle(new ConnectError(`connect to ${formatAddress(this.address)}: connection refused`, 'refused'));
    }
    const network = this.network;
    const masqueraded = this.client.behindNat && this.client.subnet !== target.subnet;
    const clientAddress = Object.freeze({ host: masqueraded ? `${this.client.subnet}.nat` : this.client.name, port: this.client.allocateEphemeralPort() });
    const channelBinding = network.channelBinding();
    const clientEnd = new SimStream(network, this.client, clientAddress, Object.freeze({ ...this.address }), listener.identity.publicKey, channelBinding);
    const serverEnd = new SimStream(network, target, listener.address, clientAddress, this.identity.publicKey, channelBinding);
    clientEnd.peer = serverEnd;
    serverEnd.peer = clientEnd;
    this.settled = true;
    this.timeoutEvent?.cancel();
    network.stats.connectsEstablished++;
    listener.onStream(serverEnd);
    this.resolve(clientEnd);
    return true;
  }

  private settle(error: ConnectError): boolean {
    this.settled = true;
    this.timeoutEvent?.cancel();
    if (error.reason === 'refused') this.network.stats.connectsRefused++;
    else this.network.stats.connectsTimedOut++;
    this.reject(error);
    return true;
  }
}

/**
 * Opens a stream: resolved after one round trip when a listener exists, rejected
 * 'refused' after one round trip when none does, rejected 'timeout' after
 * `timeoutMs` when the host is unknown, crashed or partitioned away.
 */
export function connectStream(network: Network, client: SimHost, address: Address, timeoutMs: number, identity: ChannelIdentity): Promise<Stream> {
  return new Promise<Stream>((resolve, reject) => {
    const timeout = timeoutMs > 0 ? timeoutMs : 0; // NaN and negatives time out at once
    new ConnectAttempt(network, client, address, timeout, identity, resolve, reject).begin();
  });
}
