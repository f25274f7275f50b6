import { createNode, type NodeOptions } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { Simulation, type SimRuntime } from '../src/runtime/sim/index.js';
import { segmentBlockKeys } from '../src/storage/segment.js';
import { storage, type StorageOptions, type StorageService } from '../src/storage/service.js';

export type StorageNode = ButterNode<{ storage: StorageService }>;

/** A small simulated network of storage nodes for the group tests: every node bootstraps from every earlier one. */
export class StorageCluster {
  readonly simulation: Simulation;
  readonly nodes: StorageNode[] = [];

  constructor(seed: number) {
    this.simulation = new Simulation({ seed });
  }

  /** A node on a simulated host of its own, or on `nodeOptions.runtime` (a host whose disk holds an earlier node's data). */
  async add(storageOptions: Partial<StorageOptions> = {}, nodeOptions: Omit<NodeOptions, 'services'> = {}): Promise<StorageNode> {
    const runtime = nodeOptions.runtime ?? this.simulation.createHost({});
    const bootstrap = this.alive().map((node) => node.address);
    const services = { storage: storage(storageOptions) };
    const node = await this.settle(createNode({ host: '127.0.0.1', memoryMB: 16, bootstrap, ...nodeOptions, runtime, services }));
    await this.settle(node.spawn());
    this.nodes.push(node);
    return node;
  }

  async addMany(count: number, storageOptions: Partial<StorageOptions> = {}): Promise<StorageNode[]> {
    const added: StorageNode[] = [];
    for (let index = 0; index < count; index += 1) added.push(await this.add(storageOptions));
    await this.run(500); // introductions and announcements
    return added;
  }

  alive(): StorageNode[] {
    return this.nodes.filter((node) => node.isRunning && this.simulation.isAlive(node.runtime as SimRuntime));
  }

  crash(node: ButterNode): void {
    this.simulation.crash(node.runtime as SimRuntime);
  }

  /** The node's process dies, its machine stays up: its OS ends its connections. */
  kill(node: ButterNode): void {
    this.simulation.kill(node.runtime as SimRuntime);
  }

  async run(ms: number): Promise<void> {
    await this.simulation.runFor(ms);
  }

  /** Awaits a promise while virtual time runs (bounded). */
  async settle<T>(promise: Promise<T>, maxMs = 120_000): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => {
      settled = true;
    });
    tracked.catch(() => undefined);
    for (let step = 0; step < 3 && !settled; step += 1) await this.simulation.runFor(0);
    const deadline = this.simulation.now + maxMs;
    while (!settled && this.simulation.now < deadline) await this.simulation.runFor(5);
    if (!settled) throw new Error(`did not settle within ${maxMs} simulated ms`);
    return tracked;
  }

  /** Nodes alive that hold the blocks of segment `key` and count themselves as alive members of its group. */
  holders(key: string): StorageNode[] {
    const blockKeys = segmentBlockKeys(key);
    return this.alive().filter((node) => blockKeys.every((blockKey) => storageOf(node).has(blockKey)) && storageOf(node).groups().some((group) => group.key === key));
  }

  /** The group's state as its holders see it, e.g. ['goldilocks', 'goldilocks', 'goldilocks']. */
  states(key: string): string[] {
    return this.holders(key).map((node) => storageOf(node).groups().find((group) => group.key === key)?.state ?? 'none');
  }
}

export function storageOf(node: StorageNode): StorageService {
  return node.services.storage;
}

/**
 * Starts `count` storage nodes on real TLS (loopback), each bootstrapping from those before it,
 * pushed onto `nodes` as they spawn (so the caller's `after` stops them even on a failure),
 * then waits for introductions and announcements.
 */
export async function startRealStorageNodes(nodes: StorageNode[], count: number): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    const bootstrap = nodes.map((earlier) => earlier.address);
    const node = await createNode({ host: '127.0.0.1', memoryMB: 16, bootstrap, services: { storage: storage({ heartbeatIntervalMs: 200 }) } });
    await node.spawn();
    nodes.push(node);
  }
  await new Promise((resolve) => setTimeout(resolve, 400));
}
