import { InvalidConfigError } from '../errors.js';

const bytesPerMegabyte = 1024 * 1024;

/** Below this a node cannot hold a useful known-host list and a few blocks. */
export const minimumMemoryMB = 16;
export const defaultMemoryMB = 512;
/** Generous estimate of what one known host costs: address, id, cached quality, bookkeeping. */
export const bytesPerKnownHost = 4 * 1024;
/** One known host per this many MB of allocation, within the bounds below. */
const megabytesPerKnownHost = 8;
const minimumKnownHosts = 4;
const maximumKnownHosts = 256;
/**
 * The share of the allocation that partial frames received from peers may hold, all
 * connections together: without one global cap, 1,100 peers each holding one partial 1 MiB
 * frame grew a 64 MB node to 1.1 GB.
 */
const inboundBufferShare = 1 / 8;
/**
 * The share that bytes written to peers and not yet taken by them may hold, all connections
 * together: without it, peers that ask and never read could make the node buffer 16 MiB
 * each. As large as the inbound share: a burst of answers written in one turn of the event
 * loop (a few 1 MiB segments) must fit at the smallest allocation.
 */
const outboundBufferShare = 1 / 8;

/** How a node's memory allocation is split between the known-host list, inbound buffers and block storage. */
export interface MemoryBudget {
  readonly totalBytes: number;
  readonly knownHostsCapacity: number;
  readonly knownHostsBytes: number;
  /** Bytes of partial inbound frames all connections may hold together (docs/SECURITY.md). */
  readonly inboundBufferBytes: number;
  /** Bytes written and not yet taken by peers, all connections together (docs/SECURITY.md). */
  readonly outboundBufferBytes: number;
  readonly storageBytes: number;
}

/**
 * Checks an allocation against the useful minimum and the machine's memory and
 * splits it. The known-host list grows with the allocation but stays small:
 * every known host costs periodic quality refreshes, so more is not free.
 */
export function planMemory(memoryMB: number, machineMemoryBytes: number, knownHostsCapacity?: number): MemoryBudget {
  if (!Number.isFinite(memoryMB) || memoryMB < minimumMemoryMB) {
    throw new InvalidConfigError(`memory allocation of ${memoryMB} MB is below the minimum of ${minimumMemoryMB} MB`);
  }
  const totalBytes = Math.floor(memoryMB * bytesPerMegabyte);
  if (totalBytes > machineMemoryBytes) {
    throw new InvalidConfigError(
      `memory allocation of ${memoryMB} MB exceeds this machine's ${Math.floor(machineMemoryBytes / bytesPerMegabyte)} MB`,
    );
  }
  const capacity =
    knownHostsCapacity ?? Math.min(maximumKnownHosts, Math.max(minimumKnownHosts, Math.floor(memoryMB / megabytesPerKnownHost)));
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new InvalidConfigError(`known-host capacity must be a positive integer, got ${knownHostsCapacity}`);
  }
  const knownHostsBytes = capacity * bytesPerKnownHost;
  if (knownHostsBytes >= totalBytes / 2) {
    throw new InvalidConfigError(`known-host capacity ${capacity} leaves too little of ${memoryMB} MB for storage`);
  }
  const inboundBufferBytes = Math.floor(totalBytes * inboundBufferShare);
  const outboundBufferBytes = Math.floor(totalBytes * outboundBufferShare);
  const storageBytes = totalBytes - knownHostsBytes - inboundBufferBytes - outboundBufferBytes;
  return { totalBytes, knownHostsCapacity: capacity, knownHostsBytes, inboundBufferBytes, outboundBufferBytes, storageBytes };
}
