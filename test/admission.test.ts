import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OverloadedError } from '../src/errors.js';
import type { ButterNode } from '../src/node/node.js';
import type { Stream } from '../src/runtime/types.js';
import { SeededRandom } from '../src/runtime/sim/index.js';
import { GroupMembership, membershipOptions } from '../src/storage/membership.js';
import { encodeEnvelopeFrame } from '../src/transport/envelope.js';
import { chooseEviction, evictionClass, type EvictionCandidate } from '../src/transport/eviction.js';
import { frameHeaderBytes } from '../src/transport/frames.js';
import { InboundBudget } from '../src/transport/inbound-budget.js';
import { OutboundBuffers } from '../src/transport/outbound-buffers.js';
import { TokenBucket } from '../src/transport/token-bucket.js';
import { freshIdentity } from './support/channel.js';
import { collect, type Collected } from './support/streams.js';
import { bytes, inWorld, realWorld, simWorld, text, type World } from './support/world.js';

describe('token bucket', () => {
  it('admits a burst, then the rate, and refills with time only', () => {
    const bucket = new TokenBucket(10, 5, 0);
    const admitted = Array.from({ length: 8 }, () => bucket.take(0)).filter(Boolean).length;
    assert.equal(admitted, 5, 'the burst');
    assert.equal(bucket.take(50), false, 'half a token after 50 ms at 10/s');
    assert.equal(bucket.take(100), true, 'one token after 100 ms');
    assert.equal(bucket.take(100), false);
    assert.equal(bucket.take(0), false, 'a clock stepping back refills nothing');
    assert.equal(Array.from({ length: 10 }, () => bucket.take(60_000)).filter(Boolean).length, 5, 'never more than the burst held');
  });
});

describe('inbound budget', () => {
  it('charges what fits and nothing of what does not', () => {
    const budget = new InboundBudget(100);
    assert.equal(budget.tryCharge(60), true);
    assert.equal(budget.tryCharge(41), false);
    assert.equal(budget.usedBytes, 60);
    budget.release(60);
    assert.equal(budget.tryCharge(100), true);
  });
});

describe('outbound buffers', () => {
  it('sums what each holder last reported, and reads stale figures again on recount', () => {
    const buffers = new OutboundBuffers<string>(100);
    assert.equal(buffers.record('a', 60), true);
    assert.equal(buffers.record('b', 30), true);
    assert.equal(buffers.record('a', 80), false, '80 + 30 is over the cap');
    assert.deepEqual(buffers.largestFirst(), ['a', 'b']);
    buffers.recount((holder) => (holder === 'a' ? 10 : 30));
    assert.equal(buffers.usedBytes, 40);
    assert.equal(buffers.overCapacity, false);
    buffers.record('b', 0);
    assert.deepEqual(buffers.largestFirst(), ['a'], 'a holder at 0 is forgotten');
  });
});

describe('eviction choice', () => {
  const base: EvictionCandidate = { unauthenticated: false, anonymous: false, protected: false, pendingRequests: 0, lastActivityAt: 0 };
  const named = (name: string, fields: Partial<EvictionCandidate>) => ({ name, ...base, ...fields });

  it('takes an unfinished handshake first, then an anonymous peer, then the idle stranger quiet the longest', () => {
    const handshake = named('handshake', { unauthenticated: true, lastActivityAt: 90 });
    const anonymous = named('anonymous', { anonymous: true, pendingRequests: 3, lastActivityAt: 50 });
    const idleOld = named('idle old', { lastActivityAt: 10 });
    const idleNew = named('idle new', { lastActivityAt: 20 });
    const busy = named('busy', { pendingRequests: 1, lastActivityAt: 0 });
    const known = named('known', { protected: true, lastActivityAt: 0 });
    const all = [known, busy, idleNew, idleOld, anonymous, handshake];
    assert.equal(chooseEviction(all, false)?.name, 'handshake');
    assert.equal(chooseEviction(all.filter((c) => c !== handshake), false)?.name, 'anonymous');
    assert.equal(chooseEviction([known, busy, idleNew, idleOld], false)?.name, 'idle old');
    assert.equal(chooseEviction([known, busy], false), undefined, 'a known host or a busy peer is never closed for a stranger');
    assert.equal(chooseEviction([known, busy], true)?.name, 'known', 'the node may close an idle known host for a dial of its own');
    assert.equal(evictionClass(named('busy known', { protected: true, pendingRequests: 1 }), true), undefined);
  });
});

describe('group peers', () => {
  it('are the peers storage uses: alive fellow members of a group, not strangers', () => {
    const membership = new GroupMembership('a'.repeat(64), new SeededRandom(1), membershipOptions(), 0);
    const fellow = 'b'.repeat(64);
    membership.join(`${'c'.repeat(64)}.1:0`, 3, [{ id: fellow, host: 'b.sim', port: 1000, incarnation: 1 }], 0);
    assert.equal(membership.hasPeer(fellow), true);
    assert.equal(membership.hasPeer('d'.repeat(64)), false);
  });
});

/** A stranger's raw stream to `target`, with a fresh key: nothing said yet; its HELLO names `listenPort` (0: none). */
async function rawStream(world: World, from: ButterNode, target: ButterNode, listenPort = 0): Promise<{ stream: Stream; hello(): void }> {
  const identity = freshIdentity();
  const stream = await world.settle(from.runtime.connect(target.address, { identity, timeoutMs: 5_000 }));
  const listenAddresses = listenPort === 0 ? [] : [{ transport: 'tcp' as const, host: from.address.host, port: listenPort }];
  const hello = () =>
    stream.write(encodeEnvelopeFrame({ kind: 'hello', nodeId: identity.nodeId, publicKey: identity.publicKey, networkId: target.networkId, listenAddresses, observed: undefined }));
  return { stream, hello };
}

const sleep = (world: World, node: ButterNode, ms: number) => world.settle(node.sleep(ms));

/** Waits on `node`'s clock until `condition` holds, for at most `maxMs` (a loaded machine delivers a close late). */
async function until(world: World, node: ButterNode, condition: () => boolean, maxMs = 10_000): Promise<void> {
  for (let waitedMs = 0; !condition() && waitedMs < maxMs; waitedMs += 50) await sleep(world, node, 50);
}

const closes = (streams: Array<{ closes(): number }>) => streams.map((stream) => stream.closes());
const closedCount = (streams: Array<{ closes(): number }>) => closes(streams).filter((count) => count > 0).length;

function admissionSuite(factory: () => World): void {
  it(
    'holds at most maxHandshakesPerAddress unfinished handshakes from one address, each for handshakeTimeoutMs',
    { timeout: 30_000 },
    inWorld(factory, async (world) => {
      const target = await world.createNode({ transport: { maxHandshakesPerAddress: 3, handshakeTimeoutMs: 3_000 } });
      const stranger = await world.createNode();
      await world.settle(Promise.all([target.spawn(), stranger.spawn()]));
      const streams: Collected[] = [];
      for (let index = 0; index < 5; index += 1) streams.push(collect((await rawStream(world, stranger, target)).stream));
      await until(world, target, () => closedCount(streams) >= 2);
      assert.deepEqual(closes(streams), [0, 0, 0, 1, 1], 'those past the per-address cap are closed at once');
      assert.equal(target.admission.handshakes, 3);
      await until(world, target, () => closedCount(streams) === 5);
      assert.deepEqual(closes(streams), [1, 1, 1, 1, 1], 'no HELLO within the deadline: closed');
      assert.equal(target.admission.handshakes, 0);
      assert.deepEqual([...target.handshakeFailures], [['inbound:TIMEOUT', 3]], 'the three past their deadline count as failed handshakes');
    }),
  );

  it(
    'lets the oldest unfinished handshake make room when maxHandshakes are in progress, so a real peer still gets in',
    { timeout: 30_000 },
    inWorld(factory, async (world) => {
      const target = await world.createNode({ transport: { maxHandshakes: 3, maxHandshakesPerAddress: 100 } });
      target.route('echo', (_node, payload) => payload);
      const stranger = await world.createNode();
      const peer = await world.createNode();
      await world.settle(Promise.all([target.spawn(), stranger.spawn(), peer.spawn()]));
      const streams: Collected[] = [];
      for (let index = 0; index < 5; index += 1) streams.push(collect((await rawStream(world, stranger, target)).stream));
      await until(world, target, () => closedCount(streams) >= 2);
      assert.deepEqual(closes(streams), [1, 1, 0, 0, 0], 'the two oldest made room');
      assert.equal(text(await world.settle(peer.request(target.address, 'echo', bytes('in')))), 'in');
      assert.equal(target.admission.handshakes, 2, 'the peer took the oldest slot and left the handshakes by its HELLO');
    }),
  );

  it(
    'closes the anonymous stranger quiet the longest to make room when every slot is taken, not the real peer',
    { timeout: 30_000 },
    inWorld(factory, async (world) => {
      const target = await world.createNode({ transport: { maxConnections: 2 } });
      target.route('echo', (_node, payload) => payload);
      const stranger = await world.createNode();
      const peer = await world.createNode();
      await world.settle(Promise.all([target.spawn(), stranger.spawn(), peer.spawn()]));
      const anonymous = await rawStream(world, stranger, target);
      const anonymousClosed = collect(anonymous.stream);
      anonymous.hello();
      await until(world, target, () => target.openConnections === 1 && target.admission.handshakes === 0);
      assert.equal(target.openConnections, 1);
      assert.equal(text(await world.settle(peer.request(target.address, 'echo', bytes('1')))), '1');
      const second = await rawStream(world, stranger, target);
      const secondClosed = collect(second.stream);
      second.hello();
      await until(world, target, () => anonymousClosed.closes() > 0);
      assert.equal(anonymousClosed.closes(), 1, 'the anonymous peer quiet the longest made room');
      assert.equal(secondClosed.closes(), 0);
      assert.equal(text(await world.settle(peer.request(target.address, 'echo', bytes('2')))), '2', 'the real peer kept its connection');
    }),
  );

  it(
    'never closes a known host to admit a stranger: the idle stranger makes room though the known host is quieter',
    { timeout: 30_000 },
    inWorld(factory, async (world) => {
      const known = await world.createNode();
      await world.settle(known.spawn());
      const target = await world.createNode({ transport: { maxConnections: 2 }, bootstrap: [known.address] });
      const stranger = await world.createNode();
      await world.settle(Promise.all([target.spawn(), stranger.spawn()]));
      await until(world, target, () => target.knownHosts.get(known.id) !== undefined);
      assert.ok(target.knownHosts.get(known.id), 'the bootstrap peer is a known host');
      await sleep(world, target, 100);
      // Each connection of the known host's began with a HELLO of its own: a count that moves means it was closed and made again.
      const knownHellos = known.traffic.byLabel()['hello']?.messages ?? 0;
      const idle = await rawStream(world, stranger, target, 9);
      const idleClosed = collect(idle.stream);
      idle.hello();
      await until(world, target, () => target.openConnections === 2 && target.admission.handshakes === 0);
      const newcomer = await rawStream(world, stranger, target, 9);
      const newcomerClosed = collect(newcomer.stream);
      newcomer.hello();
      await until(world, target, () => idleClosed.closes() > 0 || newcomerClosed.closes() > 0);
      assert.equal(idleClosed.closes(), 1, 'the idle stranger made room');
      assert.equal(newcomerClosed.closes(), 0);
      await sleep(world, target, 500);
      assert.equal(known.traffic.byLabel()['hello']?.messages ?? 0, knownHellos, 'the known host kept its one connection');
    }),
  );

  it(
    'answers OVERLOADED past a peer\'s request rate, and serves it again once tokens flow back',
    { timeout: 30_000 },
    inWorld(factory, async (world) => {
      const target = await world.createNode({ transport: { maxRequestsPerSecond: 10, requestBurst: 5 } });
      target.route('echo', (_node, payload) => payload);
      const peer = await world.createNode();
      await world.settle(Promise.all([target.spawn(), peer.spawn()]));
      const outcomes = await world.settle(
        Promise.all(Array.from({ length: 12 }, () => peer.request(target.address, 'echo', bytes('x')).then(() => 'ok', (error: Error) => error))),
      );
      assert.equal(outcomes.filter((outcome) => outcome === 'ok').length, 5, 'the burst');
      assert.ok(outcomes.filter((outcome) => outcome !== 'ok').every((outcome) => outcome instanceof OverloadedError), 'the rest OVERLOADED');
      await sleep(world, peer, 300);
      assert.equal(text(await world.settle(peer.request(target.address, 'echo', bytes('again')))), 'again');
    }),
  );

  it(
    'closes a connection whose partial frame does not fit the inbound cap, and releases what closed connections held',
    { timeout: 30_000 },
    inWorld(factory, async (world) => {
      // 16 MB: an inbound cap of 2 MiB, room for two partial frames of 768 KiB and not three.
      const target = await world.createNode({ memoryMB: 16 });
      const stranger = await world.createNode();
      await world.settle(Promise.all([target.spawn(), stranger.spawn()]));
      assert.equal(target.admission.inboundBufferCapacityBytes, 2 * 1024 * 1024);
      const partial = new Uint8Array(frameHeaderBytes + 768 * 1024);
      new DataView(partial.buffer).setUint32(0, 768 * 1024 + 1);
      const holders: Array<{ raw: Awaited<ReturnType<typeof rawStream>>; closed: Collected }> = [];
      for (let index = 0; index < 3; index += 1) {
        const raw = await rawStream(world, stranger, target);
        holders.push({ raw, closed: collect(raw.stream) });
        raw.hello();
        raw.stream.write(partial);
        const heldBefore = target.admission.inboundBufferBytes;
        await until(world, target, () => target.admission.inboundBufferBytes >= heldBefore + 768 * 1024 || holders.some((holder) => holder.closed.closes() > 0));
      }
      assert.deepEqual(closes(holders.map((holder) => holder.closed)), [0, 0, 1]);
      assert.ok(target.admission.inboundBufferBytes <= 2 * 1024 * 1024);
      assert.ok(target.admission.inboundBufferBytes >= 2 * 768 * 1024, `${target.admission.inboundBufferBytes} bytes held`);
      for (const holder of holders) holder.raw.stream.destroy();
      await until(world, target, () => target.admission.inboundBufferBytes === 0);
      assert.equal(target.admission.inboundBufferBytes, 0);
    }),
  );
}

describe('send buffers on the real runtime (the simulator hands written bytes to its network at once)', () => {
  it(
    'closes the connections of strangers that ask and never read once all send buffers together reach their cap; a peer that reads is served',
    { timeout: 60_000 },
    inWorld(realWorld, async (world) => {
      // 16 MB: an outbound cap of 2 MiB. Each stranger asks for 15 MiB of answers (under the
      // 16 MiB a single connection may buffer) and never reads: more than the loopback
      // socket buffers take, so the rest waits in the node's memory unless it lets go.
      const target = await world.createNode({ memoryMB: 16 });
      const answer = new Uint8Array(256 * 1024);
      target.route('blob', () => answer);
      target.route('echo', (_node, payload) => payload);
      const stranger = await world.createNode();
      const peer = await world.createNode();
      await world.settle(Promise.all([target.spawn(), stranger.spawn(), peer.spawn()]));
      const capBytes = target.admission.outboundBufferCapacityBytes;
      assert.equal(capBytes, 2 * 1024 * 1024);
      assert.equal(text(await world.settle(peer.request(target.address, 'echo', bytes('before')))), 'before');
      const connectionsBefore = target.openConnections;
      const raws: Stream[] = [];
      try {
        for (let index = 0; index < 4; index += 1) {
          const raw = await rawStream(world, stranger, target);
          raws.push(raw.stream);
          raw.hello();
          for (let request = 1; request <= 60; request += 1) raw.stream.write(encodeEnvelopeFrame({ kind: 'request', requestId: request, route: 'blob', payload: new Uint8Array(0) }));
        }
        await until(world, target, () => target.openConnections === connectionsBefore && target.admission.outboundBufferBytes < capBytes, 20_000);
        assert.equal(target.openConnections, connectionsBefore, 'every stranger that did not read was closed');
        assert.ok(target.admission.outboundBufferBytes < capBytes, `${target.admission.outboundBufferBytes} bytes still counted`);
      } finally {
        // Never read, so never told of a close: let go of them here.
        for (const raw of raws) raw.destroy();
      }
      // A peer that reads gets a burst of answers (1 MiB in one turn of the loop) and its echo.
      const answers = await world.settle(Promise.all(Array.from({ length: 4 }, () => peer.request(target.address, 'blob', new Uint8Array(0)))));
      assert.deepEqual(answers.map((received) => received.length), [answer.length, answer.length, answer.length, answer.length]);
      assert.equal(text(await world.settle(peer.request(target.address, 'echo', bytes('after')))), 'after');
    }),
  );
});

describe('admission control on the real runtime', () => admissionSuite(realWorld));
describe('admission control on the simulator', () => admissionSuite(() => simWorld(11)));
