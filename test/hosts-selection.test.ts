import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DiscoveryCore, defaultDiscoveryOptions, type DiscoveryLocal } from '../src/discovery/core.js';
import { discoveryDatagramCodec, pongSampleCodec } from '../src/discovery/messages.js';
import type { HostQuality, KnownHost } from '../src/hosts/known-hosts.js';
import { admit, averagesOf, classCountsOf, classOf, classStandardDeviation } from '../src/hosts/selection.js';
import { SeededRandom } from '../src/runtime/sim/index.js';

const quality = (uptimeMs: number, availableStorageBytes: number, knownHosts: number): HostQuality => ({
  uptimeMs,
  availableStorageBytes,
  knownHosts,
  ambassador: false,
});
const host = (index: number, hostQuality?: HostQuality): KnownHost => ({
  id: index.toString(16).padStart(64, '0'),
  address: { host: 'h', port: 1000 + index },
  ...(hostQuality ? { quality: hostQuality } : {}),
});

describe('peer selection (SPEC §3)', () => {
  it('classifies by comparing each metric with the average', () => {
    const averages = averagesOf([quality(10, 10, 10), quality(30, 30, 30)]);
    assert.ok(averages);
    assert.equal(classOf(quality(30, 0, 0), averages), 4);
    assert.equal(classOf(quality(0, 30, 0), averages), 2);
    assert.equal(classOf(quality(0, 0, 30), averages), 1);
    assert.equal(classOf(quality(20, 20, 20), averages), 0);
  });

  it('gives the prototype figure: S.D. of the 8 class counts', () => {
    assert.equal(classStandardDeviation([1, 1, 1, 1, 1, 1, 1, 1]), 0);
    assert.equal(classStandardDeviation([8, 0, 0, 0, 0, 0, 0, 0]), Math.sqrt(7));
    assert.deepEqual(classCountsOf([host(1, quality(1, 1, 1)), host(2, quality(3, 3, 3)), host(3)]), [1, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('is greedy below capacity; at capacity a newcomer of the biggest class is rejected, of another replaces one of it', () => {
    const policy = { randomAcceptanceProbability: 0, random: new SeededRandom(1) };
    assert.deepEqual(admit([host(1)], 2, undefined, false, policy), { admit: true, evict: undefined });
    const list = [host(1, quality(0, 0, 0)), host(2, quality(0, 0, 0)), host(3, quality(90, 90, 90))];
    // Average 30/30/30: hosts 1 and 2 are class 0 (the biggest), host 3 is class 7.
    assert.deepEqual(admit(list, 3, quality(1, 1, 1), false, policy), { admit: false });
    const decision = admit(list, 3, quality(100, 0, 0), false, policy);
    assert.equal(decision.admit, true);
    assert.ok(decision.admit && decision.evict && ['1', '2'].includes(decision.evict.id.slice(-1)));
  });

  it('never grows a list beyond capacity, always admits a forced newcomer, never evicts outside the list', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(1000), fc.nat(1000), fc.nat(16)), { minLength: 1, maxLength: 12 }),
        fc.tuple(fc.nat(1000), fc.nat(1000), fc.nat(16)),
        fc.boolean(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        (members, candidate, forced, probability, seed) => {
          const list = members.map(([uptime, storage, known], index) => host(index, quality(uptime, storage, known)));
          const capacity = list.length;
          const decision = admit(list, capacity, quality(...candidate), forced, { randomAcceptanceProbability: probability, random: new SeededRandom(seed) });
          if (forced) assert.equal(decision.admit, true);
          // At capacity, admitting always means replacing one member: the size stays at capacity.
          if (decision.admit) assert.ok(decision.evict && list.includes(decision.evict));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('discovery core (sans-IO)', () => {
  const id = (n: number) => n.toString(16).padStart(64, 'a');
  function core(self: number, knows: () => boolean): DiscoveryCore {
    const local: DiscoveryLocal = {
      id: id(self),
      networkId: 'n',
      listenAddress: () => ({ host: '0.0.0.0', port: 5000 + self }),
      knowsAnyone: knows,
      quality: () => quality(1, 1, 0),
      sample: () => [],
      lanPeers: () => 0,
    };
    return new DiscoveryCore(local, defaultDiscoveryOptions, new SeededRandom(self), 0, 40_000 + self);
  }

  it('pings while it knows no one, stops once it knows a host, resumes when the list empties', () => {
    let knows = false;
    const pinger = core(1, () => knows);
    let pings = 0;
    for (let now = 0; now <= 10_000; now += 100) {
      if (now === 5_000) knows = true;
      if (now === 8_000) knows = false;
      pinger.tick(now);
      pings += pinger.takeOutgoing().filter((datagram) => datagram.kind === 'ping').length;
      if (now === 5_000) assert.ok(pings >= 3, `${pings} pings in 5 s`);
      if (now === 7_900) assert.equal(pinger.nextDeadline(), Infinity);
    }
    const pingsBeforeResume = pings;
    assert.ok(pingsBeforeResume > 3);
    pinger.tick(10_100);
    assert.ok(pinger.nextDeadline() < Infinity);
  });

  it('answers a PING by unicast to its reply port unless the pinger announced it had enough answers', () => {
    const ping = discoveryDatagramCodec.encode({ type: 'ping', networkId: 'n', id: id(9), port: 9, quality: quality(1, 1, 0), replyPort: 4321 });
    const answered = discoveryDatagramCodec.encode({ type: 'answered', networkId: 'n', id: id(9) });
    const quiet = core(2, () => true);
    const answering = core(3, () => true);
    for (const receiver of [quiet, answering]) receiver.receive(ping, { host: 'x', port: 47477 }, 0);
    quiet.receive(answered, { host: 'x', port: 47477 }, 1);
    assert.equal(quiet.nextDeadline(), Infinity, 'nothing left to wake the quiet node for');
    quiet.tick(defaultDiscoveryOptions.pongSpreadMs);
    answering.tick(defaultDiscoveryOptions.pongSpreadMs);
    assert.deepEqual(quiet.takeOutgoing(), []);
    assert.deepEqual(
      answering.takeOutgoing().map((datagram) => [datagram.kind, datagram.to]),
      [['pong', { host: 'x', port: 4321 }]],
    );
    // Both offer the pinger to host management; only the answerer forces it in.
    assert.deepEqual(quiet.takeDiscovered().map((found) => found.forced), [false]);
    assert.deepEqual(answering.takeDiscovered().map((found) => found.forced), [false, true]);
  });

  it('announces ANSWERED once per PING, after enough PONGs, and ignores PONGs for another node', () => {
    const pinger = core(9, () => false);
    const pong = (from: number, to = id(9)) =>
      discoveryDatagramCodec.encode({ type: 'pong', networkId: 'n', id: id(from), port: 9, quality: quality(1, 1, 1), to, hosts: pongSampleCodec.encode([]) });
    pinger.tick(0);
    pinger.tick(1_000); // the first PING
    assert.deepEqual(pinger.takeOutgoing().map((datagram) => [datagram.kind, datagram.to]), [['ping', undefined]]);
    const kinds = () => pinger.takeOutgoing().map((datagram) => datagram.kind);
    pinger.receive(pong(4, id(8)), { host: 'y', port: 1 }, 1_001);
    assert.equal(pinger.stats.stray, 1);
    for (const from of [4, 5]) pinger.receive(pong(from), { host: 'y', port: 1 }, 1_002);
    assert.deepEqual(kinds(), []);
    pinger.receive(pong(6), { host: 'y', port: 1 }, 1_003);
    assert.deepEqual(kinds(), ['answered']);
    pinger.receive(pong(7), { host: 'y', port: 1 }, 1_004);
    assert.deepEqual(kinds(), [], 'announced once');
  });

  it('gives the pinger the answerer and its sample, and drops a PONG whose sample is malformed', () => {
    const pinger = core(9, () => false);
    const sampled = { id: id(7), host: 'h7', port: 7007 };
    const pong = (hosts: Uint8Array) =>
      discoveryDatagramCodec.encode({ type: 'pong', networkId: 'n', id: id(4), port: 9, quality: quality(1, 1, 1), to: id(9), hosts });
    pinger.receive(pong(pongSampleCodec.encode([sampled, { id: id(9), host: 'me', port: 1 }])), { host: 'y', port: 1 }, 0);
    assert.deepEqual(
      pinger.takeDiscovered().map((found) => [found.id, found.address.host, found.onLan]),
      [
        [id(4), 'y', true],
        [id(7), 'h7', false],
      ],
    );
    pinger.receive(pong(new Uint8Array([0xc1])), { host: 'y', port: 1 }, 0);
    pinger.receive(pong(pongSampleCodec.encode([{ ...sampled, id: 'not-a-node-id' }])), { host: 'y', port: 1 }, 0);
    assert.deepEqual(pinger.takeDiscovered(), []);
    assert.equal(pinger.stats.malformed, 2);
  });
});
