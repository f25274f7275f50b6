import type { KnownHosts } from '../hosts/known-hosts.js';
import type { Address, ByteCarrier, ConnectOptions, Random, Runtime, SecureOptions, Stream } from '../runtime/types.js';
import type { HostEntry, PeerFailureListener, PeerInfo, PeerRef } from '../transport/vocabulary.js';
import type { Logger } from './logger.js';
import type { MemoryBudget } from './memory.js';


export interface RequestContext {
  readonly peer: PeerInfo;
  /** The address the request's connection came from, as this node sees it (a NAT's public side, for a peer behind one). */
  readonly seenFrom: Address;
}

/** Reaches addresses the runtime cannot dial itself (a relayed address, say). */
export interface Dialer {
  matches(address: Address): boolean;
  connect(address: Address, options: ConnectOptions): Promise<Stream>;
}

/**
 * What a service that changes how the node is reached (NAT traversal) needs
 * beyond the rest: kept apart, and narrow, because nothing else should use it.
 */
export interface ReachabilityHooks {
  /** The node announces itself as an Ambassador. */
  readonly ambassador: boolean;
  /** Where the node listens. */
  listenAddress(): Address;
  /** Hands the node a stream another way than its listener (one end of a relay circuit). */
  acceptStream(stream: Stream): void;
  /** Dials addresses `dialer.matches` through it, for the rest of the node's life. */
  addDialer(dialer: Dialer): void;
  /**
   * Hosts an Ambassador introduced: offered to host management as discovery's are (it
   * decides what to keep), and, for a host already known elsewhere, its address replaced:
   * the Ambassador knows how it is reached, peer exchange only where it listens.
   */
  introduceHosts(entries: HostEntry[]): void;
  /**
   * Starts noting whether peer `peerId` opens a new connection to this node's listener (its
   * TLS proves the key): `arrived(withinMs)` says whether it has, waiting up to `withinMs`
   * when not yet. Call `stop` when done; each watch lives until then.
   */
  watchInbound(peerId: string): { arrived(withinMs: number): Promise<boolean>; stop(): void };
  /**
   * Runs the node's channel handshake (TLS 1.3 with its identity certificate, as on a direct
   * connection) end to end over `carrier`: the stream's key is the far end's own.
   */
  secure(carrier: ByteCarrier, role: SecureOptions['role'], timeoutMs: number): Promise<Stream>;
  /** Opens a channel to `address`, returns the public key the peer there proved, and closes it. */
  probe(address: Address, timeoutMs: number): Promise<Uint8Array>;
}

export interface RequestOptions {
  /** Default: the node's `requestTimeoutMs`. */
  timeoutMs?: number;
}

/** A route served by a service: the payload in, the reply out. */
export type ServiceRouteHandler = (payload: Uint8Array, context: RequestContext) => Promise<Uint8Array> | Uint8Array;

export type { FailedPeer, PeerFailureListener, PeerInfo, PeerRef } from '../transport/vocabulary.js';

/**
 * What a service sees of its node: exactly these, never the node itself, so a
 * service can be reasoned about and tested alone (libp2p's components).
 */
export interface ServiceComponents {
  readonly nodeId: string;
  /** Signs with the node's identity key (Ed25519), e.g. authored content; the key itself stays in the node. */
  readonly signer: { readonly publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array };
  readonly runtime: Runtime;
  /** This service's own random stream. */
  readonly random: Random;
  readonly memory: MemoryBudget;
  readonly logger: Logger;
  /** The node's partial view; services read it, host management alone edits it. */
  readonly knownHosts: Pick<KnownHosts, 'list' | 'get' | 'size'>;
  /** The node's data directory, when it has one: services keep their state under it. */
  readonly dataDir: string | undefined;
  /** Where this node accepts connections (throws NodeStoppedError before spawn): what a peer can answer to. */
  listenAddress(): Address;
  /** Another service of the same node by name (retrieval finds storage so), undefined when the node runs none. */
  service(name: string): Service | undefined;
  /** True from spawn until stop begins. */
  isRunning(): boolean;
  /**
   * Serves `name` while the service runs. Call it from `start`: the node
   * unregisters a service's routes when it stops the service (or rolls a failed
   * spawn back), so a later spawn registers them afresh.
   */
  route(name: string, handler: ServiceRouteHandler): void;
  request(peer: PeerRef, route: string, payload: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;
  notify(peer: PeerRef, route: string, payload: Uint8Array): Promise<void>;
  /** Drops connections to peer `peerId` silent for `silentForMs` (a half-open connection would swallow one-way messages). */
  disconnectIfSilent(peerId: string, silentForMs: number): void;
  /** Transport-level failures of any request of the node; returns an unsubscribe. */
  onPeerFailure(listener: PeerFailureListener): () => void;
  /**
   * The connection in use to a peer was ended from its side (FIN or RST): its process may have
   * died (its OS closes its sockets), or it closed an idle connection. A hint to check, not a
   * failure. Returns an unsubscribe.
   */
  onConnectionClosedByPeer(listener: (peerId: string) => void): () => void;
  readonly reachability: ReachabilityHooks;
}

/**
 * A named module that adds behaviour to a node (storage, retrieval, …). Each
 * lifecycle method is optional and must be safe to call twice.
 */
export interface Service {
  /** Runs at spawn, once the node listens, before client behaviours start. */
  start?(): Promise<void> | void;
  /** Graceful leave, before connections close: hand data over to other hosts. */
  leave?(): Promise<void> | void;
  /** Runs at stop (after `leave` when graceful) and when a failed spawn rolls back. */
  stop?(): Promise<void> | void;
  /** Bytes of storage still free, announced in the node's host quality. */
  availableStorageBytes?(): number;
  /**
   * The service works with peer `peerId` (e.g. a fellow group member): the node never closes
   * its connection to make room for a stranger. Called often when the node is full: keep it cheap.
   */
  usesPeer?(peerId: string): boolean;
}

/** `(init) => (components) => service`: a service's options are bound first, its components at node creation. */
export type ServiceFactory<S extends Service = Service> = (components: ServiceComponents) => S;

export type ServiceMap = Record<string, Service>;

/** The factories of a service map, by name. */
export type ServiceFactories<S extends ServiceMap> = { [Name in keyof S]: ServiceFactory<S[Name]> };

/** Factories by name, as `createNode({ services })` takes them. */
export type FactoryMap = Record<string, ServiceFactory>;

/** The services a map of factories builds: `{ storage: storage() }` gives `{ storage: StorageService }`. */
export type ServicesOf<F extends FactoryMap> = { [Name in keyof F]: ReturnType<F[Name]> };
