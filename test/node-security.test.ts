import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { InvalidConfigError, PeerUnreachableError } from '../src/errors.js';
import { createNode } from '../src/node/create.js';
import type { Logger } from '../src/node/logger.js';
import type { ButterNode } from '../src/node/node.js';
import { createRealRuntime } from '../src/runtime/real.js';
import { Simulation } from '../src/runtime/sim/index.js';
import type { Runtime } from '../src/runtime/types.js';
import { defaultTransportOptions } from '../src/transport/options.js';
import { ConnectionPool } from '../src/transport/pool.js';
import { TrafficCounters } from '../src/transport/traffic.js';
import { freshIdentity } from './support/channel.js';
import { bytes, realWorld, simWorld, text, within, type World } from './support/world.js';

/**
 * What the channel proves, on both runtimes through the one protocol code path:
 * a HELLO must carry the key the channel verified (no impersonation), and on a
 * private network both ends prove the network key before any HELLO.
 */

const keyA = new Uint8Array(32).fill(0xa1);
const keyB = new Uint8Array(32).fill(0xb2);

/** A logger that keeps the warnings, where refused handshakes are reported. */
function warnings(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const ignore = (): void => undefined;
  const logger: Logger = {
    debug: ignore,
    info: ignore,
    error: ignore,
    warn: (context) => messages.push(String((context as { err?: Error }).err?.message)),
  };
  return { logger, messages };
}

for (const [kind, makeWorld] of [['real', realWorld], ['sim', () => simWorld(3)]] as const) {
  describe(`private networks (${kind})`, () => {
    const world: World = makeWorld();
    after(() => world.close());

    async function spawned(options: Parameters<World['createNode']>[0]): Promise<ButterNode> {
      const node = await world.createNode(options);
      node.route('echo', (_node, payload) => payload);
      await world.settle(node.spawn());
      return node;
    }

    it('lets nodes holding the same key talk', async () => {
      const server = await spawned({ networkKey: keyA });
      const client = await spawned({ networkKey: Buffer.from(keyA).toString('hex') });
      assert.equal(text(await world.settle(client.request(server.address, 'echo', bytes('in')))), 'in');
    });

    it('refuses a peer with another key, and one with none, whichever side dials', async () => {
      const refusals = warnings();
      const server = await spawned({ networkKey: keyA, logger: refusals.logger });
      const wrongKey = await spawned({ networkKey: keyB });
      const noKey = await spawned({});
      for (const client of [wrongKey, noKey]) {
        await assert.rejects(world.settle(client.request(server.address, 'echo', bytes('out'), { timeoutMs: 3_000 })), PeerUnreachableError);
        await assert.rejects(world.settle(server.request(client.address, 'echo', bytes('out'), { timeoutMs: 3_000 })), PeerUnreachableError);
      }
      assert.ok(refusals.messages.some((message) => message.includes('another network key')), refusals.messages.join('; '));
      assert.ok(refusals.messages.some((message) => message.includes('no network key proof')), refusals.messages.join('; '));
      // A public network keeps working beside it.
      const publicServer = await spawned({});
      assert.equal(text(await world.settle(noKey.request(publicServer.address, 'echo', bytes('pub')))), 'pub');
    });
  });
}

describe('network key options', () => {
  const runtime = () => new Simulation({ seed: 1 }).createHost({});

  it('refuses a key of the wrong length or form as a configuration error', async () => {
    for (const networkKey of [new Uint8Array(31), 'abc', 'zz'.repeat(32), 42]) {
      await assert.rejects(createNode({ runtime: runtime(), networkKey: networkKey as never, services: {} }), InvalidConfigError);
    }
  });

  it('reads <dataDir>/network.key, and refuses one that disagrees with the option or is malformed', async () => {
    const host = runtime();
    await host.disk.makeDirectory('/data');
    await host.disk.createFile('/data/network.key', new TextEncoder().encode(`${Buffer.from(keyA).toString('hex')}\n`), { mode: 0o600 });
    const node = await createNode({ runtime: host, dataDir: '/data', services: {} });
    assert.ok(node, 'a node with the key file');
    await assert.rejects(createNode({ runtime: host, dataDir: '/data', networkKey: keyB, services: {} }), /differs/);
    const broken = runtime();
    await broken.disk.makeDirectory('/data');
    await broken.disk.createFile('/data/network.key', new Uint8Array(5), { mode: 0o600 });
    await assert.rejects(createNode({ runtime: broken, dataDir: '/data', services: {} }), InvalidConfigError);
  });
});

/**
 * An impersonator: it holds a key of its own, proves it in the channel's handshake, then
 * sends a HELLO with another node's id and public key (the victim's, which is public).
 * Returns once the target has hung up.
 */
async function impersonate(attackerRuntime: Runtime, target: ButterNode, settle: <T>(promise: Promise<T>) => Promise<T>): Promise<void> {
  const victim = freshIdentity();
  const pool = new ConnectionPool(
    attackerRuntime,
    { nodeId: victim.nodeId, publicKey: victim.publicKey, networkId: 'butter', listenAddresses: [] },
    {
      channel: { identity: freshIdentity(), networkKey: undefined },
      hasRoute: () => false,
      handleRequest: () => Promise.reject(new Error('unused')),
      handleNotify: () => undefined,
      acceptHello: () => undefined,
      networkKeyRefused: () => undefined,
    },
    defaultTransportOptions,
    new TrafficCounters(),
  );
  try {
    // The target's HELLO may reach the impersonator before the target refuses its HELLO: then the
    // dial succeeds on this side and the connection is closed a moment later.
    const connection = await settle(pool.connectionTo({ id: undefined, address: target.address }, 3_000).catch(() => undefined));
    if (connection?.isOpen) await settle(new Promise<void>((resolve) => connection.onClose(resolve)));
  } finally {
    pool.closeAll();
  }
}

describe('impersonation', () => {
  it('is refused on the simulator: the HELLO key is not the one the channel verified', async () => {
    const simulation = new Simulation({ seed: 9 });
    const refusals = warnings();
    const target = await createNode({ runtime: simulation.createHost({}), services: {}, discovery: { enabled: false }, logger: refusals.logger });
    const settle = async <T>(promise: Promise<T>): Promise<T> => {
      let done = false;
      void promise.finally(() => (done = true)).catch(() => undefined);
      while (!done) await simulation.runFor(10);
      return promise;
    };
    await settle(target.spawn());
    await impersonate(simulation.createHost({}), target, settle);
    assert.ok(refusals.messages.includes('HELLO public key is not the key the channel verified'), refusals.messages.join('; '));
    await settle(target.stop({ graceful: false }));
  });

  it('is refused over real TLS', { timeout: 20_000 }, async () => {
    const runtime = createRealRuntime();
    const refusals = warnings();
    const target = await createNode({ host: '127.0.0.1', runtime, services: {}, discovery: { enabled: false }, logger: refusals.logger });
    await target.spawn();
    try {
      await impersonate(runtime, target, (promise) => within(promise, 'the impersonation'));
      assert.ok(refusals.messages.includes('HELLO public key is not the key the channel verified'), refusals.messages.join('; '));
    } finally {
      await target.stop({ graceful: false });
    }
  });
});
