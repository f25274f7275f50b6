export { createNode, type NodeOptions } from './node/create.js';
export {
  ButterNode,
  type ClientBehaviour,
  type PeerInfo,
  type RequestContext,
  type RequestOptions,
  type RouteHandler,
} from './node/node.js';
export { basicOverlay, type Overlay, type OverlayFactory } from './node/overlay.js';
export { minimumMemoryMB, defaultMemoryMB, type MemoryBudget } from './node/memory.js';
export type { Logger } from './node/logger.js';
export type { HostQuality, KnownHost } from './hosts/known-hosts.js';
export { defaultHostManagementOptions, type HostManagementOptions, type HostReport, type HostsReport } from './hosts/manager.js';
export { defaultDiscoveryOptions, type DiscoveryOptions, type DiscoveryStats } from './discovery/core.js';
export * from './errors.js';
export { formatAddress, parseAddress, type Address, type Runtime } from './runtime/types.js';
export { DiskError, type Disk, type KeyValueDatabase, type KeyValueEnvironment } from './runtime/disk.js';
export { createRealRuntime } from './runtime/real.js';
export { messageCodec, type MessageCodec } from './transport/codec.js';
export { defaultTransportOptions, type TransportOptions } from './transport/options.js';
export { storageOverlay, StorageOverlay, type StorageOptions, type StoreOptions } from './storage/overlay.js';
export type { GroupSnapshot, GroupState, MembershipOptions } from './storage/membership.js';
