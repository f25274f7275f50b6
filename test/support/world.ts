import assert from 'node:assert/strict';
import net from 'node:net';
import { type NodeOptions } from '../../src/node/create.js';
import type { ButterNode } from '../../src/node/node.js';
import type { FactoryMap, ServicesOf } from '../../src/node/service.js';
import type { Address } from '../../src/runtime/types.js';
import { TestNetwork } from '../../src/testbed/network.js';

/**
 * Where a test's nodes live: real TCP on 127.0.0.1 or the simulator on virtual
 * time. Suites written against a World run unchanged on both runtimes.
 */
export interface World {
  readonly kind: 'real' | 'sim';
  /** Creates a node (not yet spawned): on loopback, or on a simulated host of its own; no services unless named. */
  createNode<F extends FactoryMap = Record<never, never>>(options?: NodeOptions<F>): Promise<ButterNode<ServicesOf<F>>>;
  /** Awaits `promise`; on the simulator, virtual time runs until it settles. */
  settle<T>(promise: Promise<T>): Promise<T>;
  /** An address where nothing listens. */
  silentAddress(): Promise<Address>;
  /** Stops every node still running. */
  close(): Promise<void>;
}

/** Builds on the testbed's TestNetwork, which already drives both runtimes. */
function worldOn(kind: 'real' | 'sim', seed: number): World {
  let nextOptions: NodeOptions<FactoryMap> = {};
  const network = new TestNetwork({ runtime: kind, seed, link: {}, subnetSize: 64 }, () => nextOptions, async () => undefined);
  const created: ButterNode[] = [];
  return {
    kind,
    // The recipe builds each node with the very factories it was given: its services are theirs.
    createNode: (async (options: NodeOptions<FactoryMap> = {}) => {
      // Transport tests see only their own traffic: no multicast discovery unless a test asks for it.
      nextOptions = { discovery: { enabled: false }, ...options }; // read by the recipe before addNode's first await
      const node = await network.addNode();
      created.push(node);
      return node;
    }) as World['createNode'],
    // Real sockets run on their own; bound the wait so a hung test still reaches its cleanup.
    settle: (promise) => (network.simulation ? network.settle(promise) : within(promise, 'a real-network operation', 20_000)),
    async silentAddress() {
      if (network.simulation) return { host: network.simulation.createHost().hostName, port: 10_000 };
      return { host: '127.0.0.1', port: await freeLoopbackPort() };
    },
    async close() {
      await network.settle(Promise.all(created.map((node) => node.stop({ graceful: false }))));
    },
  };
}

export const realWorld = (): World => worldOn('real', 0);
export const simWorld = (seed = 1): World => worldOn('sim', seed);

/** A loopback port that was free a moment ago (listen on 0, read it, close). */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** Rejects when `promise` takes longer than `ms` of wall-clock time, so a hung test reaches its cleanup. */
export function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Polls `condition` every 50 ms of wall-clock time, at most `tries` times (real sockets only). */
export async function until(condition: () => boolean, what: string, tries = 200): Promise<void> {
  for (let attempt = 0; attempt < tries; attempt++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`gave up waiting for ${what}`);
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** A test body run in a fresh world, closed afterwards whatever happens. */
export function inWorld(factory: () => World, body: (world: World) => Promise<void>): () => Promise<void> {
  return async () => {
    const world = factory();
    try {
      await body(world);
    } finally {
      await world.close();
    }
  };
}
