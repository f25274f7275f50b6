import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../src/runtime/sim/random.js';
import { GroupMembership, membershipOptions } from '../src/storage/membership.js';
import { maxChallengeItems, possessionDigest, PossessionChallenges, type HeldSegments, type PeerSeats } from '../src/storage/challenges.js';
import { segmentBlockKeys } from '../src/storage/segment.js';
import { storageOf, StorageCluster, type StorageNode } from './storage-groups-cluster.js';

const address = { host: '10.0.0.2', port: 4000 };
/** Every segment held here has parts 0–3 of 4,096 bytes. */
const held: HeldSegments = { parts: () => [0, 1, 2, 3], blockLength: () => 4096 };
const key = (index: number) => `${'ab'.repeat(32)}.${4 * 128}:${index}`;

describe('possession challenges: the planner', () => {
  it('sweeps once per interval, from a random phase, one challenge per peer with a fresh nonce and ranges inside the block', () => {
    const core = new PossessionChallenges(new SeededRandom(5), 10_000, 0);
    const peers: PeerSeats[] = [
      { peerId: 'a', address, seats: [{ key: key(0), sinceMs: 0 }] },
      { peerId: 'b', address, seats: [{ key: key(0), sinceMs: 0 }, { key: key(1), sinceMs: 0 }] },
    ];
    const first = core.nextDeadlineMs;
    assert.ok(first >= 0 && first < 10_000);
    assert.deepEqual(core.poll(first - 1, () => peers, held), []);
    const sweep = core.poll(first, () => peers, held);
    assert.deepEqual(sweep.map((challenge) => [challenge.peerId, challenge.items.length]), [['a', 1], ['b', 2]]);
    assert.notDeepEqual(sweep[0]?.nonce, sweep[1]?.nonce);
    for (const item of sweep.flatMap((challenge) => challenge.items)) assert.ok(item.offset + item.length <= 4096 && item.length >= 1 && item.part <= 3);
    assert.equal(core.nextDeadlineMs, first + 10_000);
  });

  it('puts seats not yet verified first; once passed, only one verified seat is re-checked', () => {
    const core = new PossessionChallenges(new SeededRandom(6), 10_000, 0);
    const seats = Array.from({ length: 50 }, (_, index) => ({ key: key(index), sinceMs: index }));
    const peers = () => [{ peerId: 'a', address, seats }];
    let challenge = core.poll(core.nextDeadlineMs, peers, held)[0]!;
    assert.equal(challenge.items.length, maxChallengeItems - 1, 'the oldest unverified seats first, the rest wait');
    assert.deepEqual(challenge.items.map((item) => item.key), seats.slice(0, maxChallengeItems - 1).map((seat) => seat.key));
    core.passed(challenge);
    challenge = core.poll(core.nextDeadlineMs, peers, held)[0]!;
    const waiting = seats.slice(maxChallengeItems - 1).map((seat) => seat.key);
    assert.deepEqual(challenge.items.slice(0, waiting.length).map((item) => item.key), waiting);
    assert.equal(challenge.items.length, waiting.length + 1, 'plus one verified seat');
    core.passed(challenge);
    // A seat vouched for now (alive since after the sweep) is challenged at the next sweep.
    const vouched = { key: key(99), sinceMs: core.nextDeadlineMs - 1 };
    challenge = core.poll(core.nextDeadlineMs, () => [{ peerId: 'a', address, seats: [...seats, vouched] }], held)[0]!;
    assert.deepEqual(challenge.items.map((item) => item.key)[0], vouched.key);
    assert.equal(challenge.items.length, 2);
  });

  it('the digest depends on the nonce, the block and the range', () => {
    const data = new Uint8Array(100).map((_, index) => index);
    const nonce = new Uint8Array(16).fill(1);
    const base = possessionDigest(nonce, 'k/0', data, 10, 20);
    assert.notDeepEqual(possessionDigest(new Uint8Array(16).fill(2), 'k/0', data, 10, 20), base);
    assert.notDeepEqual(possessionDigest(nonce, 'k/1', data, 10, 20), base);
    assert.notDeepEqual(possessionDigest(nonce, 'k/0', data, 11, 20), base);
    assert.deepEqual(possessionDigest(nonce, 'k/0', data.slice(), 10, 20), base);
  });
});

describe('possession challenges: the membership core', () => {
  it('a dispossessed member that refutes with a higher incarnation does not count again while barred', () => {
    const options = membershipOptions({ heartbeatIntervalMs: 1_000 });
    const [a, b] = ['a'.repeat(64), 'b'.repeat(64)];
    const cores = new Map([
      [a, new GroupMembership(a, new SeededRandom(1), options, 0)],
      [b, new GroupMembership(b, new SeededRandom(2), options, 0)],
    ]);
    const segment = key(0);
    cores.get(a)!.join(segment, 2, [{ id: b, ...address, incarnation: 1 }], 0);
    cores.get(b)!.join(segment, 2, [{ id: a, ...address, incarnation: 1 }], 0);
    let now = 0;
    const run = (ms: number) => {
      for (const end = now + ms; now < end; now += 100) {
        for (const [id, core] of cores) for (const beat of core.poll(now).heartbeats) cores.get(beat.peerId)?.receiveHeartbeat(id, address, beat.message, now);
      }
    };
    const statusOfB = () => cores.get(a)!.snapshot()[0]?.members.find((member) => member.id === b)?.status;
    run(3_000);
    assert.equal(statusOfB(), 'alive');
    cores.get(a)!.dispossess(segment, b, now, 20_000);
    assert.equal(statusOfB(), 'left');
    // b hears it is left and refutes at a higher incarnation (as a member holding nothing would): still not counted.
    run(10_000);
    assert.notEqual(statusOfB(), 'alive');
    assert.equal(cores.get(a)!.state(segment), 'cold', 'the group recruits instead');
  });
});

describe('possession challenges on the simulator', () => {
  it('a member that dropped its blocks fails its challenge, loses its seat, and the group recruits another', async () => {
    const cluster = new StorageCluster(81);
    const options = { heartbeatIntervalMs: 1_000, challengeIntervalMs: 5_000 };
    const nodes = await cluster.addMany(7, options);
    const writer = nodes[0] as StorageNode;
    const data = writer.runtime.random.bytes(20_000);
    const contentId = await cluster.settle(storageOf(writer).store(data, { replicas: 3, durable: true }));
    const segment = `${contentId}:0`;
    await cluster.run(6_000);
    const before = cluster.holders(segment);
    assert.equal(before.length, 3);
    const victim = before.find((node) => node !== writer) as StorageNode;

    // Its disk loses the blocks; its membership does not know (no heartbeat says so).
    for (const blockKey of segmentBlockKeys(segment)) storageOf(victim).blocks.delete(blockKey);
    assert.ok(storageOf(victim).groups().some((group) => group.key === segment), 'still a member');
    await cluster.run(12_000); // two challenge intervals and a recruitment

    const after = cluster.holders(segment);
    assert.equal(after.length, 3, 'the group is back at r');
    assert.ok(!after.includes(victim));
    assert.ok(after.some((node) => !before.includes(node)), 'a new member was recruited');
    for (const node of after) {
      const seat = storageOf(node).groups().find((group) => group.key === segment)?.members.find((member) => member.id === victim.id);
      assert.ok(seat === undefined || seat.status !== 'alive', 'no member counts the victim');
    }
    assert.deepEqual(await cluster.settle(storageOf(nodes[6] as StorageNode).findContent(contentId)), data);
  });
});
