import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ButterError,
  ConnectionClosedError,
  HandlerError,
  InvalidArgumentError,
  NodeStoppedError,
  OverloadedError,
  PayloadTooLargeError,
  PeerUnreachableError,
  TimeoutError,
  UnknownRouteError,
} from '../src/errors.js';
import type { NodeOptions } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import type { Address } from '../src/runtime/types.js';
import { TestNetwork } from '../src/testbed/network.js';
import { bytes, deferred, inWorld, realWorld, simWorld, text, type World } from './support/world.js';

/**
 * The request/response suite of the node API, written once and run on both
 * runtimes: real TCP on loopback and the simulator on virtual time.
 */

const testTimeout = { timeout: 30_000 };
/** Small limits so that payload checks are cheap to exercise. */
const smallPayloads: NodeOptions['transport'] = { maxPayloadBytes: 1024, maxFrameBytes: 2048 };

/** Routes every test node serves. */
function serveTestRoutes(node: ButterNode, hanging: { received?: () => void } = {}): void {
  node
    .route('echo', (_node, payload) => payload)
    .route('reverse', (_node, payload) => Uint8Array.from(payload).reverse())
    .route('who', (_node, _payload, context) => bytes(`${context.peer.id} ${context.peer.address?.port ?? '-'}`))
    .route('fail', () => {
      throw new Error('deliberate failure');
    })
    .route('hang', () => {
      hanging.received?.();
      return new Promise<Uint8Array>(() => undefined);
    })
    .route('grow', (_node, payload) => new Uint8Array(payload.length * 2))
    .route('size', (_node, payload) => bytes(String(payload.length)));
}

async function spawnedNode(world: World, options: NodeOptions = {}, hanging: { received?: () => void } = {}): Promise<ButterNode> {
  const node = await world.createNode(options);
  serveTestRoutes(node, hanging);
  await world.settle(node.spawn());
  return node;
}

function helloCount(node: ButterNode): number {
  return node.traffic.byLabel()['hello']?.messages ?? 0;
}

/** Runs `body` on a fresh world and always shuts the world down. */

function requestSuite(factory: () => World): void {
  it(
    'answers a request with the route reply and tells the handler who asked',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world);
      const client = await spawnedNode(world);
      const reply = await world.settle(client.request(server.address, 'reverse', bytes('butter')));
      assert.equal(text(reply), 'rettub');
      const who = text(await world.settle(client.request(server.address, 'who', new Uint8Array())));
      assert.equal(who, `${client.id} ${client.address.port}`);
    }),
  );

  it(
    'carries binary payloads byte for byte, the empty one included',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world);
      const client = await spawnedNode(world);
      const payloads = [
        new Uint8Array(),
        new Uint8Array([0]),
        Uint8Array.from({ length: 256 }, (_, index) => index),
        Uint8Array.from({ length: 64 * 1024 }, (_, index) => (index * 7919) % 251),
      ];
      for (const payload of payloads) {
        const reply = await world.settle(client.request(server.address, 'echo', payload));
        assert.deepEqual(new Uint8Array(reply), payload, `payload of ${payload.length} bytes`);
      }
    }),
  );

  it(
    'uses one connection per peer pair for many requests, in both directions',
    testTimeout,
    inWorld(factory, async (world) => {
      const a = await spawnedNode(world);
      const b = await spawnedNode(world);
      for (let index = 0; index < 10; index += 1) {
        assert.equal(text(await world.settle(a.request(b.address, 'echo', bytes(`a${index}`)))), `a${index}`);
      }
      for (let index = 0; index < 10; index += 1) {
        assert.equal(text(await world.settle(b.request(a.address, 'echo', bytes(`b${index}`)))), `b${index}`);
      }
      const concurrent = Array.from({ length: 20 }, (_, index) =>
        index % 2 === 0 ? a.request(b.address, 'echo', bytes(`${index}`)) : b.request(a.address, 'echo', bytes(`${index}`)),
      );
      const replies = await world.settle(Promise.all(concurrent));
      assert.deepEqual(replies.map(text), Array.from({ length: 20 }, (_, index) => `${index}`));
      // Every connection starts with one HELLO from each side: one each means one connection.
      assert.equal(helloCount(a), 1);
      assert.equal(helloCount(b), 1);
      assert.equal(a.traffic.byLabel()['request:echo']?.messages, 20);
      assert.equal(b.traffic.byLabel()['request:echo']?.messages, 20);
    }),
  );

  it(
    'keeps one connection when two nodes dial each other at the same moment',
    testTimeout,
    inWorld(factory, async (world) => {
      const a = await spawnedNode(world, { transport: { idleTimeoutMs: 2_000 } });
      const b = await spawnedNode(world, { transport: { idleTimeoutMs: 2_000 } });
      const first = await world.settle(Promise.all([a.request(b.address, 'echo', bytes('from a')), b.request(a.address, 'echo', bytes('from b'))]));
      assert.deepEqual(first.map(text), ['from a', 'from b']);
      assert.equal(helloCount(a), 2, 'both dialled: two connections at first');
      // The duplicate is closed by the sweep once quiet; requests keep flowing over the one that stays.
      for (let round = 0; round < 3; round += 1) {
        await world.settle(new Promise<void>((resolve) => a.runtime.setTimer(1_000, resolve)));
        await world.settle(Promise.all([a.request(b.address, 'echo', bytes('a')), b.request(a.address, 'echo', bytes('b'))]));
      }
      assert.equal(a.openConnections, 1);
      assert.equal(b.openConnections, 1);
      assert.equal(helloCount(a), 2, 'no connection dialled again');
      assert.equal(helloCount(b), 2);
    }),
  );

  it(
    'fails an unknown route with UnknownRouteError and keeps the connection',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world);
      const client = await spawnedNode(world);
      await assert.rejects(world.settle(client.request(server.address, 'no-such-route', bytes('x'))), UnknownRouteError);
      assert.equal(text(await world.settle(client.request(server.address, 'echo', bytes('still here')))), 'still here');
      assert.equal(helloCount(client), 1);
    }),
  );

  it(
    'turns a throwing handler into HandlerError and the server answers the next request',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world);
      const client = await spawnedNode(world);
      await assert.rejects(world.settle(client.request(server.address, 'fail', bytes('x'))), (error: unknown) => {
        assert.ok(error instanceof HandlerError, String(error));
        assert.match(error.message, /deliberate failure/);
        return true;
      });
      assert.equal(text(await world.settle(client.request(server.address, 'echo', bytes('next')))), 'next');
      assert.equal(helloCount(client), 1);
    }),
  );

  it(
    'fails with TimeoutError when the handler does not answer within timeoutMs',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world);
      const client = await spawnedNode(world);
      await assert.rejects(world.settle(client.request(server.address, 'hang', bytes('x'), { timeoutMs: 150 })), TimeoutError);
      assert.equal(text(await world.settle(client.request(server.address, 'echo', bytes('after')))), 'after');
    }),
  );

  it(
    'refuses an oversized payload before sending anything',
    testTimeout,
    inWorld(factory, async (world) => {
      const client = await spawnedNode(world, { transport: smallPayloads });
      const silent = await world.silentAddress();
      await assert.rejects(world.settle(client.request(silent, 'echo', new Uint8Array(1025))), PayloadTooLargeError);
      await assert.rejects(world.settle(client.notify(silent, 'echo', new Uint8Array(1025))), PayloadTooLargeError);
      assert.equal(client.traffic.messagesSent, 0);
    }),
  );

  it(
    'answers an inbound payload over the limit with PayloadTooLargeError',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world, { transport: smallPayloads });
      const client = await spawnedNode(world);
      // Within the server's frame limit but over its payload limit: a typed reply, connection kept.
      await assert.rejects(world.settle(client.request(server.address, 'size', new Uint8Array(1500))), PayloadTooLargeError);
      assert.equal(text(await world.settle(client.request(server.address, 'size', new Uint8Array(1024)))), '1024');
      assert.equal(helloCount(client), 1);
      // Over the frame limit the stream is out of step: the server hangs up, and serves the next one.
      await assert.rejects(world.settle(client.request(server.address, 'size', new Uint8Array(4000))), ConnectionClosedError);
      assert.equal(text(await world.settle(client.request(server.address, 'size', bytes('again')))), '5');
    }),
  );

  it(
    'fails a reply over the requester’s limit with PayloadTooLargeError',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world);
      const client = await spawnedNode(world, { transport: smallPayloads });
      await assert.rejects(world.settle(client.request(server.address, 'grow', new Uint8Array(800))), PayloadTooLargeError);
      assert.equal((await world.settle(client.request(server.address, 'grow', new Uint8Array(500)))).length, 1000);
    }),
  );

  it(
    'refuses work beyond maxConcurrentHandlers and maxPendingRequests with OverloadedError',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world, { transport: { maxConcurrentHandlers: 2 } });
      const client = await spawnedNode(world, { transport: { maxPendingRequests: 3 } });
      const hanging = [1, 2].map((index) => client.request(server.address, 'hang', bytes(`${index}`), { timeoutMs: 15_000 }));
      for (const request of hanging) request.catch(() => undefined); // they end when the world closes
      // The server is busy with two handlers: the third request is refused by the server.
      await assert.rejects(world.settle(client.request(server.address, 'echo', bytes('3'))), OverloadedError);
      const third = client.request(server.address, 'hang', bytes('3'), { timeoutMs: 15_000 });
      third.catch(() => undefined);
      // Three requests wait for a reply: the fourth is refused locally, before it is sent.
      const sentBefore = client.traffic.messagesSent;
      await assert.rejects(world.settle(client.request(server.address, 'echo', bytes('4'))), OverloadedError);
      assert.equal(client.traffic.messagesSent, sentBefore);
    }),
  );

  it(
    'closes idle connections, and the least recently used one when the pool is full',
    testTimeout,
    inWorld(factory, async (world) => {
      const servers = [await spawnedNode(world), await spawnedNode(world), await spawnedNode(world)];
      const client = await spawnedNode(world, { transport: { maxConnections: 2, idleTimeoutMs: 1_000 } });
      const [first, second, third] = servers as [ButterNode, ButterNode, ButterNode];
      await world.settle(client.request(first.address, 'echo', bytes('1')));
      await world.settle(client.request(first.address, 'echo', bytes('1 reused')));
      await world.settle(client.request(second.address, 'echo', bytes('2')));
      await world.settle(client.request(first.address, 'echo', bytes('1 again'))); // second is now the least recently used
      await world.settle(client.request(third.address, 'echo', bytes('3')));
      assert.deepEqual(servers.map(helloCount), [1, 1, 1]);
      await world.settle(client.request(first.address, 'echo', bytes('1 kept')));
      await world.settle(client.request(second.address, 'echo', bytes('2 redialled')));
      assert.deepEqual(servers.map(helloCount), [1, 2, 1], 'only the least recently used connection was closed');

      // Idle for longer than idleTimeoutMs (swept every second): every connection closes.
      await world.settle(new Promise<void>((resolve) => client.runtime.setTimer(2_100, resolve)));
      await world.settle(client.request(first.address, 'echo', bytes('1 after idle')));
      assert.equal(helloCount(first), 2);
    }),
  );

  it(
    'fails with PeerUnreachableError when nothing listens',
    testTimeout,
    inWorld(factory, async (world) => {
      const client = await spawnedNode(world);
      await assert.rejects(world.settle(client.request(await world.silentAddress(), 'echo', bytes('x'))), PeerUnreachableError);
      await assert.rejects(world.settle(client.notify(await world.silentAddress(), 'echo', bytes('x'))), PeerUnreachableError);
    }),
  );

  it(
    'fails pending requests with ConnectionClosedError when the peer stops',
    testTimeout,
    inWorld(factory, async (world) => {
      const handling = deferred<void>();
      const server = await spawnedNode(world, {}, { received: () => handling.resolve() });
      const client = await spawnedNode(world);
      const pending = [1, 2, 3].map((index) => client.request(server.address, 'hang', bytes(`${index}`), { timeoutMs: 15_000 }));
      const outcomes = Promise.allSettled(pending);
      await world.settle(handling.promise);
      await world.settle(server.stop());
      for (const outcome of await world.settle(outcomes)) {
        assert.equal(outcome.status, 'rejected');
        assert.ok(outcome.reason instanceof ConnectionClosedError, String(outcome.reason));
      }
    }),
  );

  it(
    'delivers a notification to the route handler, and drops one for an unknown route',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world);
      const noted = deferred<{ payload: string; from: string }>();
      server.route('note', (_node, payload, context) => {
        noted.resolve({ payload: text(payload), from: context.peer.id });
        return new Uint8Array();
      });
      const client = await spawnedNode(world);
      await world.settle(client.notify(server.address, 'no-such-route', bytes('lost')));
      await world.settle(client.notify(server.address, 'note', bytes('hello')));
      assert.deepEqual(await world.settle(noted.promise), { payload: 'hello', from: client.id });
      // A notification gets no reply, so nothing but the HELLO came back.
      assert.deepEqual(Object.keys(server.traffic.byLabel()), ['hello']);
      assert.equal(text(await world.settle(client.request(server.address, 'echo', bytes('ok')))), 'ok');
    }),
  );

  it(
    'spawns and stops safely when called twice, also at once',
    testTimeout,
    inWorld(factory, async (world) => {
      // A fixed port: a second listen on it would fail.
      const node = await world.createNode({ port: (await world.silentAddress()).port });
      serveTestRoutes(node);
      await world.settle(Promise.all([node.spawn(), node.spawn()]));
      await world.settle(node.spawn());
      assert.ok(node.isRunning);
      const client = await spawnedNode(world);
      assert.equal(text(await world.settle(client.request(node.address, 'echo', bytes('up')))), 'up');

      await world.settle(Promise.all([node.stop(), node.stop()]));
      assert.equal(node.isRunning, false);
      await world.settle(node.stop());
      await assert.rejects(world.settle(node.spawn()), NodeStoppedError);
      await assert.rejects(world.settle(node.request(client.address, 'echo', bytes('x'))), NodeStoppedError);
      // The stopped node's FIN may still be on its way: the first request can meet the closing connection.
      await assert.rejects(world.settle(client.request(node.address, 'echo', bytes('down'))), (error: unknown) => {
        assert.ok(error instanceof PeerUnreachableError || error instanceof ConnectionClosedError, String(error));
        return true;
      });
      await assert.rejects(world.settle(client.request(node.address, 'echo', bytes('down'))), PeerUnreachableError);

      const neverSpawned = await world.createNode();
      await world.settle(neverSpawned.stop());
      await world.settle(neverSpawned.stop());
      await assert.rejects(world.settle(neverSpawned.spawn()), NodeStoppedError);
    }),
  );

  it(
    'starts client behaviours on spawn with an AbortSignal that aborts on stop',
    testTimeout,
    inWorld(factory, async (world) => {
      const node = await world.createNode();
      const signals: AbortSignal[] = [];
      const seen: ButterNode[] = [];
      let finished = 0;
      const behaviour = async (given: ButterNode, signal: AbortSignal): Promise<void> => {
        signals.push(signal);
        seen.push(given);
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        finished += 1;
      };
      node.behaviour(behaviour);
      assert.equal(signals.length, 0, 'nothing runs before spawn');
      await world.settle(node.spawn());
      node.behaviour(behaviour); // added while running: starts at once
      assert.equal(signals.length, 2);
      assert.ok(seen.every((given) => given === node), 'behaviours get their node');
      assert.ok(signals.every((signal) => !signal.aborted));
      await world.settle(node.stop());
      assert.ok(signals.every((signal) => signal.aborted));
      assert.equal(finished, 2, 'stop waits for behaviours to return');
    }),
  );

  it(
    'reports transport failures to onPeerFailure listeners',
    testTimeout,
    inWorld(factory, async (world) => {
      const secondHang = deferred<void>();
      let hangs = 0;
      const server = await spawnedNode(world, {}, { received: () => (hangs += 1) === 2 && secondHang.resolve() });
      const client = await spawnedNode(world);
      const failures: Array<{ address: Address; error: ButterError }> = [];
      const unsubscribe = client.onPeerFailure((peer, error) => failures.push({ address: peer.address as Address, error }));

      const silent = await world.silentAddress();
      await assert.rejects(world.settle(client.request(silent, 'echo', bytes('x'))), PeerUnreachableError);
      await assert.rejects(world.settle(client.request(server.address, 'hang', bytes('x'), { timeoutMs: 100 })), TimeoutError);
      // Failures of the peer's own making are not transport failures.
      await assert.rejects(world.settle(client.request(server.address, 'fail', bytes('x'))), HandlerError);
      await assert.rejects(world.settle(client.request(server.address, 'no-such-route', bytes('x'))), UnknownRouteError);
      const pending = client.request(server.address, 'hang', bytes('y'), { timeoutMs: 15_000 });
      pending.catch(() => undefined);
      await world.settle(secondHang.promise);
      await world.settle(server.stop());
      await assert.rejects(world.settle(pending), ConnectionClosedError);

      assert.deepEqual(
        failures.map(({ address, error }) => [address.port, error.constructor]),
        [
          [silent.port, PeerUnreachableError],
          [server.address.port, TimeoutError],
          [server.address.port, ConnectionClosedError],
        ],
      );
      unsubscribe();
      await assert.rejects(world.settle(client.request(silent, 'echo', bytes('x'))), PeerUnreachableError);
      assert.equal(failures.length, 3, 'an unsubscribed listener hears nothing more');
    }),
  );

  it(
    'addresses peers by id: dialled at the address their HELLO proved, failures named by id',
    testTimeout,
    inWorld(factory, async (world) => {
      const server = await spawnedNode(world);
      const client = await spawnedNode(world);
      const stranger = await spawnedNode(world);
      await assert.rejects(world.settle(client.request(server.id, 'echo', bytes('x'))), /no address known for peer/);
      // An inbound connection teaches the server where the client listens: it can answer back by id.
      assert.equal(text(await world.settle(client.request(server.address, 'echo', bytes('hi')))), 'hi');
      assert.equal(text(await world.settle(server.request(client.id, 'echo', bytes('back')))), 'back');
      assert.equal(text(await world.settle(client.request(server.id, 'echo', bytes('by id')))), 'by id');
      assert.equal(text(await world.settle(client.request({ id: server.id, address: server.address }, 'echo', bytes('both')))), 'both');
      // An address that leads to another peer than the one named is refused (an open connection to the id would win).
      const failures: Array<string | undefined> = [];
      client.onPeerFailure((peer) => failures.push(peer.id));
      await assert.rejects(world.settle(client.request({ id: stranger.id, address: server.address }, 'echo', bytes('x'))), (error: unknown) => {
        assert.ok(error instanceof PeerUnreachableError && /is now peer/.test(error.message), String(error));
        return true;
      });
      assert.deepEqual(failures, [stranger.id]);
      await assert.rejects(world.settle(client.request('f'.repeat(63), 'echo', bytes('x'))), InvalidArgumentError);
      // Each side tells the other where it sees it from.
      assert.ok(server.observedAddresses().some((entry) => entry.peers >= 1), JSON.stringify(server.observedAddresses()));
    }),
  );
}

describe('node requests on real TCP (loopback)', () => requestSuite(realWorld));
describe('node requests on the simulator', () => requestSuite(() => simWorld(7)));

describe('node runs on the simulator replay from their seed', () => {
  /** Five nodes send random requests to six over lossy, jittery links; the sixth crashes midway. */
  async function run(seed: number): Promise<{ trace: string; outcomes: string[] }> {
    const network = new TestNetwork(
      { runtime: 'sim', seed, link: { latencyMs: 2, jitterMs: 3, lossRate: 0.05 }, subnetSize: 64 },
      () => ({ requestTimeoutMs: 2_000 }),
      async (node) => {
        node.route('echo', (_node, payload) => payload);
        await node.spawn();
      },
    );
    const nodes: ButterNode[] = [];
    for (let index = 0; index < 6; index += 1) nodes.push(await network.addNode());
    const outcomes: Array<Promise<string>> = [];
    for (let round = 0; round < 5; round += 1) {
      // The crashed node's own calls never settle (crash-stop), so it only receives.
      for (const node of nodes.slice(0, 5)) {
        const peer = nodes[network.random.int(nodes.length)] as ButterNode;
        const payload = node.runtime.random.bytes(1 + node.runtime.random.int(200));
        outcomes.push(
          node.request(peer.address, 'echo', payload).then(
            (reply) => `${node.id.slice(0, 8)} ok ${Buffer.from(reply).toString('hex')}`,
            (error: unknown) => `${node.id.slice(0, 8)} ${(error as Error).name}`,
          ),
        );
      }
      if (round === 2) await network.kill(nodes[5] as ButterNode, 'crash');
      await network.advance(50);
    }
    const settled = await network.settle(Promise.all(outcomes));
    return { trace: (network.simulation as NonNullable<typeof network.simulation>).traceHash(), outcomes: settled };
  }

  it('gives the same events and replies for the same seed, and others for another seed', testTimeout, async () => {
    const first = await run(21);
    assert.ok(first.outcomes.some((outcome) => outcome.includes(' ok ')), 'some requests succeed');
    assert.deepEqual(await run(21), first);
    const other = await run(22);
    assert.notEqual(other.trace, first.trace);
    assert.notDeepEqual(other.outcomes, first.outcomes);
  });
});
