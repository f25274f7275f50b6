import {
  ConnectionClosedError,
  InvalidArgumentError,
  InvalidConfigError,
  NodeStoppedError,
  PayloadTooLargeError,
  PeerUnreachableError,
  ProtocolError,
  TimeoutError,
} from '../errors.js';
import { DiscoveryService } from '../discovery/service.js';
import type { DiscoveryOptions } from '../discovery/core.js';
import { KnownHosts, type HostQuality } from '../hosts/known-hosts.js';
import { HostManager, hostQualityRoute, peerExchangeRoute, type HostManagementOptions } from '../hosts/manager.js';
import { toEntry } from '../hosts/messages.js';
import { qualityLimits } from '../hosts/quality.js';
import { formatAddress, ListenError, parseAddress, type Address, type Listener, type Runtime, type Stream } from '../runtime/types.js';
import type { Connection, InboundDispatcher, RemoteHello } from '../transport/connection.js';
import { routePattern } from '../transport/envelope.js';
import type { TransportOptions } from '../transport/options.js';
import { ConnectionPool, type DialTarget } from '../transport/pool.js';
import { isNodeId, tcpAddress } from '../transport/vocabulary.js';
import { knownHostsDirectory, PersistedHosts } from '../hosts/persisted-hosts.js';
import { AddressBook } from './address-book.js';
import { withDialers } from './dialers.js';
import { ObservedAddresses } from './observed-addresses.js';
import { TrafficCounters } from '../transport/traffic.js';
import { nodeIdFromPublicKey, signerOf, type Identity } from './identity.js';
import type { Logger } from './logger.js';
import type { MemoryBudget } from './memory.js';
import type {
  Dialer,
  PeerFailureListener,
  PeerInfo,
  PeerRef,
  ReachabilityHooks,
  RequestContext,
  RequestOptions,
  Service,
  ServiceComponents,
  ServiceFactories,
  ServiceMap,
  ServiceRouteHandler,
} from './service.js';

/** A server behaviour: answers one route, like an HTTP handler; it gets the node with its services. */
export type RouteHandler<S extends ServiceMap = ServiceMap> = (
  node: ButterNode<S>,
  payload: Uint8Array,
  context: RequestContext,
) => Promise<Uint8Array> | Uint8Array;

/** A client behaviour: runs from spawn until the signal aborts at stop. */
export type ClientBehaviour<S extends ServiceMap = ServiceMap> = (node: ButterNode<S>, signal: AbortSignal) => Promise<void> | void;

/** Everything a node is built from; `createNode` fills it from user options. */
export interface NodeComponents<S extends ServiceMap = ServiceMap> {
  services: ServiceFactories<S>;
  dataDir: string | undefined;
  runtime: Runtime;
  identity: Identity;
  memory: MemoryBudget;
  logger: Logger;
  listenHost: string;
  listenPort: number;
  networkId: string;
  /** A private network's 32-byte key: peers without it are refused. Undefined on a public network. */
  networkKey: Uint8Array | undefined;
  bootstrap: Address[];
  requestTimeoutMs: number;
  transport: TransportOptions;
  hosts: HostManagementOptions;
  discovery: DiscoveryOptions;
  /** Announced in the node's quality: a publicly reachable node that bridges subnetworks. */
  ambassador: boolean;
  /** Announced in the node's quality: a geographic or infrastructure tag. */
  zone: string | undefined;
}

type NodeState = 'created' | 'running' | 'stopping' | 'stopped';

/** A route's handler as the node keeps it: services' and the user's alike. */
type InboundHandler = (payload: Uint8Array, context: RequestContext) => Promise<Uint8Array> | Uint8Array;

const routeNamePattern = new RegExp(routePattern);
/** How long stop waits for client behaviours to notice their abort signal. */
const behaviourStopGraceMs = 5_000;

/**
 * A Butter node: an identity, a memory allocation, routes it serves, client
 * behaviours it runs, the services it was created with (`node.services`), and
 * one multiplexed connection per peer. All I/O goes through the injected
 * runtime, so the same node runs on real sockets and in the simulator.
 */
export class ButterNode<S extends ServiceMap = ServiceMap> {
  readonly id: string;
  readonly runtime: Runtime;
  readonly memory: MemoryBudget;
  readonly knownHosts: KnownHosts;
  /** Keeps `knownHosts` alive and diverse; `hosts.report()` shows qualities, classes and diversity. */
  readonly hosts: HostManager;
  /** LAN discovery by multicast; `discovery.stats` counts the datagrams it dropped. */
  readonly discovery: DiscoveryService;
  readonly logger: Logger;
  /** The node's services by name, typed: `node.services.storage.store(...)` with the default set. */
  readonly services: S;
  /** What this node sent, by message label; protocol modules record their datagrams here too. */
  readonly traffic = new TrafficCounters();
  private readonly routes = new Map<string, InboundHandler>();
  /** Routes each service registered while running, removed when it stops. */
  private readonly serviceRoutes = new Map<string, string[]>();
  /** Client behaviours, bound to this node. */
  private readonly behaviours: Array<(signal: AbortSignal) => Promise<void> | void> = [];
  private readonly peerFailureListeners = new Set<PeerFailureListener>();
  private readonly closedByPeerListeners = new Set<(peerId: string) => void>();
  /** Where peers accept connections, from the HELLOs they proved. */
  private readonly addressBook = new AddressBook();
  private readonly observed = new ObservedAddresses();
  /** Services' ways to reach addresses the runtime cannot dial (relayed ones). */
  private readonly dialers: Dialer[] = [];
  /** Peers whose next connection to this node's listener a service waits for (a dial-back), one entry per wait. */
  private readonly inboundWatches = new Set<{ peerId: string; arrived(): void }>();
  /** The known-host list on disk, with a data directory, and what the last start read back from it. */
  private persistedHosts: PersistedHosts | undefined;
  private restoredHosts: Address[] = [];
  private state: NodeState = 'created';
  private listener: Listener | undefined;
  private pool: ConnectionPool | undefined;
  /** Services started by the current spawn, in start order. */
  private startedServices: Array<[string, Service]> = [];
  private behavioursAbort: AbortController | undefined;
  private runningBehaviours: Promise<void>[] = [];
  private spawnedAt = 0;
  private networkKeyRefusalCount = 0;
  /** In-flight spawn and stop, shared by concurrent callers. */
  private spawning: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly components: NodeComponents<S>) {
    this.id = components.identity.nodeId;
    this.runtime = components.runtime;
    this.memory = components.memory;
    this.logger = components.logger;
    this.knownHosts = new KnownHosts(components.memory.knownHostsCapacity);
    this.hosts = new HostManager(
      {
        runtime: this.runtime,
        knownHosts: this.knownHosts,
        selfId: this.id,
        logger: this.logger,
        localQuality: () => this.quality(),
        request: (address, route, payload, timeoutMs) => this.request(address, route, payload, { timeoutMs }),
        identify: async (address) => (await this.connect(address)).id,
        onPeerFailure: (listener) => this.onPeerFailure(listener),
        bootstrap: () => ({ addresses: this.bootstrapAddresses(), configured: this.components.bootstrap }),
      },
      components.hosts,
    );
    this.discovery = new DiscoveryService(
      {
        runtime: this.runtime,
        logger: this.logger,
        traffic: this.traffic,
        knownHosts: this.knownHosts,
        onDiscovered: (found) => this.hosts.discovered(found),
        local: {
          id: this.id,
          networkId: components.networkId,
          listenAddress: () => this.address,
          knowsAnyone: () => this.knownHosts.size > 0,
          quality: () => this.quality(),
          sample: (count, exceptId) => this.hosts.sample(count, exceptId).map(toEntry),
          lanPeers: () => this.hosts.lanPeers,
        },
      },
      components.discovery,
    );
    // Host management's routes are part of every node; a user route of the same name is refused.
    this.routes.set(hostQualityRoute, () => this.hosts.answerQuality());
    this.routes.set(peerExchangeRoute, (payload, context) => this.hosts.answerExchange(payload, context.peer));
    this.services = this.createServices(components.services);
  }

  private createServices(factories: ServiceFactories<S>): S {
    const services: Partial<S> = {};
    for (const name of Object.keys(factories) as Array<keyof S & string>) {
      const factory = factories[name];
      if (typeof factory !== 'function') throw new InvalidArgumentError(`service "${name}" is not a factory function`);
      services[name] = factory(this.serviceComponents(name));
    }
    return services as S;
  }

  /** The narrow view one service gets of this node. */
  private serviceComponents(name: string): ServiceComponents {
    return {
      nodeId: this.id,
      signer: signerOf(this.components.identity),
      runtime: this.runtime,
      random: this.runtime.random.fork(name),
      memory: this.memory,
      logger: this.logger,
      knownHosts: this.knownHosts,
      dataDir: this.components.dataDir,
      isRunning: () => this.isRunning,
      listenAddress: () => this.address,
      service: (other) => (Object.hasOwn(this.services, other) ? (this.services as ServiceMap)[other] : undefined),
      route: (route, handler) => this.serviceRoute(name, route, handler),
      request: (peer, route, payload, options) => this.request(peer, route, payload, options),
      notify: (peer, route, payload) => this.notify(peer, route, payload),
      disconnectIfSilent: (peer, silentForMs) => this.disconnectIfSilent(peer, silentForMs),
      onPeerFailure: (listener) => this.onPeerFailure(listener),
      onConnectionClosedByPeer: (listener) => {
        this.closedByPeerListeners.add(listener);
        return () => this.closedByPeerListeners.delete(listener);
      },
      reachability: this.reachabilityHooks(),
    };
  }

  private reachabilityHooks(): ReachabilityHooks {
    return {
      ambassador: this.components.ambassador,
      listenAddress: () => this.address,
      acceptStream: (stream) => (this.pool ? this.pool.accept(stream) : stream.destroy()),
      addDialer: (dialer) => this.dialers.push(dialer),
      introduceHosts: (entries) => {
        for (const { id, host, port } of entries) {
          const known = this.knownHosts.get(id);
          if (known) this.knownHosts.add({ ...known, address: { host, port } });
          else if (id !== this.id) this.hosts.discovered({ id, address: { host, port }, forced: false, onLan: false });
        }
      },
      watchInbound: (peerId) => {
        let seen = false;
        let wake: (() => void) | undefined;
        const watch = {
          peerId,
          arrived: () => {
            seen = true;
            wake?.();
          },
        };
        this.inboundWatches.add(watch);
        return {
          arrived: (withinMs) =>
            seen
              ? Promise.resolve(true)
              : new Promise<boolean>((resolve) => {
                  const timer = this.runtime.setTimer(withinMs, () => resolve(seen));
                  wake = () => {
                    timer.cancel();
                    resolve(true);
                  };
                }),
          stop: () => this.inboundWatches.delete(watch),
        };
      },
      secure: (carrier, role, timeoutMs) => this.runtime.secure(carrier, { role, identity: this.components.identity, timeoutMs }),
      probe: async (address, timeoutMs) => {
        const stream = await this.runtime.connect(address, { timeoutMs, identity: this.components.identity });
        // Closed gracefully: our last handshake flight must reach the peer, whose listener sees the probe (a dial-back's proof).
        stream.end();
        return stream.remotePublicKey;
      },
    };
  }

  private serviceRoute(service: string, name: string, handler: ServiceRouteHandler): void {
    this.addRoute(name, handler);
    const routes = this.serviceRoutes.get(service) ?? [];
    routes.push(name);
    this.serviceRoutes.set(service, routes);
  }

  /** What this node answers on `host-quality`: uptime, free storage, list size and flags. */
  quality(): HostQuality {
    const storage = this.availableStorageBytes();
    const availableStorageBytes = Number.isFinite(storage) ? Math.min(qualityLimits.maxAvailableStorageBytes, Math.max(0, Math.floor(storage))) : 0;
    const { ambassador, zone } = this.components;
    const quality = { uptimeMs: this.uptimeMs(), availableStorageBytes, knownHosts: this.knownHosts.size, ambassador };
    return zone === undefined ? quality : { ...quality, zone };
  }

  /** Free storage as the services that hold data report it (summed); the whole storage share when none does. */
  private availableStorageBytes(): number {
    let reported: number | undefined;
    for (const service of Object.values(this.services)) {
      if (service.availableStorageBytes) reported = (reported ?? 0) + service.availableStorageBytes();
    }
    return reported ?? this.memory.storageBytes;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** A known host or a peer a service works with: admission control never closes it for a stranger. */
  private isProtected(peerId: string): boolean {
    if (this.knownHosts.get(peerId) !== undefined) return true;
    for (const service of Object.values(this.services)) if (service.usesPeer?.(peerId)) return true;
    return false;
  }

  /** Failed handshakes since spawn, by `<direction>:<reason>` (see `ConnectionPool.handshakeFailures`). */
  get handshakeFailures(): ReadonlyMap<string, number> {
    return this.pool?.handshakeFailures ?? new Map();
  }

  /** Admission control now: connections, handshakes before a valid HELLO, partial inbound frames and unsent bytes held against their caps. */
  get admission(): {
    connections: number;
    handshakes: number;
    inboundBufferBytes: number;
    inboundBufferCapacityBytes: number;
    outboundBufferBytes: number;
    outboundBufferCapacityBytes: number;
  } {
    const inbound = this.pool?.inboundBuffers;
    const outbound = this.pool?.outboundBuffersHeld;
    return {
      connections: this.pool?.size ?? 0,
      handshakes: this.pool?.handshakes ?? 0,
      inboundBufferBytes: inbound?.usedBytes ?? 0,
      inboundBufferCapacityBytes: inbound?.capacityBytes ?? this.memory.inboundBufferBytes,
      outboundBufferBytes: outbound?.usedBytes ?? 0,
      outboundBufferCapacityBytes: outbound?.capacityBytes ?? this.memory.outboundBufferBytes,
    };
  }

  /**
   * Connections closed because the peer proved another network key, or none
   * while this node has one (or the reverse): a node that knows no host but
   * has refusals most likely holds the wrong key.
   */
  get networkKeyRefusals(): number {
    return this.networkKeyRefusalCount;
  }

  /** The address this node accepts connections on; set once spawned. */
  get address(): Address {
    if (!this.listener) throw new NodeStoppedError('the node has not been spawned');
    return this.listener.address;
  }

  /** Connections open now, in either direction (one per peer, briefly two when both dialled at once). */
  get openConnections(): number {
    return this.pool?.size ?? 0;
  }

  get networkId(): string {
    return this.components.networkId;
  }

  uptimeMs(): number {
    return this.state === 'running' ? this.runtime.now() - this.spawnedAt : 0;
  }

  /** Registers a server behaviour for `name`. Names are 1–64 of `A-Z a-z 0-9 . _ / : -`. */
  route(name: string, handler: RouteHandler<S>): this {
    if (typeof handler !== 'function') throw new InvalidArgumentError(`handler of route "${name}" is not a function`);
    this.addRoute(name, (payload, context) => handler(this, payload, context));
    return this;
  }

  private addRoute(name: string, handler: InboundHandler): void {
    if (typeof name !== 'string' || !routeNamePattern.test(name)) throw new InvalidArgumentError(`invalid route name ${JSON.stringify(name)}`);
    if (typeof handler !== 'function') throw new InvalidArgumentError(`handler of route "${name}" is not a function`);
    if (this.routes.has(name)) throw new InvalidArgumentError(`route "${name}" is already registered`);
    this.routes.set(name, handler);
  }

  /** Registers a client behaviour, started on spawn and aborted on stop. */
  behaviour(behaviour: ClientBehaviour<S>): this {
    if (typeof behaviour !== 'function') throw new InvalidArgumentError('a client behaviour must be a function');
    const bound = (signal: AbortSignal) => behaviour(this, signal);
    this.behaviours.push(bound);
    if (this.state === 'running') this.startBehaviour(bound);
    return this;
  }

  /**
   * Waits `ms` on the node's clock (virtual in the simulator), or less when
   * `signal` aborts: a client behaviour's loop sleeps with its own signal.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        timer.cancel();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.runtime.setTimer(ms, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Called with the address and error whenever a request to a peer fails at the transport level. */
  onPeerFailure(listener: PeerFailureListener): () => void {
    this.peerFailureListeners.add(listener);
    return () => this.peerFailureListeners.delete(listener);
  }

  /**
   * Starts listening, the services, host management, discovery, bootstrap
   * introductions and the client behaviours. Safe to call twice; a failure
   * rolls everything back (the node is as created, and spawn may be retried);
   * a stopped node cannot be spawned again. Signals are the application's:
   * see `onShutdownSignal`.
   */
  async spawn(): Promise<void> {
    if (this.state === 'running') return;
    if (this.state !== 'created') throw new NodeStoppedError('a stopped node cannot be spawned again');
    // Concurrent calls share one start, so the node never listens twice.
    this.spawning ??= this.start().catch(async (error: unknown) => {
      await this.rollBack();
      this.spawning = undefined;
      throw error;
    });
    return this.spawning;
  }

  private async start(): Promise<void> {
    const { runtime, identity, networkId, transport } = this.components;
    this.listener = await this.listen();
    this.pool = new ConnectionPool(
      withDialers(runtime, this.dialers),
      { nodeId: identity.nodeId, publicKey: identity.publicKey, networkId, listenAddresses: [tcpAddress(this.listener.address)] },
      this.dispatcher(),
      transport,
      this.traffic,
      (connection, hello) => this.identified(connection, hello),
      {
        inboundBufferBytes: this.memory.inboundBufferBytes,
        outboundBufferBytes: this.memory.outboundBufferBytes,
        isProtected: (peerId) => this.isProtected(peerId),
      },
      (peerId) => this.closedByPeer(peerId),
    );
    this.state = 'running';
    this.spawnedAt = runtime.now();
    for (const [name, service] of Object.entries(this.services)) {
      this.startedServices.push([name, service]);
      await service.start?.();
    }
    await this.restoreKnownHosts();
    this.hosts.start();
    await this.startDiscovery();
    this.behavioursAbort = new AbortController();
    for (const behaviour of this.behaviours) this.startBehaviour(behaviour);
    this.logger.info({ nodeId: this.id, address: formatAddress(this.listener.address) }, 'node spawned');
  }

  private noteInbound(stream: Stream): void {
    if (this.inboundWatches.size === 0) return;
    const peerId = nodeIdFromPublicKey(stream.remotePublicKey);
    for (const watch of this.inboundWatches) if (watch.peerId === peerId) watch.arrived();
  }

  /** Listens on the configured address; one the machine cannot listen on is a configuration error. */
  private async listen(): Promise<Listener> {
    const { runtime, listenHost, listenPort } = this.components;
    try {
      return await runtime.listen({ host: listenHost, port: listenPort, identity: this.components.identity }, (stream) => {
        this.noteInbound(stream);
        this.pool?.accept(stream);
      });
    } catch (error) {
      if (error instanceof ListenError) throw new InvalidConfigError(error.message);
      throw error;
    }
  }

  /**
   * With a data directory the known-host list is kept on disk; the hosts an
   * earlier run knew are tried first, before the configured bootstrap addresses.
   */
  private async restoreKnownHosts(): Promise<void> {
    const { dataDir, runtime } = this.components;
    if (dataDir === undefined) return;
    this.persistedHosts = await PersistedHosts.open(runtime.disk, knownHostsDirectory(dataDir));
    this.restoredHosts = this.persistedHosts.restore();
    this.persistedHosts.follow(this.knownHosts);
  }

  /** The hosts a restart restored, then the configured bootstrap addresses, each once. */
  private bootstrapAddresses(): Address[] {
    const seen = new Set<string>();
    return [...this.restoredHosts, ...this.components.bootstrap].filter((address) => {
      const key = formatAddress(address);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  private async closeKnownHosts(): Promise<void> {
    const persisted = this.persistedHosts;
    this.persistedHosts = undefined;
    await persisted?.close().catch((error: unknown) => this.logger.warn({ err: error }, 'known hosts store close failed'));
  }

  /** Undoes a failed start: services stopped and their routes gone, connections and listener closed. */
  private async rollBack(): Promise<void> {
    this.state = 'stopping';
    this.discovery.stop();
    this.hosts.stop();
    await this.stopServices();
    await this.closeKnownHosts();
    this.pool?.closeAll();
    this.pool = undefined;
    await this.listener?.close().catch(() => undefined);
    this.listener = undefined;
    this.state = 'created';
  }

  /**
   * Leaves the network: behaviours stop, the services hand their data over
   * (unless `graceful` is false, as when a process is killed) and stop,
   * connections close. Safe to call twice.
   */
  async stop(options: { graceful?: boolean } = {}): Promise<void> {
    await this.spawning?.catch(() => undefined);
    if (this.state === 'running') this.stopping ??= this.shutDown(options);
    else if (this.state === 'created') this.state = 'stopped';
    await this.stopping;
  }

  private async shutDown(options: { graceful?: boolean }): Promise<void> {
    this.state = 'stopping';
    this.discovery.stop();
    this.hosts.stop();
    this.behavioursAbort?.abort();
    if (options.graceful !== false) await this.leaveServices();
    await this.waitForBehaviours();
    await this.stopServices();
    await this.closeKnownHosts();
    this.pool?.closeAll();
    await this.listener?.close();
    this.state = 'stopped';
    this.logger.info({ nodeId: this.id }, 'node stopped');
  }

  private async leaveServices(): Promise<void> {
    await Promise.all(
      this.startedServices.map(async ([name, service]) => {
        try {
          await service.leave?.();
        } catch (error) {
          this.logger.warn({ service: name, err: error }, 'service leave failed');
        }
      }),
    );
  }

  /** Stops the started services in reverse order and removes the routes they registered. */
  private async stopServices(): Promise<void> {
    for (const [name, service] of this.startedServices.reverse()) {
      try {
        await service.stop?.();
      } catch (error) {
        this.logger.warn({ service: name, err: error }, 'service stop failed');
      }
      for (const route of this.serviceRoutes.get(name) ?? []) this.routes.delete(route);
      this.serviceRoutes.delete(name);
    }
    this.startedServices = [];
  }
  /**
   * Sends `payload` to `route` on `peer` and resolves with its reply. `peer` is
   * a peer id (dialled at the address its HELLO proved, when not connected), a
   * `host:port` or an address, or `{ id, address }` (the id is checked on arrival).
   */
  async request(peer: PeerRef, route: string, payload: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    const target = this.checkOutbound(peer, route, payload);
    const timeoutMs = options.timeoutMs ?? this.components.requestTimeoutMs;
    if (!(timeoutMs > 0)) throw new InvalidArgumentError(`timeout must be positive, got ${timeoutMs}`);
    const startedAt = this.runtime.now();
    try {
      // The common case, an open connection, costs no extra turn of the event loop.
      const open = target.id === undefined ? undefined : this.pool?.openConnectionTo(target.id);
      const connection = open ?? (await this.connectionTo(target, timeoutMs));
      const remainingMs = timeoutMs - (this.runtime.now() - startedAt);
      if (remainingMs <= 0) throw new TimeoutError(`request to route "${route}" timed out after ${timeoutMs} ms`);
      return await connection.request(route, payload, remainingMs);
    } catch (error) {
      this.reportIfPeerFailed(target, error);
      throw error;
    }
  }

  /** Sends a one-way message: resolves once it is handed to the connection, with no reply. */
  async notify(peer: PeerRef, route: string, payload: Uint8Array): Promise<void> {
    const target = this.checkOutbound(peer, route, payload);
    try {
      const connection = await this.connectionTo(target, this.components.requestTimeoutMs);
      connection.notify(route, payload);
    } catch (error) {
      this.reportIfPeerFailed(target, error);
      throw error;
    }
  }

  /**
   * Drops the connections to peer `peerId` on which nothing has arrived for
   * `silentForMs` (e.g. a group member stopped hearing it), so that the next
   * message redials instead of vanishing into a half-open connection.
   */
  disconnectIfSilent(peerId: string, silentForMs: number): void {
    this.pool?.closeSilent(peerId, silentForMs);
  }

  /** Connects to `peer` (or reuses the connection) and returns who it is. */
  async connect(peer: PeerRef): Promise<PeerInfo> {
    if (!this.canSend()) throw new NodeStoppedError('the node is not running');
    const target = this.resolve(peer);
    try {
      const connection = await this.connectionTo(target, this.components.requestTimeoutMs);
      return { id: (connection.remote as RemoteHello).nodeId, address: connection.peerAddress ?? target.address };
    } catch (error) {
      this.reportIfPeerFailed(target, error);
      throw error;
    }
  }

  /** Addresses peers saw this node at lately, with how many distinct peers reported each (a NAT's public side shows here). */
  observedAddresses(): Array<{ address: Address; peers: number }> {
    return this.observed.list();
  }

  private connectionTo(target: DialTarget, timeoutMs: number): Promise<Connection> {
    if (!this.pool || !this.canSend()) return Promise.reject(new NodeStoppedError('the node is not running'));
    return this.pool.connectionTo(target, timeoutMs);
  }

  /** Requests are allowed while stopping, so that a graceful leave can hand data over. */
  private canSend(): boolean {
    return this.pool !== undefined && (this.state === 'running' || this.state === 'stopping');
  }

  private checkOutbound(peer: PeerRef, route: string, payload: Uint8Array): DialTarget {
    if (!this.canSend()) throw new NodeStoppedError('the node is not running');
    if (typeof route !== 'string' || !routeNamePattern.test(route)) throw new InvalidArgumentError(`invalid route name ${JSON.stringify(route)}`);
    if (!(payload instanceof Uint8Array)) throw new InvalidArgumentError('payload must be a Uint8Array');
    const { maxPayloadBytes } = this.components.transport;
    // Refused before dialling: an oversized payload never costs a connection.
    if (payload.length > maxPayloadBytes) throw new PayloadTooLargeError(`payload of ${payload.length} bytes exceeds ${maxPayloadBytes}`);
    return this.resolve(peer);
  }

  /** A peer reference as the pool takes it: an id, an address, or both, filled from the address book. */
  private resolve(peer: PeerRef): DialTarget {
    if (typeof peer === 'string') {
      if (isNodeId(peer)) return { id: peer, address: this.addressBook.address(peer) };
      let address: Address;
      try {
        address = parseAddress(peer);
      } catch (error) {
        throw new InvalidArgumentError(`peer must be a node id, host:port or an address: ${(error as Error).message}`);
      }
      return { id: this.addressBook.peerAt(address), address };
    }
    if (typeof peer !== 'object' || peer === null) throw new InvalidArgumentError('peer must be a node id, host:port or an address');
    if ('id' in peer) {
      if (!isNodeId(peer.id)) throw new InvalidArgumentError(`invalid peer id ${JSON.stringify(peer.id)}`);
      return { id: peer.id, address: peer.address ?? this.addressBook.address(peer.id) };
    }
    return { id: this.addressBook.peerAt(peer), address: peer };
  }

  private reportIfPeerFailed(target: DialTarget, error: unknown): void {
    const peerFailed = error instanceof PeerUnreachableError || error instanceof TimeoutError || error instanceof ConnectionClosedError;
    if (!peerFailed || this.state !== 'running') return;
    const failed = { id: target.id, address: target.address };
    for (const listener of this.peerFailureListeners) listener(failed, error);
  }

  private closedByPeer(peerId: string): void {
    if (this.state !== 'running') return;
    for (const listener of this.closedByPeerListeners) listener(peerId);
  }

  /** A peer proved its id: remember where it accepts connections and how it sees this node. */
  private identified(connection: Connection, hello: RemoteHello): void {
    if (connection.peerAddress) this.addressBook.learn(hello.nodeId, connection.peerAddress);
    if (hello.observed) this.observed.report(hello.observed, hello.nodeId);
  }

  /** Without multicast (no route, no permission) the node still works through bootstrap addresses. */
  private async startDiscovery(): Promise<void> {
    try {
      await this.discovery.start();
    } catch (error) {
      this.logger.warn({ err: error }, 'multicast discovery unavailable');
    }
  }

  private startBehaviour(behaviour: (signal: AbortSignal) => Promise<void> | void): void {
    const signal = (this.behavioursAbort as AbortController).signal;
    const run = (async () => behaviour(signal))().catch((error: unknown) => {
      if (!signal.aborted) this.logger.error({ err: error }, 'client behaviour failed');
    });
    this.runningBehaviours.push(run);
  }

  /** Waits for behaviours to return after their abort, but never longer than a grace period. */
  private async waitForBehaviours(): Promise<void> {
    let timer: { cancel(): void } | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = this.runtime.setTimer(behaviourStopGraceMs, resolve);
    });
    await Promise.race([Promise.all(this.runningBehaviours), grace]);
    timer?.cancel();
    this.runningBehaviours = [];
  }

  private dispatcher(): InboundDispatcher {
    return {
      hasRoute: (route) => this.routes.has(route),
      handleRequest: async (route, payload, connection) => {
        const handler = this.routes.get(route) as InboundHandler;
        return handler(payload, contextOf(connection));
      },
      handleNotify: (route, payload, connection) => {
        const handler = this.routes.get(route) as InboundHandler;
        Promise.resolve()
          .then(() => handler(payload, contextOf(connection)))
          .catch((error: unknown) => this.logger.debug({ route, err: error }, 'notification handler failed'));
      },
      channel: { identity: this.components.identity, networkKey: this.components.networkKey },
      acceptHello: (hello, connection) => {
        if (hello.networkId !== this.components.networkId) {
          throw new ProtocolError(`network id "${hello.networkId}" is not "${this.components.networkId}"`);
        }
        // The one key the peer proved it holds is the channel's; a HELLO naming another is an impersonation.
        if (Buffer.compare(hello.publicKey, connection.stream.remotePublicKey) !== 0) {
          const error = new ProtocolError('HELLO public key is not the key the channel verified');
          this.logger.warn({ peer: formatAddress(connection.stream.remoteAddress), err: error }, 'impersonating peer refused');
          throw error;
        }
        if (nodeIdFromPublicKey(hello.publicKey) !== hello.nodeId) throw new ProtocolError('node id does not match public key');
        if (hello.nodeId === this.id) throw new ProtocolError('connected to itself');
      },
      networkKeyRefused: (error, connection) => {
        this.networkKeyRefusalCount += 1;
        this.logger.warn({ peer: formatAddress(connection.stream.remoteAddress), err: error }, 'peer without this network key refused');
      },
    };
  }
}

function contextOf(connection: Connection): RequestContext {
  return { peer: { id: (connection.remote as RemoteHello).nodeId, address: connection.peerAddress }, seenFrom: connection.stream.remoteAddress };
}
