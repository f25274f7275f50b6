import { defaultDiscoveryOptions, type DiscoveryOptions } from '../discovery/core.js';
import { InvalidConfigError } from '../errors.js';
import { defaultHostManagementOptions, type HostManagementOptions } from '../hosts/manager.js';
import { qualityLimits } from '../hosts/quality.js';
import { createRealRuntime } from '../runtime/real.js';
import { parseAddress, type Address, type Runtime } from '../runtime/types.js';
import { maxNetworkIdLength } from '../transport/envelope.js';
import { defaultTransportOptions, type TransportOptions } from '../transport/options.js';
import { createIdentity, loadOrCreateIdentity, type Identity } from './identity.js';
import { silentLogger, type Logger } from './logger.js';
import { defaultMemoryMB, planMemory } from './memory.js';
import { ButterNode } from './node.js';

export interface NodeOptions {
  /** TCP port to accept connections on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on. Default 0.0.0.0 (every interface). */
  host?: string;
  /** Memory the node may use, in MB, split between known hosts and storage. Default 512. */
  memoryMB?: number;
  /** Overrides the known-host capacity derived from the allocation. */
  knownHostsCapacity?: number;
  /** Keeps the identity (and, with storage, blocks) here; in memory only when absent. */
  dataDir?: string;
  /** Separate Butter networks on one LAN ignore each other. Default "butter". */
  networkId?: string;
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
}

const defaultNetworkId = 'butter';
const defaultRequestTimeoutMs = 10_000;

/** Creates a node: checks the options, plans memory and loads or creates the identity. */
export async function createNode(options: NodeOptions = {}): Promise<ButterNode> {
  const runtime = options.runtime ?? createRealRuntime();
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidConfigError(`port must be 0..65535, got ${port}`);
  const networkId = options.networkId ?? defaultNetworkId;
  if (typeof networkId !== 'string' || networkId.length < 1 || networkId.length > maxNetworkIdLength) {
    throw new InvalidConfigError(`network id must be 1..${maxNetworkIdLength} characters`);
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
  if (!(requestTimeoutMs > 0)) throw new InvalidConfigError(`requestTimeoutMs must be positive, got ${requestTimeoutMs}`);
  const memory = planMemory(options.memoryMB ?? defaultMemoryMB, runtime.totalMemoryBytes(), options.knownHostsCapacity);
  const transport = checkTransportOptions({ ...defaultTransportOptions, ...options.transport });
  const identity = options.dataDir ? await identityIn(options.dataDir, runtime) : createIdentity(runtime.random.fork('identity'));
  return new ButterNode({
    runtime,
    identity,
    memory,
    logger: options.logger ?? silentLogger,
    listenHost: options.host ?? '0.0.0.0',
    listenPort: port,
    networkId,
    bootstrap: (options.bootstrap ?? []).map(toAddress),
    requestTimeoutMs,
    transport,
    hosts: checkHostOptions({ ...defaultHostManagementOptions, ...options.hosts }),
    discovery: checkDiscoveryOptions({ ...defaultDiscoveryOptions, ...loopbackMulticast(options.host), ...options.discovery }),
    ambassador: options.ambassador ?? false,
    zone: checkZone(options.zone),
  });
}

/**
 * A node listening on a loopback address announces itself on the loopback
 * interface too: its address is useless elsewhere, and local test networks
 * then never send a datagram to a real interface.
 */
function loopbackMulticast(listenHost: string | undefined): Partial<DiscoveryOptions> {
  return listenHost !== undefined && /^127\.\d+\.\d+\.\d+$/.test(listenHost) ? { multicastInterface: listenHost } : {};
}

function checkHostOptions(options: HostManagementOptions): HostManagementOptions {
  const { randomAcceptanceProbability, farShare, ...positive } = options;
  for (const [name, value] of Object.entries(positive)) {
    if (!(Number.isFinite(value) && value > 0)) throw new InvalidConfigError(`hosts.${name} must be a positive number, got ${value}`);
  }
  if (!(randomAcceptanceProbability >= 0 && randomAcceptanceProbability <= 1)) {
    throw new InvalidConfigError(`hosts.randomAcceptanceProbability must be in [0, 1], got ${randomAcceptanceProbability}`);
  }
  if (!(farShare >= 0 && farShare <= 0.5)) throw new InvalidConfigError(`hosts.farShare must be in [0, 0.5], got ${farShare}`);
  return options;
}

function checkDiscoveryOptions(options: DiscoveryOptions): DiscoveryOptions {
  const { enabled, multicastGroup, multicastInterface, port, ...positive } = options;
  for (const [name, value] of Object.entries(positive)) {
    if (!(Number.isFinite(value) && value > 0)) throw new InvalidConfigError(`discovery.${name} must be a positive number, got ${value}`);
  }
  if (typeof enabled !== 'boolean') throw new InvalidConfigError('discovery.enabled must be a boolean');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidConfigError(`discovery.port must be 1..65535, got ${port}`);
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(multicastGroup)?.slice(1).map(Number);
  if (!octets || octets.some((octet) => octet > 255) || (octets[0] as number) < 224 || (octets[0] as number) > 239) {
    throw new InvalidConfigError(`discovery.multicastGroup must be an IPv4 multicast address, got ${multicastGroup}`);
  }
  if (multicastInterface !== undefined && typeof multicastInterface !== 'string') throw new InvalidConfigError('discovery.multicastInterface must be an address');
  return options;
}

function checkZone(zone: string | undefined): string | undefined {
  if (zone === undefined) return undefined;
  if (typeof zone !== 'string' || zone.length < 1 || zone.length > qualityLimits.maxZoneLength) {
    throw new InvalidConfigError(`zone must be 1..${qualityLimits.maxZoneLength} characters`);
  }
  return zone;
}

function toAddress(entry: string | Address): Address {
  try {
    return typeof entry === 'string' ? parseAddress(entry) : parseAddress(`${entry.host}:${entry.port}`);
  } catch (error) {
    throw new InvalidConfigError(`bootstrap ${(error as Error).message}`);
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
  for (const [name, value] of Object.entries(options)) {
    // A misspelt option would otherwise be ignored without a word.
    if (!Object.hasOwn(defaultTransportOptions, name)) throw new InvalidConfigError(`unknown transport option "${name}"`);
    if (!Number.isInteger(value) || value <= 0) throw new InvalidConfigError(`transport.${name} must be a positive integer, got ${value}`);
  }
  if (options.maxFrameBytes < options.maxPayloadBytes + 256) {
    throw new InvalidConfigError('transport.maxFrameBytes must leave at least 256 bytes above maxPayloadBytes for the envelope');
  }
  return options;
}
