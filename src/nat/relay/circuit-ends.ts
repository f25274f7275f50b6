import { ConnectError, type Address, type ConnectOptions, type Stream } from '../../runtime/types.js';
import { nodeIdFromPublicKey } from '../../node/identity.js';
import type { RequestContext, ServiceComponents } from '../../node/service.js';
import { circuitCloseCodec, circuitDataCodec, circuitIncomingCodec, circuitOpenAnswerCodec, circuitOpenRequestCodec, natRoutes } from '../messages.js';
import { parseRelayedAddress, relayedAddress } from './relay-address.js';
import type { RelayRefusal } from './relay-limits.js';
import { RelayedStream, type CircuitLink } from './relayed-stream.js';

/** A relay would not open a circuit; `refusal` says why (docs/PROTOCOL.md). */
export class RelayRefusedError extends ConnectError {
  constructor(readonly refusal: RelayRefusal) {
    super(`the relay refused the circuit: ${refusal}`, 'refused');
  }
}

/** An incoming circuit's TLS handshake must finish by then, as a direct connection's must. */
const circuitHandshakeTimeoutMs = 5_000;
/** Circuits one node has open at once as an end (handshakes included); more are refused. */
const maxOpenCircuits = 64;
const emptyPayload = new Uint8Array(0);
/** What an end holds for a stream the pool has not started yet: a couple of frames. */
const maxEarlyBytes = 2 * 1024 * 1024;
/**
 * Bytes held for circuits not yet known here: the other end may answer (its HELLO) before
 * the relay's answer to our open arrives. Circuits are numbered per relay, so a few suffice.
 */
const maxUnclaimedBytes = 256 * 1024;

/**
 * The two ends of circuits on an ordinary node: dialling a relayed address
 * opens a circuit through its relay, runs TLS as the client over it and hands
 * the pool the secured stream; a relay announcing an incoming circuit (to a
 * node holding a reservation with it) makes this node the TLS server of the
 * other end. The relay forwards TLS records only.
 */
export class CircuitEnds {
  /** `relayId/circuitId` -> this end's stream. */
  private readonly streams = new Map<string, RelayedStream>();
  /** Deliveries for circuits this end has not been told of yet, oldest first. */
  private readonly unclaimed: Array<{ circuitKey: string; sequence: number; chunk: Uint8Array }> = [];
  private unclaimedBytes = 0;

  constructor(
    private readonly components: ServiceComponents,
    /** Relays this node holds a reservation with, by id, at the address it reached them. */
    private readonly relays: ReadonlyMap<string, Address>,
  ) {}

  get openCircuits(): number {
    return this.streams.size;
  }

  start(): void {
    const { route, reachability } = this.components;
    route(natRoutes.circuitIncoming, (payload, context) => this.incoming(payload, context));
    route(natRoutes.circuitDeliver, (payload, context) => this.deliver(payload, context));
    route(natRoutes.circuitClosed, (payload, context) => this.closed(payload, context));
    reachability.addDialer({ matches: (address) => parseRelayedAddress(address) !== undefined, connect: (address, options) => this.dial(address, options) });
  }

  stop(): void {
    for (const stream of this.streams.values()) stream.closedByPeer(new Error('the node is stopping'));
    this.streams.clear();
  }

  private async dial(address: Address, options: ConnectOptions): Promise<Stream> {
    const { peerId, relay } = parseRelayedAddress(address) as NonNullable<ReturnType<typeof parseRelayedAddress>>;
    if (this.streams.size >= maxOpenCircuits) throw new ConnectError(`${maxOpenCircuits} circuits are open already`, 'refused');
    const { runtime, reachability } = this.components;
    const startedAtMs = runtime.now();
    let answer;
    try {
      answer = circuitOpenAnswerCodec.decode(await this.components.request(relay, natRoutes.circuitOpen, circuitOpenRequestCodec.encode([peerId]), { timeoutMs: options.timeoutMs }));
    } catch (error) {
      throw new ConnectError(`relay ${relay.host}:${relay.port} unreachable: ${(error as Error).message}`, 'unreachable');
    }
    if (answer[0] !== null) throw new RelayRefusedError(answer[0]);
    const [, circuitId, relayId] = answer;
    const local = relayedAddress(this.components.nodeId, relay);
    const carrier = this.track(relayId, circuitId, new RelayedStream(local, address, this.link(relayId, circuitId), maxEarlyBytes));
    // TLS end to end: the key is the far end's own, proved through the relay, never the relay's word.
    const remainingMs = Math.max(1, options.timeoutMs - (runtime.now() - startedAtMs));
    const stream = await reachability.secure(carrier, 'client', remainingMs);
    if (nodeIdFromPublicKey(stream.remotePublicKey) !== peerId) {
      stream.destroy();
      throw new ConnectError(`the far end of the circuit through ${relay.host}:${relay.port} proved another key than peer ${peerId.slice(0, 16)}…`, 'unauthenticated');
    }
    return stream;
  }

  private incoming(payload: Uint8Array, context: RequestContext): Uint8Array {
    const relay = this.relays.get(context.peer.id);
    if (!relay) throw new ConnectError('no reservation with this relay', 'refused');
    if (this.streams.size >= maxOpenCircuits) throw new ConnectError(`${maxOpenCircuits} circuits are open already`, 'refused');
    const [circuitId, sourceId] = circuitIncomingCodec.decode(payload);
    const local = relayedAddress(this.components.nodeId, relay);
    const carrier = this.track(context.peer.id, circuitId, new RelayedStream(local, relayedAddress(sourceId, relay), this.link(context.peer.id, circuitId), maxEarlyBytes));
    const { reachability, logger } = this.components;
    reachability.secure(carrier, 'server', circuitHandshakeTimeoutMs).then(
      (stream) => {
        // The stream is addressed by the id the relay named: it must be the one TLS proved.
        if (nodeIdFromPublicKey(stream.remotePublicKey) === sourceId) return reachability.acceptStream(stream);
        logger.warn({ relay: context.peer.id, claimed: sourceId }, 'a circuit\'s source proved another key than the relay named: refused');
        stream.destroy();
      },
      (error: unknown) => logger.debug({ relay: context.peer.id, err: error }, 'circuit handshake failed'),
    );
    return emptyPayload;
  }

  private deliver(payload: Uint8Array, context: RequestContext): Uint8Array {
    const [circuitId, sequence, chunk] = circuitDataCodec.decode(payload);
    const circuitKey = key(context.peer.id, circuitId);
    const stream = this.streams.get(circuitKey);
    if (stream) stream.received(sequence, chunk);
    else this.holdUnclaimed(circuitKey, sequence, chunk);
    return emptyPayload;
  }

  private closed(payload: Uint8Array, context: RequestContext): Uint8Array {
    const [circuitId, reason] = circuitCloseCodec.decode(payload);
    const circuitKey = key(context.peer.id, circuitId);
    this.streams.get(circuitKey)?.closedByPeer(reason === null ? undefined : new RelayRefusedError(reason));
    this.streams.delete(circuitKey);
    return emptyPayload;
  }

  private track(relayId: string, circuitId: number, stream: RelayedStream): RelayedStream {
    const circuitKey = key(relayId, circuitId);
    this.streams.set(circuitKey, stream);
    for (let index = 0; index < this.unclaimed.length; ) {
      const held = this.unclaimed[index] as (typeof this.unclaimed)[number];
      if (held.circuitKey !== circuitKey) {
        index++;
        continue;
      }
      this.unclaimed.splice(index, 1);
      this.unclaimedBytes -= held.chunk.length;
      stream.received(held.sequence, held.chunk);
    }
    return stream;
  }

  private holdUnclaimed(circuitKey: string, sequence: number, chunk: Uint8Array): void {
    if (chunk.length > maxUnclaimedBytes) return;
    while (this.unclaimedBytes + chunk.length > maxUnclaimedBytes) this.unclaimedBytes -= (this.unclaimed.shift() as { chunk: Uint8Array }).chunk.length;
    this.unclaimed.push({ circuitKey, sequence, chunk });
    this.unclaimedBytes += chunk.length;
  }

  private link(relayId: string, circuitId: number): CircuitLink {
    const circuitKey = key(relayId, circuitId);
    const fail = (error: unknown) => {
      this.streams.get(circuitKey)?.closedByPeer(error as Error);
      this.streams.delete(circuitKey);
    };
    return {
      send: (sequence, chunk) => {
        this.components.notify(relayId, natRoutes.circuitData, circuitDataCodec.encode([circuitId, sequence, chunk])).catch(fail);
      },
      close: () => {
        this.streams.delete(circuitKey);
        this.components.notify(relayId, natRoutes.circuitClose, circuitCloseCodec.encode([circuitId, null])).catch(() => undefined);
      },
    };
  }
}

function key(relayId: string, circuitId: number): string {
  return `${relayId}/${circuitId}`;
}
