import { OverloadedError } from '../../errors.js';
import { nodeIdFromPublicKey } from '../../node/identity.js';
import type { RequestContext, ServiceComponents } from '../../node/service.js';
import {
  circuitCloseCodec,
  circuitDataCodec,
  circuitIncomingCodec,
  circuitOpenAnswerCodec,
  circuitOpenRequestCodec,
  dialBackAnswerCodec,
  dialBackRequestCodec,
  natRoutes,
  observeAnswerCodec,
  registerAnswerCodec,
  registerRequestCodec,
  reverseCodec,
  type IntroducedHost,
} from '../messages.js';
import { RelayLimits, type Circuit, type RelayOptions, type RelayRefusal } from '../relay/relay-limits.js';
import { BridgeRegistry, type BridgeRegistryOptions, type Registration } from './registry.js';

export interface AmbassadorOptions {
  registry: BridgeRegistryOptions;
  relay: RelayOptions;
  /** Dial-backs in progress at once; more are refused as overloaded. Default 8. */
  maxConcurrentDialBacks: number;
  /** Bounds each dial-back and each request the Ambassador makes to an end. Default 3 000 ms. */
  dialBackTimeoutMs: number;
}

const emptyPayload = new Uint8Array(0);

/**
 * The Ambassador role: answers what address a node is seen at, dials back to
 * the observed IP only, lists nodes that want bridging by subnetwork and
 * introduces them across subnetworks, asks a node behind NAT to dial a
 * reachable one (reversal), and relays circuits within `RelayLimits`.
 */
export class Ambassador {
  readonly registry: BridgeRegistry;
  readonly limits: RelayLimits;
  private dialBacksInFlight = 0;
  private sweepTimer: { cancel(): void } | undefined;
  /** Bytes relayed, for reports and the testbed. */
  relayedBytes = 0;

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: AmbassadorOptions,
  ) {
    this.registry = new BridgeRegistry(options.registry);
    this.limits = new RelayLimits(options.relay);
  }

  start(): void {
    const { route } = this.components;
    route(natRoutes.observe, (_payload, context) => observeAnswerCodec.encode([context.seenFrom.host, context.seenFrom.port]));
    route(natRoutes.dialBack, (payload, context) => this.dialBack(payload, context));
    route(natRoutes.register, (payload, context) => this.register(payload, context));
    route(natRoutes.circuitOpen, (payload, context) => this.openCircuit(payload, context));
    route(natRoutes.circuitData, (payload, context) => this.carry(payload, context));
    route(natRoutes.circuitClose, (payload, context) => this.closeByEnd(payload, context));
    this.scheduleSweep();
  }

  stop(): void {
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
  }

  private async dialBack(payload: Uint8Array, context: RequestContext): Promise<Uint8Array> {
    const [port, nonce] = dialBackRequestCodec.decode(payload);
    if (this.dialBacksInFlight >= this.options.maxConcurrentDialBacks) throw new OverloadedError('too many dial-backs in progress');
    this.dialBacksInFlight++;
    try {
      // The observed IP only: a node cannot make an Ambassador dial anyone else.
      const key = await this.components.reachability.probe({ host: context.seenFrom.host, port }, this.options.dialBackTimeoutMs);
      return dialBackAnswerCodec.encode([nonce, nodeIdFromPublicKey(key) === context.peer.id]);
    } catch {
      return dialBackAnswerCodec.encode([nonce, false]);
    } finally {
      this.dialBacksInFlight--;
    }
  }

  private register(payload: Uint8Array, context: RequestContext): Uint8Array {
    const [listenPort, reachable] = registerRequestCodec.decode(payload);
    const id = context.peer.id;
    const now = this.components.runtime.now();
    const subnetwork = context.seenFrom.host;
    // Reachable nodes are listed at the IP they were seen at, so no one can point others at a third party.
    const registration: Registration = { id, entry: { id, host: subnetwork, port: listenPort }, subnetwork, reachable };
    const refusal = reachable ? undefined : this.limits.reserve(id, subnetwork, now);
    if (refusal === undefined) this.registry.register(registration, now);
    else this.registry.remove(id);
    // A relayed node whose reservation lapsed could not be reached: it is not introduced.
    const introduced = this.registry.introductions(id, subnetwork, now).filter((other) => other.reachable || this.limits.hasReservation(other.id, now));
    if (reachable) this.askToReverse(introduced, registration);
    const hosts = introduced.map((other): IntroducedHost => [other.id, other.entry.host, other.entry.port, !other.reachable]);
    return registerAnswerCodec.encode([refusal ?? null, hosts]);
  }

  /** Nodes behind NAT that the reachable newcomer would otherwise reach through the relay dial it themselves. */
  private askToReverse(introduced: Registration[], reachable: Registration): void {
    const payload = reverseCodec.encode([reachable.id, reachable.entry.host, reachable.entry.port]);
    for (const other of introduced) {
      if (!other.reachable) this.components.notify(other.id, natRoutes.reverse, payload).catch(() => undefined);
    }
  }

  private async openCircuit(payload: Uint8Array, context: RequestContext): Promise<Uint8Array> {
    const [targetId] = circuitOpenRequestCodec.decode(payload);
    const now = this.components.runtime.now();
    const opened = this.registry.get(targetId) ? this.limits.open(context.peer.id, context.seenFrom.host, targetId, now) : 'no-reservation';
    if (typeof opened === 'string') return circuitOpenAnswerCodec.encode([opened]);
    try {
      await this.components.request(targetId, natRoutes.circuitIncoming, circuitIncomingCodec.encode([opened.id, context.peer.id]), {
        timeoutMs: this.options.dialBackTimeoutMs,
      });
    } catch {
      this.limits.close(opened.id);
      return circuitOpenAnswerCodec.encode(['no-reservation']);
    }
    // The ends authenticate each other with TLS over the circuit: the relay vouches for nobody.
    return circuitOpenAnswerCodec.encode([null, opened.id, this.components.nodeId]);
  }

  /** Forwards an end's bytes (TLS records) unchanged to the other end, within the circuit's byte and time limits. */
  private carry(payload: Uint8Array, context: RequestContext): Uint8Array {
    const [circuitId, , chunk] = circuitDataCodec.decode(payload);
    const circuit = this.limits.get(circuitId);
    const carried = this.limits.carry(circuitId, context.peer.id, chunk.length, this.components.runtime.now());
    if (typeof carried === 'string') {
      if (circuit) this.tellEnds(circuit, carried);
      return emptyPayload;
    }
    this.relayedBytes += chunk.length;
    this.components.notify(carried.toId, natRoutes.circuitDeliver, payload).catch(() => {
      const closed = this.limits.close(circuitId);
      if (closed) this.tellEnds(closed, 'unknown-circuit');
    });
    return emptyPayload;
  }

  private closeByEnd(payload: Uint8Array, context: RequestContext): Uint8Array {
    const [circuitId] = circuitCloseCodec.decode(payload);
    const circuit = this.limits.get(circuitId);
    if (!circuit || (circuit.sourceId !== context.peer.id && circuit.targetId !== context.peer.id)) return emptyPayload;
    this.limits.close(circuitId);
    const otherId = circuit.sourceId === context.peer.id ? circuit.targetId : circuit.sourceId;
    this.components.notify(otherId, natRoutes.circuitClosed, circuitCloseCodec.encode([circuitId, null])).catch(() => undefined);
    return emptyPayload;
  }

  private tellEnds(circuit: Circuit, reason: RelayRefusal): void {
    const payload = circuitCloseCodec.encode([circuit.id, reason]);
    for (const id of [circuit.sourceId, circuit.targetId]) this.components.notify(id, natRoutes.circuitClosed, payload).catch(() => undefined);
  }

  /** Circuits past their duration are closed even when idle. */
  private scheduleSweep(): void {
    const { runtime } = this.components;
    const intervalMs = Math.max(1_000, this.options.relay.maxCircuitDurationMs / 4);
    this.sweepTimer = runtime.setTimer(intervalMs, () => {
      for (const circuit of this.limits.expireCircuits(runtime.now())) this.tellEnds(circuit, 'circuit-expired');
      if (this.components.isRunning()) this.scheduleSweep();
    });
  }
}
