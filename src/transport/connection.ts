import {
  ButterError,
  ConnectionClosedError,
  errorFromRemote,
  OverloadedError,
  PayloadTooLargeError,
  ProtocolError,
  TimeoutError,
} from '../errors.js';
import type { Address, ChannelIdentity, Runtime, Stream, TimerHandle } from '../runtime/types.js';
import { decodeEnvelope, EnvelopeError, encodeEnvelopeFrame, maxErrorMessageLength, maxHelloFrameBytes, type Envelope, type HelloMessage } from './envelope.js';
import { FrameDecoder } from './frames.js';
import { TokenBucket } from './token-bucket.js';
import { NetworkKeyCheck, networkKeyProof, startsWithNetworkKeyProof } from './network-key.js';
import { tcpAddress } from './vocabulary.js';
import type { TransportOptions } from './options.js';
import type { TrafficCounters } from './traffic.js';

/** What the local side announces in its HELLO (the observed address is each stream's own). */
export type LocalHello = Omit<HelloMessage, 'kind' | 'observed'>;
export type RemoteHello = Omit<HelloMessage, 'kind'>;

/** How the node secures its streams: the key pair it proves itself with, and its private network's key if any. */
export interface ChannelSecurity {
  readonly identity: ChannelIdentity;
  /** 32 bytes; when set, both ends prove it (docs/PROTOCOL.md, "Handshake") before any HELLO. */
  readonly networkKey: Uint8Array | undefined;
}

/** Where inbound requests and notifications go; the node's router implements it. */
export interface InboundDispatcher {
  /** The node's key pair and network key: the pool dials with the one, every connection proves the other. */
  readonly channel: ChannelSecurity;
  /** Checks the route synchronously, so an unknown route is answered without running anything. */
  hasRoute(route: string): boolean;
  handleRequest(route: string, payload: Uint8Array, connection: Connection): Promise<Uint8Array>;
  handleNotify(route: string, payload: Uint8Array, connection: Connection): void;
  /** A peer's HELLO was checked (e.g. network id) and may be refused by throwing. */
  acceptHello(hello: RemoteHello, connection: Connection): void;
  /** A peer failed the network key proof and was dropped: for the log (a refused HELLO is acceptHello's to log). */
  networkKeyRefused(error: Error, connection: Connection): void;
}

/** Where a connection charges what it buffers: the pool's caps for all of them together. */
export interface BufferCharges {
  /** Charges `bytes` more of a partial inbound frame held by `connection`; false when they cannot be had (the connection is then closed). */
  charge(connection: Connection, bytes: number): boolean;
  release(bytes: number): void;
  /** What `connection`'s send buffer holds after a write (0 once it closed); the pool may close connections to keep its cap. */
  sendBuffered(connection: Connection, bytes: number): void;
}

interface PendingRequest {
  resolve(payload: Uint8Array): void;
  reject(error: Error): void;
  route: string;
  timeoutMs: number;
  sentAt: number;
  deadline: number;
}

type ConnectionState = 'handshaking' | 'open' | 'closed';

/**
 * One multiplexed connection to a peer: a HELLO each way, then any number of
 * concurrent requests matched to replies by request id. Every inbound byte is
 * untrusted: frames are bounded, envelopes validated, and a misbehaving peer
 * gets typed error replies and, past a limit, a closed connection.
 */
export class Connection {
  readonly ready: Promise<RemoteHello>;
  remote: RemoteHello | undefined;
  /** Where the peer accepts connections (its observed host and announced port); unset if it accepts none. */
  peerAddress: Address | undefined;
  lastActivityAt: number;
  private lastReceivedAt = -Infinity;
  private receivedAny = false;
  private state: ConnectionState = 'handshaking';
  private endedByPeer = false;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, PendingRequest>();
  private nextRequestId = 1;
  private activeHandlers = 0;
  private protocolViolations = 0;
  private handshakeTimer: TimerHandle | undefined;
  /** One timer per connection, armed for the earliest deadline of the pending requests. */
  private timeoutTimer: TimerHandle | undefined;
  private timeoutTimerAt = Infinity;
  private readonly closeListeners: Array<() => void> = [];
  private settleReady!: { resolve(hello: RemoteHello): void; reject(error: Error): void };
  /** On a private network: the peer's key proof, still awaited; nothing else is read or sent before it. */
  private networkKeyCheck: NetworkKeyCheck | undefined;
  /** Bytes of the partial frame charged to the pool's inbound cap. */
  private chargedBytes = 0;
  private readonly requestRate: TokenBucket;

  constructor(
    private readonly runtime: Runtime,
    readonly stream: Stream,
    private readonly local: LocalHello,
    private readonly dispatcher: InboundDispatcher,
    private readonly options: TransportOptions,
    private readonly traffic: TrafficCounters,
    private readonly buffers: BufferCharges,
  ) {
    this.decoder = new FrameDecoder(options.maxFrameBytes, maxHelloFrameBytes);
    this.lastActivityAt = runtime.now();
    this.requestRate = new TokenBucket(options.maxRequestsPerSecond, options.requestBurst, this.lastActivityAt);
    this.ready = new Promise<RemoteHello>((resolve, reject) => {
      this.settleReady = { resolve, reject };
    });
    // A connection that dies before its handshake must not leave an unhandled rejection behind.
    this.ready.catch(() => undefined);
    this.handshakeTimer = runtime.setTimer(options.handshakeTimeoutMs, () =>
      this.abort(new TimeoutError(`no HELLO within ${options.handshakeTimeoutMs} ms`)),
    );
    stream.start({
      onData: (chunk) => this.receive(chunk),
      onClose: (error) => {
        if (this.state !== 'closed') this.endedByPeer = true;
        this.closed(() => new ConnectionClosedError('connection closed by peer', { cause: error }));
      },
    });
    const { networkKey } = dispatcher.channel;
    if (networkKey === undefined) {
      this.sendHello();
    } else {
      this.networkKeyCheck = new NetworkKeyCheck(networkKey, stream.channelBinding, stream.remotePublicKey);
      stream.write(networkKeyProof(networkKey, stream.channelBinding, local.publicKey));
    }
  }

  private sendHello(): void {
    this.send({ kind: 'hello', ...this.local, observed: tcpAddress(this.stream.remoteAddress) });
  }

  /** The bytes after the peer's key proof once it checks out; undefined while it is incomplete or after it failed. */
  private checkNetworkKey(check: NetworkKeyCheck, chunk: Uint8Array): Uint8Array | undefined {
    let rest: Uint8Array | undefined;
    try {
      rest = check.push(chunk);
    } catch (error) {
      // The peer may not speak frames at all: no error reply, just hang up.
      this.dispatcher.networkKeyRefused(error as Error, this);
      this.abort(error as Error);
      return undefined;
    }
    if (rest === undefined) return undefined;
    this.networkKeyCheck = undefined;
    this.sendHello();
    return rest;
  }

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  /** When anything last arrived from the peer (-Infinity before the first byte). */
  get lastReceivedAtMs(): number {
    return this.lastReceivedAt;
  }

  /** The peer's side ended it (its FIN or RST) before this side closed it. */
  get closedByPeer(): boolean {
    return this.endedByPeer;
  }

  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Bytes of a partial frame from the peer this connection holds (charged to the node's inbound cap). */
  get heldInboundBytes(): number {
    return this.chargedBytes;
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** Sends a request and resolves with the peer's reply payload. */
  request(route: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.state === 'closed') return Promise.reject(new ConnectionClosedError('connection is closed'));
    if (payload.length > this.options.maxPayloadBytes) {
      return Promise.reject(new PayloadTooLargeError(`payload of ${payload.length} bytes exceeds ${this.options.maxPayloadBytes}`));
    }
    if (this.pending.size >= this.options.maxPendingRequests) {
      return Promise.reject(new OverloadedError(`${this.pending.size} requests already pending on this connection`));
    }
    const requestId = this.allocateRequestId();
    return new Promise<Uint8Array>((resolve, reject) => {
      const sentAt = this.runtime.now();
      const deadline = sentAt + timeoutMs;
      this.pending.set(requestId, { resolve, reject, route, timeoutMs, sentAt, deadline });
      if (deadline < this.timeoutTimerAt) this.armTimeout(deadline);
      this.send({ kind: 'request', requestId, route, payload }, route);
    });
  }

  /** Sends a one-way message; nothing comes back, not even an error. */
  notify(route: string, payload: Uint8Array): void {
    if (this.state === 'closed') throw new ConnectionClosedError('connection is closed');
    if (payload.length > this.options.maxPayloadBytes) {
      throw new PayloadTooLargeError(`payload of ${payload.length} bytes exceeds ${this.options.maxPayloadBytes}`);
    }
    this.send({ kind: 'notify', route, payload }, route);
  }

  /** Flushes what is queued, then closes; pending requests fail with CONNECTION_CLOSED. */
  close(): void {
    if (this.state === 'closed') return;
    this.stream.end();
    this.closed(() => new ConnectionClosedError('connection closed locally'));
  }

  /** Drops the connection at once to make room for another (admission control): nothing is flushed. */
  evict(reason: string): void {
    this.abort(new ConnectionClosedError(reason));
  }

  private allocateRequestId(): number {
    // Ids wrap at 2^32 and skip 0 (reserved for connection-level errors) and ids still in use.
    do {
      this.nextRequestId = this.nextRequestId >= 0xffffffff ? 1 : this.nextRequestId + 1;
    } while (this.pending.has(this.nextRequestId));
    return this.nextRequestId;
  }

  private armTimeout(deadline: number): void {
    this.timeoutTimer?.cancel();
    this.timeoutTimerAt = deadline;
    this.timeoutTimer = this.runtime.setTimer(deadline - this.runtime.now(), () => this.expireRequests());
  }

  private disarmTimeout(): void {
    this.timeoutTimer?.cancel();
    this.timeoutTimer = undefined;
    this.timeoutTimerAt = Infinity;
  }

  /** Fails every request past its deadline, then re-arms for the next one. */
  private expireRequests(): void {
    this.timeoutTimer = undefined;
    this.timeoutTimerAt = Infinity;
    const now = this.runtime.now();
    let nextDeadline = Infinity;
    let peerSilent = false;
    for (const [requestId, request] of this.pending) {
      if (request.deadline > now) {
        nextDeadline = Math.min(nextDeadline, request.deadline);
        continue;
      }
      this.pending.delete(requestId);
      request.reject(new TimeoutError(`request to route "${request.route}" timed out after ${Math.round(request.timeoutMs)} ms`));
      // Nothing at all heard since the request left: the peer or the path is dead (a crashed
      // host sends no FIN), so stop routing requests into this connection.
      if (this.lastReceivedAt < request.sentAt) peerSilent = true;
    }
    if (peerSilent) this.abort(new ConnectionClosedError('peer went silent'));
    else if (nextDeadline < Infinity) this.armTimeout(nextDeadline);
  }

  private send(message: Envelope, route = ''): void {
    if (this.state === 'closed') return;
    if (this.stream.bufferedBytes() > this.options.maxBufferedWriteBytes) {
      this.abort(new OverloadedError('peer is not reading: send buffer full'));
      return;
    }
    this.lastActivityAt = this.runtime.now();
    const frame = encodeEnvelopeFrame(message);
    this.traffic.record(message.kind, route, frame.length);
    this.stream.write(frame);
    this.buffers.sendBuffered(this, this.stream.bufferedBytes());
  }

  private receive(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.lastReceivedAt = this.lastActivityAt = this.runtime.now();
    if (this.networkKeyCheck) {
      const rest = this.checkNetworkKey(this.networkKeyCheck, chunk);
      if (rest === undefined) return;
      chunk = rest;
    }
    const firstChunk = !this.receivedAny;
    this.receivedAny = true;
    let bodies: Uint8Array[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (error) {
      // A keyed peer's proof reads as an oversized frame here; counted as a key refusal so that operators see why.
      // (A proof is written at once, so it is the stream's first chunk in practice.)
      if (firstChunk && startsWithNetworkKeyProof(chunk)) this.dispatcher.networkKeyRefused(new ProtocolError('peer proves a network key; this node has none'), this);
      // Framing is lost: say why, then hang up.
      this.sendError(0, error as ButterError);
      this.fail(error as Error);
      return;
    }
    if (!this.chargeHeldBytes()) return;
    for (const body of bodies) {
      if (!this.isOpen) return; // an earlier frame of this chunk closed the connection
      this.receiveFrame(body);
    }
  }

  /** Brings the charge to what the decoder holds now; false (and the connection dropped) when the cap has no room. */
  private chargeHeldBytes(): boolean {
    const held = this.decoder.pendingBytes();
    if (held < this.chargedBytes) this.buffers.release(this.chargedBytes - held);
    else if (held > this.chargedBytes && !this.buffers.charge(this, held - this.chargedBytes)) {
      this.abort(new OverloadedError(`no room for ${held} more inbound bytes: the node's inbound buffers are full`));
      return false;
    }
    this.chargedBytes = held;
    return true;
  }

  private receiveFrame(body: Uint8Array): void {
    let message: Envelope;
    try {
      message = decodeEnvelope(body);
    } catch (error) {
      this.violation(error instanceof EnvelopeError ? error.requestId : 0, error as ProtocolError);
      return;
    }
    if (this.state === 'handshaking') {
      this.receiveHello(message);
      return;
    }
    switch (message.kind) {
      case 'hello':
        this.violation(0, new ProtocolError('duplicate HELLO'));
        return;
      case 'request':
        this.receiveRequest(message.requestId, message.route, message.payload);
        return;
      case 'notify':
        this.receiveNotify(message.route, message.payload);
        return;
      case 'response': {
        const request = this.settle(message.requestId);
        if (message.payload.length > this.options.maxPayloadBytes) {
          request?.reject(new PayloadTooLargeError(`reply of ${message.payload.length} bytes exceeds ${this.options.maxPayloadBytes}`));
        } else {
          request?.resolve(message.payload);
        }
        return;
      }
      case 'error': {
        if (message.requestId === 0) return; // the peer complains about something we sent; nothing pending to fail
        this.settle(message.requestId)?.reject(errorFromRemote(message.code, message.message));
        return;
      }
    }
  }

  private receiveHello(message: Envelope): void {
    if (message.kind !== 'hello') {
      this.sendError(0, new ProtocolError('expected HELLO first'));
      this.fail(new ProtocolError(`expected HELLO, got ${message.kind}`));
      return;
    }
    const { kind: _kind, ...hello } = message;
    try {
      this.dispatcher.acceptHello(hello, this);
    } catch (error) {
      this.sendError(0, error instanceof ButterError ? error : new ProtocolError(String(error)));
      this.fail(error as Error);
      return;
    }
    this.handshakeTimer?.cancel();
    this.handshakeTimer = undefined;
    this.remote = hello;
    this.state = 'open';
    this.settleReady.resolve(hello);
  }

  private settle(requestId: number): PendingRequest | undefined {
    const request = this.pending.get(requestId);
    if (!request) return undefined; // a late reply to a request that already timed out
    this.pending.delete(requestId);
    if (this.pending.size === 0) this.disarmTimeout(); // most replies come long before the timeout: no wake-up for nothing
    return request;
  }

  private receiveRequest(requestId: number, route: string, payload: Uint8Array): void {
    // The frame limit leaves room for the envelope, so a payload can fit a frame and still be too large.
    if (payload.length > this.options.maxPayloadBytes) {
      this.sendError(requestId, new PayloadTooLargeError(`payload of ${payload.length} bytes exceeds ${this.options.maxPayloadBytes}`));
      return;
    }
    if (!this.dispatcher.hasRoute(route)) {
      this.sendError(requestId, { code: 'UNKNOWN_ROUTE', message: `no route "${route}"` });
      return;
    }
    if (!this.requestRate.take(this.runtime.now())) {
      this.sendError(requestId, new OverloadedError(`more than ${this.options.maxRequestsPerSecond} requests per second`));
      return;
    }
    if (this.activeHandlers >= this.options.maxConcurrentHandlers) {
      this.sendError(requestId, new OverloadedError(`${this.activeHandlers} requests already being handled`));
      return;
    }
    this.activeHandlers += 1;
    this.dispatcher.handleRequest(route, payload, this).then(
      (reply) => {
        this.activeHandlers -= 1;
        if (!(reply instanceof Uint8Array)) {
          this.sendError(requestId, { code: 'HANDLER_FAILED', message: `handler of "${route}" returned no Uint8Array` });
        } else if (reply.length > this.options.maxPayloadBytes) {
          this.sendError(requestId, new PayloadTooLargeError(`reply of ${reply.length} bytes exceeds ${this.options.maxPayloadBytes}`));
        } else {
          this.send({ kind: 'response', requestId, payload: reply }, route);
        }
      },
      (error: unknown) => {
        this.activeHandlers -= 1;
        const reason = error instanceof Error ? error.message : String(error);
        this.sendError(requestId, { code: 'HANDLER_FAILED', message: reason });
      },
    );
  }

  private receiveNotify(route: string, payload: Uint8Array): void {
    // One-way: nobody to tell of a refusal.
    if (payload.length > this.options.maxPayloadBytes || !this.dispatcher.hasRoute(route) || !this.requestRate.take(this.runtime.now())) return;
    this.dispatcher.handleNotify(route, payload, this);
  }

  private violation(requestId: number, error: ProtocolError): void {
    this.sendError(requestId, error);
    this.protocolViolations += 1;
    if (this.state === 'handshaking' || this.protocolViolations > this.options.maxProtocolViolations) this.fail(error);
  }

  private sendError(requestId: number, error: { code: string; message: string }): void {
    this.send({ kind: 'error', requestId, code: error.code, message: error.message.slice(0, maxErrorMessageLength) });
  }

  /** Closes after flushing the error reply already queued: the peer is talking, just wrongly. */
  private fail(error: Error): void {
    if (this.state === 'closed') return;
    this.stream.end();
    this.closed(error);
  }

  /** Drops the connection without flushing: the peer is silent or not reading. */
  private abort(error: Error): void {
    if (this.state === 'closed') return;
    this.stream.destroy();
    this.closed(error);
  }

  /**
   * `reason` may be given as a function: it is built only when someone sees it (a handshake
   * still waited on, requests still pending). Most connections close idle, and an error's
   * stack trace is most of what closing one costs.
   */
  private closed(reason: Error | (() => Error)): void {
    if (this.state === 'closed') return;
    const handshaking = this.state === 'handshaking';
    this.state = 'closed';
    this.buffers.release(this.chargedBytes);
    this.chargedBytes = 0;
    this.buffers.sendBuffered(this, 0);
    this.handshakeTimer?.cancel();
    this.timeoutTimer?.cancel();
    if (handshaking || this.pending.size > 0) {
      const error = typeof reason === 'function' ? reason() : reason;
      if (handshaking) this.settleReady.reject(error);
      const failure = error instanceof ConnectionClosedError ? error : new ConnectionClosedError(error.message, { cause: error });
      for (const request of this.pending.values()) request.reject(failure);
      this.pending.clear();
    }
    for (const listener of this.closeListeners) listener();
  }
}
