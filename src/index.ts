export { createNode, defaultServices, type DefaultServices, type NodeOptions } from './node/create.js';
export { ButterNode, type ClientBehaviour, type RouteHandler } from './node/node.js';
export type {
  PeerInfo,
  RequestContext,
  RequestOptions,
  Service,
  ServiceComponents,
  FactoryMap,
  ServiceFactories,
  ServiceFactory,
  ServiceMap,
  ServiceRouteHandler,
  ServicesOf,
} from './node/service.js';
export { minimumMemoryMB, defaultMemoryMB, type MemoryBudget } from './node/memory.js';
export type { Logger } from './node/logger.js';
export type { HostQuality, KnownHost } from './hosts/known-hosts.js';
export { defaultHostManagementOptions, type HostManagementOptions, type HostReport, type HostsReport } from './hosts/manager.js';
export { defaultDiscoveryOptions, type DiscoveryOptions, type DiscoveryStats } from './discovery/core.js';
export * from './errors.js';
export { formatAddress, parseAddress, type Address, type Runtime } from './runtime/types.js';
export { DiskError, type Disk, type KeyValueDatabase, type KeyValueEnvironment } from './runtime/disk.js';
export { createRealRuntime } from './runtime/real.js';
export { onShutdownSignal } from './runtime/real/signals.js';
export { Simulation, type SimulationOptions, type LinkConditions, type SimRuntime } from './runtime/sim/index.js';
export { messageCodec, type MessageCodec } from './transport/codec.js';
export { defaultTransportOptions, type TransportOptions } from './transport/options.js';
export { storage, StorageService, defaultStorageOptions, type StorageOptions, type StoreOptions, type StoreProgress } from './storage/service.js';
export type { GroupSnapshot, GroupState, MembershipOptions } from './storage/membership.js';
export {
  retrieval,
  RetrievalService,
  defaultRetrievalOptions,
  type RetrievalOptions,
  type RetrieveOptions,
  type RetrieveProgress,
  type RetrieveReport,
} from './retrieval/service.js';
export type { Strategy } from './retrieval/messages.js';
