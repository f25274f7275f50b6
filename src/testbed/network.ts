import { createNode, type NodeOptions } from '../node/create.js';
import type { ButterNode } from '../node/node.js';
import type { FactoryMap } from '../node/service.js';
import { createRealRuntime } from '../runtime/real.js';
import { SeededRandom, Simulation, type LinkConditions, type SimRuntime } from '../runtime/sim/index.js';
import type { Random, Runtime } from '../runtime/types.js';
import type { DeathKind } from './churn.js';

export type RuntimeKind = 'sim' | 'real';

export interface NetworkPlan {
  runtime: RuntimeKind;
  seed: number;
  /** Simulated link conditions (sim only). */
  link: Partial<LinkConditions>;
  /** Nodes per multicast domain (sim only): a LAN of thousands is unrealistic. */
  subnetSize: number;
  /** A seat's own subnet, or a NAT in front of it (sim only); default: its LAN, no NAT. */
  hostOf?: (index: number) => { subnet?: string; behindNat?: boolean };
}

/** Everything an experiment's node needs besides the runtime. */
export type NodeRecipe = (index: number, network: TestNetwork) => NodeOptions<FactoryMap>;
/** Registers routes and behaviours, then spawns. */
export type NodeSetup = (node: ButterNode, index: number) => Promise<void>;

export interface TrafficTotals {
  messages: number;
  bytes: number;
  byLabel: Record<string, { messages: number; bytes: number }>;
}

/**
 * A population of Butter nodes for an experiment, on the simulator (virtual
 * time, seeded) or on real sockets in this process (wall-clock time). It
 * joins, kills and replaces nodes, advances time, and keeps the traffic of
 * nodes that died so per-phase totals stay whole.
 */
export class TestNetwork {
  readonly simulation: Simulation | undefined;
  /** The testbed's own randomness for experiments (who joins where, what is stored), separate from the nodes'. */
  readonly random: Random;
  /** Who dies each second of churn, and how: a stream of its own, so an experiment that draws more does not change the churn. */
  readonly churnRandom: Random;
  private readonly realRuntime: Runtime | undefined;
  private readonly alive = new Set<ButterNode>();
  /** Weak, so that the thousands of nodes churn kills can be collected. */
  private readonly indexOf = new WeakMap<ButterNode, number>();
  private readonly retired: TrafficTotals = { messages: 0, bytes: 0, byLabel: {} };
  private nextIndex = 0;
  deaths = 0;

  constructor(
    readonly plan: NetworkPlan,
    private readonly recipe: NodeRecipe,
    private readonly setup: NodeSetup,
  ) {
    if (plan.runtime === 'sim') {
      this.simulation = new Simulation({ seed: plan.seed, link: plan.link });
      this.random = new SeededRandom(plan.seed).fork('testbed');
    } else {
      this.realRuntime = createRealRuntime();
      this.random = this.realRuntime.random;
    }
    this.churnRandom = this.random.fork('churn');
  }

  get nodes(): ButterNode[] {
    return [...this.alive];
  }

  get size(): number {
    return this.alive.size;
  }

  /** Milliseconds since the network was created (virtual on the simulator). */
  now(): number {
    return this.simulation ? this.simulation.now : (this.realRuntime as Runtime).now();
  }

  /** The node's seat: its position in the network, which fixes its LAN (a replacement takes the dead node's seat). */
  nodeIndex(node: ButterNode): number {
    return this.indexOf.get(node) ?? -1;
  }

  /**
   * Creates, sets up and spawns one more node. `overrides` change the recipe's
   * options for this node only, e.g. a fresh node that measures a search;
   * `seat` puts it in a dead node's place (its LAN), a new seat otherwise.
   */
  async addNode(overrides: Partial<NodeOptions<FactoryMap>> = {}, seat?: number): Promise<ButterNode> {
    const index = seat ?? this.nextIndex++;
    const runtime = this.simulation
      ? this.simulation.createHost({ subnet: `lan-${Math.floor(index / this.plan.subnetSize)}`, ...this.plan.hostOf?.(index) })
      : (this.realRuntime as Runtime);
    // No service runs unless the experiment's recipe names it: only what it measures runs.
    const node = await this.settle(createNode({ host: '127.0.0.1', services: {}, ...this.recipe(index, this), ...overrides, runtime }));
    await this.settle(this.setup(node, index));
    this.alive.add(node);
    this.indexOf.set(node, index);
    return node;
  }

  /**
   * Removes a node: a crash goes silent at once (sim), a kill has its OS end its connections
   * (sim), either drops its sockets (real); a leave is graceful.
   */
  async kill(node: ButterNode, kind: DeathKind): Promise<void> {
    if (!this.alive.delete(node)) return;
    this.deaths += 1;
    if (kind === 'leave') await this.settle(node.stop());
    else if (this.simulation && kind === 'kill') this.simulation.kill(node.runtime as SimRuntime);
    else if (this.simulation) this.simulation.crash(node.runtime as SimRuntime);
    else await node.stop({ graceful: false });
    this.retire(node);
  }

  /** Lets `ms` of time pass: virtual on the simulator, wall-clock on real sockets. */
  async advance(ms: number): Promise<void> {
    if (this.simulation) {
      await this.simulation.runFor(ms);
      return;
    }
    await new Promise<void>((resolve) => (this.realRuntime as Runtime).setTimer(ms, resolve));
  }

  /** Traffic of every node that ever ran, alive or dead. */
  traffic(): TrafficTotals {
    // Copy each label's count: adding the alive nodes must not change the retired totals.
    const byLabel: TrafficTotals['byLabel'] = {};
    for (const [label, count] of Object.entries(this.retired.byLabel)) byLabel[label] = { ...count };
    const totals: TrafficTotals = { messages: this.retired.messages, bytes: this.retired.bytes, byLabel };
    for (const node of this.alive) addTraffic(totals, node);
    return totals;
  }

  /** `routeTraffic` of `traffic()`, without building every node's labels: for figures taken per query. */
  routeTraffic(routes: readonly string[]): { messages: number; bytes: number } {
    const total = routeTraffic(this.retired, routes);
    for (const node of this.alive) {
      for (const route of routes) {
        const count = node.traffic.sentOn(route);
        total.messages += count.messages;
        total.bytes += count.bytes;
      }
    }
    return total;
  }

  /** Stops every node (not gracefully: the experiment is over). */
  async shutdown(): Promise<void> {
    const nodes = [...this.alive];
    this.alive.clear();
    if (this.simulation) return; // virtual nodes vanish with the simulation
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
  }

  /**
   * Awaits a promise; on the simulator, the whole network runs on virtual time,
   * event by event, until it settles, and throws after `maxMs` simulated ms
   * (or when nothing is left to happen). Long operations, like a fresh node
   * searching the network, pass a generous bound.
   */
  async settle<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    if (!this.simulation) return promise;
    let settled = false;
    const tracked = promise.finally(() => {
      settled = true;
    });
    tracked.catch(() => undefined);
    // Events run instant by instant, so the clock stops where the operation settled (often where it began).
    if (!(await this.simulation.runUntilDone(() => settled, maxMs))) {
      throw new Error(`operation did not settle within ${maxMs} simulated ms`);
    }
    return tracked;
  }

  private retire(node: ButterNode): void {
    addTraffic(this.retired, node);
  }
}

/** Messages and bytes sent on `routes` (requests and notifications, not their responses) in a traffic total. */
export function routeTraffic(traffic: TrafficTotals, routes: readonly string[]): { messages: number; bytes: number } {
  let messages = 0;
  let bytes = 0;
  for (const [label, count] of Object.entries(traffic.byLabel)) {
    if (label.startsWith('response:') || !routes.some((route) => label.endsWith(`:${route}`))) continue;
    messages += count.messages;
    bytes += count.bytes;
  }
  return { messages, bytes };
}

function addTraffic(totals: TrafficTotals, node: ButterNode): void {
  totals.messages += node.traffic.messagesSent;
  totals.bytes += node.traffic.bytesSent;
  for (const [label, entry] of Object.entries(node.traffic.byLabel())) {
    const sum = (totals.byLabel[label] ??= { messages: 0, bytes: 0 });
    sum.messages += entry.messages;
    sum.bytes += entry.bytes;
  }
}
