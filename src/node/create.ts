import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { defaultDiscoveryOptions, type DiscoveryOptions } from '../discovery/core.js';
import { InvalidConfigError } from '../errors.js';
import { defaultHostManagementOptions, type HostManagementOptions } from '../hosts/manager.js';
import { qualityLimits } from '../hosts/quality.js';
import { createRealRuntime } from '../runtime/real.js';
import { parseAddress, type Address, type Runtime } from '../runtime/types.js';
import { retrieval, type RetrievalService } from '../retrieval/service.js';
import { storage, type StorageService } from '../storage/service.js';
import { maxNetworkIdLength } from '../transport/envelope.js';
import { networkKeyBytes, parseNetworkKey } from '../transport/network-key.js';
import { defaultTransportOptions, type TransportOptions } from '../transport/options.js';
import { createIdentity, loadOrCreateIdentity, type Identity } from './identity.js';
import { silentLogger, type Logger } from './logger.js';
import { defaultMemoryMB, planMemory } from './memory.js';
import { ButterNode } from './node.js';
import { checkOptions, checkValue, describeValue, optionTypes, type OptionSchemas } from './options.js';
import type { FactoryMap, ServiceFactories, ServiceMap, ServicesOf } from './service.js';

/** The services a node runs unless `services` says otherwise. */
export interface DefaultServices extends ServiceMap {
  storage: StorageService;
  retrieval: RetrievalService;
}

export type DefaultFactories = ServiceFactories<DefaultServices>;

/** A fresh set of the default services' factories, with their default options. */
export function defaultServices(): DefaultFactories {
  return { storage: storage(), retrieval: retrieval() };
}

export interface NodeOptions<F extends FactoryMap = DefaultFactories> {
  /** TCP port to accept connections on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on. Default 0.0.0.0 (every interface). */
  host?: string;
  /** Memory the node may use, in MB, split between known hosts and storage. Default 512. */
  memoryMB?: number;
  /** Overrides the known-host capacity derived from the allocation. */
  knownHostsCapacity?: number;
  /** Keeps the identity and the services' state (blocks, group membership) here; in memory only when absent. */
  dataDir?: string;
  /** Separate Butter networks on one LAN ignore each other. Default "butter". */
  networkId?: string;
  /**
   * Makes the network private: only nodes holding this 32-byte key (bytes or 64 hex digits)
   * can talk to this one. Read from `<dataDir>/network.key` (64 hex digits) when not given.
   * Default none: a public network, kept apart from others by its id only.
   */
  networkKey?: Uint8Array | string;
  /** Hosts to contact at spawn, as `host:port` or addresses. */
  bootstrap?: Array<string | Address>;
  /** Default timeout of `request`. Default 10 000 ms. */
  requestTimeoutMs?: number;
  transport?: Partial<TransportOptions>;
  /** Known-host refresh, peer selection and peer exchange; defaults in `defaultHostManagementOptions`. */
  hosts?: Partial<HostManagementOptions>;
  /** LAN multicast discovery; defaults in `defaultDiscoveryOptions`. */
  discovery?: Partial<DiscoveryOptions>;
  /** Announce this node as an Ambassador (publicly reachable, bridges subnetworks). Default false. */
  ambassador?: boolean;
  /** Zone tag announced in the node's quality (1–64 characters). Default none. */
  zone?: string;
  /** The real runtime by default; a simulator host for experiments. */
  runtime?: Runtime;
  logger?: Logger;
  /**
   * The node's services by name, as factories: `{ storage: storage({ replicas: 5 }) }`.
   * Default: `defaultServices()` (storage and retrieval); `{}` for a node that runs none.
   */
  services?: F;
}

const defaultNetworkId = 'butter';
const networkKeyFileName = 'network.key';
const defaultRequestTimeoutMs = 10_000;

/** Every top-level option; the nested groups and the objects are checked on their own below. */
const nodeOptionNames = new Set([
  'port', 'host', 'memoryMB', 'knownHostsCapacity', 'dataDir', 'networkId', 'networkKey', 'bootstrap', 'requestTimeoutMs',
  'transport', 'hosts', 'discovery', 'ambassador', 'zone', 'runtime', 'logger', 'services',
]);

const scalarSchemas = {
  port: optionTypes.integer(0, 65535),
  host: optionTypes.text(1, 255),
  memoryMB: Type.Number(),
  knownHostsCapacity: optionTypes.optional(optionTypes.integer(1, 1_000_000)),
  dataDir: optionTypes.optional(optionTypes.text(1, 4096)),
  networkId: optionTypes.text(1, maxNetworkIdLength),
  requestTimeoutMs: optionTypes.positive(),
  ambassador: optionTypes.boolean(),
  zone: optionTypes.optional(optionTypes.text(1, qualityLimits.maxZoneLength)),
};

const hostSchemas: OptionSchemas<HostManagementOptions> = {
  refreshIntervalMs: optionTypes.positive(),
  maxRefreshesPerSecond: optionTypes.positive(),
  refreshTimeoutMs: optionTypes.positive(),
  maxConcurrentRefreshes: optionTypes.integer(1),
  randomAcceptanceProbability: optionTypes.between(0, 1),
  exchangeIntervalMs: optionTypes.positive(),
  exchangeSampleSize: optionTypes.integer(1, 64),
  farShare: optionTypes.between(0, 0.5),
  shuffleIntervalMs: optionTypes.positive(),
  bootstrapRetryMs: optionTypes.positive(),
  maxBootstrapRetryMs: optionTypes.positive(),
};

const discoverySchemas: OptionSchemas<DiscoveryOptions> = {
  enabled: optionTypes.boolean(),
  multicastGroup: Type.String({ pattern: '^2(2[4-9]|3[0-9])\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){2}$', description: 'an IPv4 multicast address (224.0.0.0 to 239.255.255.255)' }),
  port: optionTypes.integer(1, 65535),
  multicastInterface: optionTypes.optional(optionTypes.text(1, 255)),
  pingIntervalMs: optionTypes.positive(),
  pongSpreadMs: optionTypes.positive(),
  pongsPerPing: optionTypes.integer(1),
  pongSampleSize: optionTypes.integer(1, 16),
  maxDatagramBytes: optionTypes.integer(64, 65_507),
  maxDatagramsPerSecond: optionTypes.positive(),
};

const transportSchemas = Object.fromEntries(
  Object.keys(defaultTransportOptions).map((name) => [name, optionTypes.integer(1)]),
) as unknown as OptionSchemas<TransportOptions>;

/**
 * Creates a node: checks the options (an unknown name or a bad value throws
 * `InvalidConfigError`), plans memory, loads or creates the identity and
 * builds the services.
 */
export async function createNode<F extends FactoryMap = DefaultFactories>(options: NodeOptions<F> = {}): Promise<ButterNode<ServicesOf<F>>> {
  if (options === null || typeof options !== 'object') throw new InvalidConfigError(`node options must be an object, got ${describeValue(options)}`);
  for (const name of Object.keys(options)) if (!nodeOptionNames.has(name)) throw new InvalidConfigError(`unknown option "${name}"`);
  const scalars = checkOptions('', pickScalars(options), scalarSchemas, {
    port: 0,
    host: '0.0.0.0',
    memoryMB: defaultMemoryMB,
    knownHostsCapacity: undefined,
    dataDir: undefined,
    networkId: defaultNetworkId,
    requestTimeoutMs: defaultRequestTimeoutMs,
    ambassador: false,
    zone: undefined,
  });
  const runtime = options.runtime ?? createRealRuntime();
  const memory = planMemory(scalars.memoryMB, runtime.totalMemoryBytes(), scalars.knownHostsCapacity);
  const transport = checkTransportOptions(checkOptions('transport.', options.transport, transportSchemas, defaultTransportOptions));
  const hosts = checkOptions('hosts.', options.hosts, hostSchemas, defaultHostManagementOptions);
  const discovery = checkOptions('discovery.', options.discovery, discoverySchemas, { ...defaultDiscoveryOptions, ...loopbackMulticast(scalars.host) });
  const bootstrap = checkBootstrap(options.bootstrap);
  const services = checkServices(options.services) as unknown as ServiceFactories<ServicesOf<F>>;
  const identity = scalars.dataDir ? await identityIn(scalars.dataDir, runtime) : createIdentity(runtime.random.fork('identity'));
  const networkKey = await checkNetworkKey(options.networkKey, scalars.dataDir, runtime);
  return new ButterNode<ServicesOf<F>>({
    services,
    dataDir: scalars.dataDir,
    runtime,
    identity,
    memory,
    logger: options.logger ?? silentLogger,
    listenHost: scalars.host,
    listenPort: scalars.port,
    networkId: scalars.networkId,
    networkKey,
    bootstrap,
    requestTimeoutMs: scalars.requestTimeoutMs,
    transport,
    hosts,
    discovery,
    ambassador: scalars.ambassador,
    zone: scalars.zone,
  });
}

function pickScalars(options: NodeOptions<FactoryMap>): Partial<Record<keyof typeof scalarSchemas, unknown>> {
  const { port, host, memoryMB, knownHostsCapacity, dataDir, networkId, requestTimeoutMs, ambassador, zone } = options;
  return { port, host, memoryMB, knownHostsCapacity, dataDir, networkId, requestTimeoutMs, ambassador, zone };
}

function checkServices(given: FactoryMap | undefined): FactoryMap {
  if (given === undefined) return defaultServices();
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new InvalidConfigError(`services must be an object of service factories, got ${describeValue(given)}`);
  }
  for (const [name, factory] of Object.entries(given)) {
    if (typeof factory !== 'function') {
      throw new InvalidConfigError(`service "${name}" must be a factory such as storage(), got ${describeValue(factory)}`);
    }
  }
  return given;
}

/**
 * A node listening on a loopback address announces itself on the loopback
 * interface too: its address is useless elsewhere, and local test networks
 * then never send a datagram to a real interface.
 */
function loopbackMulticast(listenHost: string): Partial<DiscoveryOptions> {
  return /^127\.\d+\.\d+\.\d+$/.test(listenHost) ? { multicastInterface: listenHost } : {};
}

/** Bootstrap peers are `host:port` strings or `{ host, port }`, with a port a peer can listen on (1–65535). */
function checkBootstrap(given: unknown): Address[] {
  if (given === undefined) return [];
  if (!Array.isArray(given)) throw new InvalidConfigError(`bootstrap must be a list of host:port addresses, got ${describeValue(given)}`);
  return given.map((entry: unknown, index) => {
    const name = `bootstrap[${index}]`;
    let address: Address;
    if (typeof entry === 'string') {
      try {
        address = parseAddress(entry);
      } catch {
        throw new InvalidConfigError(`${name} must be host:port, got ${describeValue(entry)}`);
      }
    } else if (typeof entry === 'object' && entry !== null && !Array.isArray(entry)) {
      const { host, port } = entry as Record<string, unknown>;
      checkValue(`${name}.host`, optionTypes.text(1, 255), host);
      address = { host: host as string, port: port as number };
    } else {
      throw new InvalidConfigError(`${name} must be host:port or { host, port }, got ${describeValue(entry)}`);
    }
    checkValue(`${name} port`, optionTypes.integer(1, 65535), address.port);
    return address;
  });
}

/**
 * The private network's key: the option, else `<dataDir>/network.key`. A bad one, an
 * unreadable file, or a file and an option that disagree fail closed, as configuration errors.
 */
async function checkNetworkKey(given: unknown, dataDir: string | undefined, runtime: Runtime): Promise<Uint8Array | undefined> {
  const option = given === undefined ? undefined : keyOrConfigError('networkKey', given);
  if (dataDir === undefined) return option;
  const path = join(dataDir, networkKeyFileName);
  let saved: Uint8Array | undefined;
  try {
    saved = await runtime.disk.readFile(path);
  } catch (error) {
    throw new InvalidConfigError(`cannot read the network key ${path}: ${(error as Error).message}`);
  }
  const fromFile = saved === undefined ? undefined : keyOrConfigError(path, new TextDecoder().decode(saved));
  if (option && fromFile && Buffer.compare(option, fromFile) !== 0) {
    throw new InvalidConfigError(`networkKey differs from the key in ${path}: give one or make them agree`);
  }
  return option ?? fromFile;
}

function keyOrConfigError(name: string, value: unknown): Uint8Array {
  try {
    return parseNetworkKey(value as Uint8Array | string);
  } catch {
    throw new InvalidConfigError(`${name} must be ${networkKeyBytes} bytes or ${networkKeyBytes * 2} hex digits, got ${describeValue(value)}`);
  }
}

/** An unreadable, corrupt or unwritable identity file is a configuration problem, reported as one. */
async function identityIn(dataDir: string, runtime: Runtime): Promise<Identity> {
  try {
    return await loadOrCreateIdentity(dataDir, runtime.disk, runtime.random.fork('identity'));
  } catch (error) {
    throw new InvalidConfigError(`cannot use the identity in data directory ${dataDir}: ${(error as Error).message}`);
  }
}

function checkTransportOptions(options: TransportOptions): TransportOptions {
  if (options.maxFrameBytes < options.maxPayloadBytes + 256) {
    throw new InvalidConfigError('transport.maxFrameBytes must leave at least 256 bytes above maxPayloadBytes for the envelope');
  }
  return options;
}
