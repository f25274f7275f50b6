import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import type { FactoryMap } from '../src/node/service.js';
import { retrieval, type RetrievalOptions, type RetrievalService } from '../src/retrieval/service.js';
import { Simulation } from '../src/runtime/sim/index.js';
import { storage, type StorageOptions, type StorageService } from '../src/storage/service.js';

export type RetrievalNode = ButterNode<{ storage: StorageService; retrieval: RetrievalService }>;

/** A simulated network of storage + retrieval nodes: each bootstraps from up to 3 random earlier ones. */
export class RetrievalCluster {
  readonly simulation: Simulation;
  readonly nodes: RetrievalNode[] = [];

  /**
   * Nodes that `add` builds run storage with `storageOptions` (replication 2 unless a test says otherwise)
   * on `memoryMB` each (16 MB: 4 known hosts, a sparse graph).
   */
  constructor(
    seed: number,
    readonly storageOptions: Partial<StorageOptions> = { replicas: 2 },
    readonly memoryMB = 16,
  ) {
    this.simulation = new Simulation({ seed });
  }

  async add(options: Partial<RetrievalOptions> = {}, services?: FactoryMap): Promise<ButterNode> {
    const runtime = this.simulation.createHost({});
    const earlier = this.nodes.map((node) => node.address);
    const bootstrap = earlier.filter((_, index) => index >= earlier.length - 3);
    const chosen = services ?? { storage: storage(this.storageOptions), retrieval: retrieval(options) };
    const node = await this.settle(createNode({ host: '127.0.0.1', memoryMB: this.memoryMB, bootstrap, runtime, services: chosen, discovery: { enabled: false } }));
    await this.settle(node.spawn());
    if (!services) this.nodes.push(node as unknown as RetrievalNode);
    return node;
  }

  async addMany(count: number, options: Partial<RetrievalOptions> = {}): Promise<void> {
    for (let index = 0; index < count; index += 1) await this.add(options);
    await this.simulation.runFor(3_000); // introductions, peer exchange, first summaries
  }

  /** Messages of `route` sent by every node so far. */
  sent(route: string): number {
    let total = 0;
    for (const node of this.nodes) {
      for (const [label, entry] of Object.entries(node.traffic.byLabel())) if (label.endsWith(`:${route}`) && !label.startsWith("response:")) total += entry.messages;
    }
    return total;
  }

  async settle<T>(promise: Promise<T>, maxMs = 120_000): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => {
      settled = true;
    });
    tracked.catch(() => undefined);
    if (!(await this.simulation.runUntilDone(() => settled, maxMs))) throw new Error(`did not settle within ${maxMs} simulated ms`);
    return tracked;
  }
}
