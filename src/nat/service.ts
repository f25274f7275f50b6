import { hostQualityRoute } from '../hosts/manager.js';
import type { KnownHost } from '../hosts/known-hosts.js';
import type { RequestContext, Service, ServiceComponents, ServiceFactory } from '../node/service.js';
import type { Address, TimerHandle } from '../runtime/types.js';
import type { HostEntry } from '../transport/vocabulary.js';
import { Ambassador, type AmbassadorOptions } from './ambassador/ambassador.js';
import { defaultBridgeRegistryOptions } from './ambassador/registry.js';
import { judgeMapping, type MappingOutcome, type PortMapper } from './mapping/port-mapper.js';
import {
  dialBackAnswerCodec,
  dialBackRequestCodec,
  natRoutes,
  observeAnswerCodec,
  registerAnswerCodec,
  registerRequestCodec,
  reverseCodec,
  type IntroducedHost,
} from './messages.js';
import { defaultPublicAddressOptions, PublicAddressTrust, type PublicAddressOptions, type TrustedAddress } from './reachability/public-address.js';
import { CircuitEnds } from './relay/circuit-ends.js';
import { relayedAddress } from './relay/relay-address.js';
import { defaultRelayOptions, type RelayRefusal } from './relay/relay-limits.js';

export interface NatOptions {
  /** Ambassadors a node registers with (and holds relay reservations with, behind NAT). Default 2. */
  maxAmbassadors: number;
  /** How often a node asks Ambassadors how they see it and renews its registrations; below the reservation TTL. Default 20 s. */
  refreshIntervalMs: number;
  /** Bounds each request to an Ambassador. Default 5 000 ms. */
  requestTimeoutMs: number;
  /** Reversals (dialling a host an Ambassador named) in progress at once; more are dropped. Default 8. */
  maxConcurrentReversals: number;
  publicAddress: PublicAddressOptions;
  /** Used when the node is an Ambassador. */
  ambassador: AmbassadorOptions;
  /** Maps the listen port on the router at spawn, unmaps it at stop (`upnpPortMapper()` on the real runtime). Default none. */
  portMapper: PortMapper | undefined;
}

export const defaultNatOptions: NatOptions = {
  maxAmbassadors: 2,
  refreshIntervalMs: 20_000,
  requestTimeoutMs: 5_000,
  maxConcurrentReversals: 8,
  publicAddress: defaultPublicAddressOptions,
  ambassador: { registry: defaultBridgeRegistryOptions, relay: defaultRelayOptions, maxConcurrentDialBacks: 8, dialBackTimeoutMs: 3_000 },
  portMapper: undefined,
};

export interface NatStatus {
  /** The public address this node may announce, once trusted. */
  publicAddress: TrustedAddress | undefined;
  /** What the last dial-back said; undefined before any. */
  reachable: boolean | undefined;
  /** Ambassadors this node is registered with, by id. */
  ambassadors: string[];
  /** Ambassadors holding a relay reservation for it (it is reachable through each at `<id>@<relay>`). */
  relays: Array<{ id: string; address: Address }>;
  /** The last refusal a relay gave, if any. */
  lastRefusal: RelayRefusal | undefined;
  openCircuits: number;
  /** What port mapping gave, when the node has a mapper. */
  mapping: MappingOutcome | undefined;
}

const emptyPayload = new Uint8Array(0);
/** How long after a `reachable: true` answer the Ambassador's dial-back may still reach the listener. */
const dialBackArrivalGraceMs = 1_000;

/**
 * NAT traversal for one node (SPEC §4). Every node asks the Ambassadors it
 * knows (known hosts whose quality has the flag) how they see it, trusts a
 * public IP once two agree, learns by dial-back whether it is reachable, and
 * registers for bridging: a reachable node is introduced as is, one behind NAT
 * holds relay reservations and is introduced at its relayed address. A node
 * with `ambassador: true` also runs the Ambassador role.
 */
export class NatService implements Service {
  readonly trust: PublicAddressTrust;
  /** Set on an Ambassador. */
  readonly ambassador: Ambassador | undefined;
  private readonly circuits: CircuitEnds;
  private readonly relays = new Map<string, Address>();
  private registeredWith = new Set<string>();
  private reachable: boolean | undefined;
  private lastRefusal: RelayRefusal | undefined;
  private mapping: MappingOutcome | undefined;
  private reversals = 0;
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: NatOptions,
  ) {
    this.trust = new PublicAddressTrust(options.publicAddress);
    this.circuits = new CircuitEnds(components, this.relays);
    this.ambassador = components.reachability.ambassador ? new Ambassador(components, options.ambassador) : undefined;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.circuits.start();
    this.components.route(natRoutes.reverse, (payload, context) => this.reverse(payload, context));
    if (this.options.portMapper) void this.mapPort(this.options.portMapper);
    if (this.ambassador) return this.ambassador.start();
    // A first round soon after spawn, once host management has met the bootstrap hosts.
    this.schedule(1_000 + this.components.random.int(1_000));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.ambassador?.stop();
    this.circuits.stop();
    this.trust.unmapped();
    await this.options.portMapper?.stop().catch((error: unknown) => this.components.logger.warn({ err: error }, 'port unmapping failed'));
  }

  status(): NatStatus {
    return {
      publicAddress: this.trust.trusted(this.components.runtime.now()),
      reachable: this.reachable,
      ambassadors: [...this.registeredWith],
      relays: [...this.relays].map(([id, address]) => ({ id, address })),
      lastRefusal: this.lastRefusal,
      openCircuits: this.circuits.openCircuits,
      mapping: this.mapping,
    };
  }

  /** Maps the listen port; a mapping whose public side is private (double NAT) is never announced. */
  private async mapPort(mapper: PortMapper): Promise<void> {
    const listen = this.components.reachability.listenAddress();
    try {
      this.mapping = judgeMapping(await mapper.map(listen.port, listen.host));
    } catch (error) {
      this.mapping = { state: 'failed', reason: (error as Error).message };
    }
    if (!this.running) return;
    if (this.mapping.state === 'mapped') this.trust.mapping(this.mapping.external, this.components.runtime.now());
    this.components.logger.info({ mapping: this.mapping }, 'port mapping');
  }

  /** The port others dial: the router's mapped one when there is one. */
  private announcedPort(): number {
    return this.mapping?.state === 'mapped' ? this.mapping.external.port : this.components.reachability.listenAddress().port;
  }

  /** One round now (tests and the CLI call it; the timer calls it every `refreshIntervalMs`). */
  async refresh(): Promise<void> {
    const ambassadors = this.pickAmbassadors();
    await Promise.all(ambassadors.map((ambassador) => this.observe(ambassador)));
    const first = ambassadors[0];
    if (first) this.reachable = await this.dialBack(first);
    const registered = await Promise.all(ambassadors.map((ambassador) => this.register(ambassador)));
    this.registeredWith = new Set(ambassadors.filter((_, index) => registered[index]).map((ambassador) => ambassador.id));
    for (const id of this.relays.keys()) if (!this.registeredWith.has(id)) this.relays.delete(id);
  }

  private schedule(delayMs: number): void {
    this.timer = this.components.runtime.setTimer(delayMs, () => {
      if (!this.running || !this.components.isRunning()) return;
      this.refresh()
        .catch((error: unknown) => this.components.logger.debug({ err: error }, 'NAT refresh failed'))
        .finally(() => this.running && this.schedule(this.options.refreshIntervalMs));
    });
  }

  /** Known Ambassadors, those already registered with first, so reservations stay put. */
  private pickAmbassadors(): KnownHost[] {
    const ambassadors = this.components.knownHosts.list().filter((host) => host.quality?.ambassador === true);
    ambassadors.sort((a, b) => Number(this.registeredWith.has(b.id)) - Number(this.registeredWith.has(a.id)));
    return ambassadors.slice(0, this.options.maxAmbassadors);
  }

  private async observe(ambassador: KnownHost): Promise<void> {
    try {
      const [host] = observeAnswerCodec.decode(await this.ask(ambassador, natRoutes.observe, emptyPayload));
      this.trust.report(ambassador.id, host, this.components.runtime.now());
    } catch (error) {
      this.components.logger.debug({ ambassador: ambassador.id, err: error }, 'observe failed');
    }
  }

  private async dialBack(ambassador: KnownHost): Promise<boolean | undefined> {
    const nonce = this.components.random.bytes(16);
    const watch = this.components.reachability.watchInbound(ambassador.id);
    try {
      const request = dialBackRequestCodec.encode([this.announcedPort(), nonce]);
      // The Ambassador's own dial is bounded by its dial-back timeout, below this one.
      const [echoed, reachable] = dialBackAnswerCodec.decode(await this.ask(ambassador, natRoutes.dialBack, request, 2 * this.options.requestTimeoutMs));
      if (Buffer.compare(echoed, nonce) !== 0) return undefined;
      // Its word is not enough: its dial-back must have reached this node's own listener, as
      // the Ambassador's key in a TLS handshake there. Its probe may land just after its answer.
      return reachable && (await watch.arrived(dialBackArrivalGraceMs));
    } catch {
      return this.reachable;
    } finally {
      watch.stop();
    }
  }

  private async register(ambassador: KnownHost): Promise<boolean> {
    const { reachability } = this.components;
    try {
      const request = registerRequestCodec.encode([this.announcedPort(), this.reachable === true]);
      const [refusal, introduced] = registerAnswerCodec.decode(await this.ask(ambassador, natRoutes.register, request));
      this.lastRefusal = refusal ?? undefined;
      if (refusal === null && this.reachable !== true) this.relays.set(ambassador.id, ambassador.address);
      else this.relays.delete(ambassador.id);
      reachability.introduceHosts(introduced.map((host) => introducedEntry(host, ambassador.address)));
      return true;
    } catch (error) {
      this.components.logger.debug({ ambassador: ambassador.id, err: error }, 'registration failed');
      this.relays.delete(ambassador.id);
      return false;
    }
  }

  private ask(ambassador: KnownHost, route: string, payload: Uint8Array, timeoutMs = this.options.requestTimeoutMs): Promise<Uint8Array> {
    return this.components.request({ id: ambassador.id, address: ambassador.address }, route, payload, { timeoutMs });
  }

  /** An Ambassador this node registered with names a reachable host: dial it, so it need not relay to us. */
  private reverse(payload: Uint8Array, context: RequestContext): Uint8Array {
    if (!this.registeredWith.has(context.peer.id) || this.reversals >= this.options.maxConcurrentReversals) return emptyPayload;
    const [id, host, port] = reverseCodec.decode(payload);
    if (id === this.components.nodeId) return emptyPayload;
    this.reversals++;
    this.components.reachability.introduceHosts([{ id, host, port }]);
    this.components
      .request({ id, address: { host, port } }, hostQualityRoute, emptyPayload, { timeoutMs: this.options.requestTimeoutMs })
      .catch(() => undefined)
      .finally(() => this.reversals--);
    return emptyPayload;
  }
}

/** A relayed host is reached through the Ambassador that introduced it. */
function introducedEntry([id, host, port, relayed]: IntroducedHost, ambassador: Address): HostEntry {
  if (!relayed) return { id, host, port };
  const address = relayedAddress(id, ambassador);
  return { id, host: address.host, port: address.port };
}

/** The NAT traversal service: `createNode({ services: { ...defaultServices(), nat: nat() } })`. */
export function nat(options: Partial<NatOptions> = {}): ServiceFactory<NatService> {
  const merged: NatOptions = { ...defaultNatOptions, ...options };
  return (components) => new NatService(components, merged);
}
