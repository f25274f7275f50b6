import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../src/runtime/sim/index.js';
import type { HeartbeatMessage } from '../src/storage/group-messages.js';
import { GroupMembership, membershipOptions, type PollResult } from '../src/storage/membership.js';

/**
 * A wake-up costs only the work that is due: the membership core indexes its work by
 * deadline, and counts what its polls examine (`pollVisits`).
 */

const idOf = (letter: string) => letter.repeat(64);
const addressOf = (id: string) => ({ host: `${id.slice(0, 1)}.sim`, port: 1000 });
const recordOf = (id: string) => ({ id, ...addressOf(id), incarnation: 1 });
const keyOf = (index: number, count: number) => `${'e'.repeat(64)}.${count}:${index}`;
const [self, b, c, d] = ['a', 'b', 'c', 'd'].map(idOf) as [string, string, string, string];

/** A beat from `sender` covering `keys`, each view naming this node and `others` alive. */
function beatFrom(core: GroupMembership, sender: string, keys: readonly string[], others: readonly string[]): HeartbeatMessage {
  const members = [core.selfId, ...others].map((id) => ({ id, ...addressOf(id) }));
  const view: Array<[number, number, 0]> = [[-1, 1, 0], ...members.map((member, index): [number, number, 0] => [index, member.id === core.selfId ? core.incarnation : 1, 0])];
  return { incarnation: 1, members, groups: keys.map((key) => ({ key, replicas: view.length, wanted: view.length, view })) };
}

function visits(core: GroupMembership, poll: () => PollResult): { visits: number; result: PollResult } {
  const before = core.pollVisits;
  const result = poll();
  return { visits: core.pollVisits - before, result };
}

/** This node in `count` groups of four with b, c and d, every peer beating it. */
function sharedWithThree(count: number) {
  const core = new GroupMembership(self, new SeededRandom(7), membershipOptions({ palpitationChance: 0 }), 0);
  const keys = Array.from({ length: count }, (_, index) => keyOf(index, count));
  for (const key of keys) core.join(key, 4, [recordOf(b), recordOf(c), recordOf(d)], 0);
  const beats = [b, c, d].map((peer) => beatFrom(core, peer, keys, [b, c, d].filter((other) => other !== peer)));
  const deliver = (nowMs: number) => [b, c, d].forEach((peer, index) => core.receiveHeartbeat(peer, addressOf(peer), beats[index] as HeartbeatMessage, nowMs));
  deliver(0);
  core.poll(0); // the first beats (every peer is urgent after the join) and the first decisions
  return { core, keys, deliver };
}

describe('membership: a wake-up costs only the work that is due', () => {
  it('1,000 groups shared with 3 peers: a poll with nothing due visits a constant handful of entries', () => {
    for (const count of [10, 1_000]) {
      const { core } = sharedWithThree(count);
      const { visits: idle, result } = visits(core, () => core.poll(1));
      assert.equal(result.heartbeats.length, 0);
      assert.ok(idle <= 8, `${count} groups: ${idle} visits`);
      assert.ok(result.nextDeadlineMs > 1, 'the next deadline is the head of a queue, later than now');
    }
  });

  it('a poll when one peer’s beat is due does work for that peer’s groups only', () => {
    const count = 999;
    const core = new GroupMembership(self, new SeededRandom(8), membershipOptions({ palpitationChance: 0 }), 0);
    // 333 groups of two with each of b, c and d.
    const keysOf = new Map([b, c, d].map((peer, slot) => [peer, Array.from({ length: count / 3 }, (_, index) => keyOf(3 * index + slot, count))]));
    for (const [peer, keys] of keysOf) for (const key of keys) core.join(key, 2, [recordOf(peer)], 0);
    const deliver = (nowMs: number) => {
      for (const [peer, keys] of keysOf) core.receiveHeartbeat(peer, addressOf(peer), beatFrom(core, peer, keys, []), nowMs);
    };
    deliver(0);
    core.poll(0);
    let nowMs = 0;
    let checked = 0;
    while (checked < 6) {
      const { nextDeadlineMs } = core.poll(nowMs);
      nowMs = nextDeadlineMs;
      deliver(nowMs); // every peer beats just before, so only this node's beats fall due
      const { visits: work, result } = visits(core, () => core.poll(nowMs));
      if (result.heartbeats.length === 0) continue;
      checked += 1;
      assert.equal(result.heartbeats.length, 1, 'one peer due');
      const [beat] = result.heartbeats;
      // In full, or a repeat of the last full beat (which is built, and compared, all the same).
      assert.equal(beat?.message.groups.length, beat?.message.repeat === undefined ? count / 3 : 0);
      // Its 333 memberships, and the two members of each of its groups written into the beat: 3 × 333, plus the queue heads.
      assert.ok(work <= 3 * (count / 3) + 16, `${work} visits for a beat covering ${count / 3} groups of ${count}`);
    }
  });

  it('with every group shared with the 3 peers, one peer’s beat costs its groups, not groups × members × peers', () => {
    const { core, deliver } = sharedWithThree(1_000);
    let nowMs = 0;
    for (let due = 0; due < 6; ) {
      nowMs = core.poll(nowMs).nextDeadlineMs;
      deliver(nowMs);
      const { visits: work, result } = visits(core, () => core.poll(nowMs));
      if (result.heartbeats.length === 0) continue;
      due += 1;
      assert.equal(result.heartbeats.length, 1);
      // 1,000 memberships plus 4 members written per group: 5,000, where a scan of every group would be 3 × 4 × 1,000 and more.
      assert.ok(work <= 5_000 + 16, `${work} visits`);
    }
  });

  it('a steady peer’s beat is a repeat that costs a handful of visits, whatever the groups; a change costs one full beat', () => {
    for (const count of [10, 1_000]) {
      const { core, keys, deliver } = sharedWithThree(count);
      let nowMs = 0;
      const duePolls = (polls: number) => {
        const costs: Array<{ work: number; repeat: boolean }> = [];
        while (costs.length < polls) {
          nowMs = core.poll(nowMs).nextDeadlineMs;
          deliver(nowMs);
          const { visits: work, result } = visits(core, () => core.poll(nowMs));
          for (const { message } of result.heartbeats) costs.push({ work, repeat: message.repeat !== undefined });
        }
        return costs;
      };
      duePolls(6); // each peer's first beat after the joins goes in full
      const steady = duePolls(6);
      assert.ok(steady.every((cost) => cost.repeat && cost.work <= 16), `${count} groups: ${JSON.stringify(steady)}`);
      // A new member in one group changes what every peer sees of it: each peer's next beat is built again, and goes in full.
      core.admit(keys[0] as string, { id: 'f'.repeat(64), host: 'f.sim', port: 1000, incarnation: 1 }, nowMs);
      const changed = visits(core, () => core.poll(nowMs));
      const toPeers = changed.result.heartbeats.filter(({ peerId }) => [b, c, d].includes(peerId));
      assert.equal(toPeers.length, 3, 'the members are told at once');
      assert.ok(toPeers.every(({ message }) => message.state !== undefined && message.groups.length === count));
    }
  });

  it('receiving a steady peer’s repeat costs a handful of visits, whatever the groups, and keeps its groups alive', () => {
    for (const count of [10, 1_000]) {
      const core = new GroupMembership(self, new SeededRandom(9), membershipOptions({ palpitationChance: 0 }), 0);
      const keys = Array.from({ length: count }, (_, index) => keyOf(index, count));
      for (const key of keys) core.join(key, 2, [recordOf(b)], 0);
      core.receiveHeartbeat(b, addressOf(b), { ...beatFrom(core, b, keys, []), state: 7 }, 0);
      const repeat = { incarnation: 1, members: [], groups: [], repeat: 7 };
      const costs: number[] = [];
      for (let nowMs = 2_000; nowMs <= 20_000; nowMs += 2_000) {
        const before = core.pollVisits;
        core.receiveHeartbeat(b, addressOf(b), repeat, nowMs);
        costs.push(core.pollVisits - before);
        assert.deepEqual(core.poll(nowMs).silentPeers, [], `${count} groups at ${nowMs} ms`);
      }
      // The first repeat refreshes each group in a few steps; the later ones all at once.
      assert.ok(costs.slice(1).every((cost) => cost <= 2), `${count} groups: ${costs.join()}`);
      assert.ok(core.snapshot().every((group) => group.members.every((member) => member.status === 'alive')));
      // Silence after the last repeat: suspected on time, in every group.
      assert.deepEqual(core.poll(22_100).silentPeers, []);
      assert.deepEqual(
        core.poll(22_300).silentPeers.map((peer) => peer.peerId),
        [b],
      );
      assert.ok(core.snapshot().every((group) => group.members.find((member) => member.id === b)?.status === 'suspected'));
    }
  });

  it('receiving a beat that covers all of a peer’s groups keeps its single failure deadline exact', () => {
    const { core, deliver } = sharedWithThree(100);
    deliver(1_000);
    const { result } = visits(core, () => core.poll(1_000));
    // Every peer was heard at 1 s: no failure deadline before 3.2 s, whatever the beats.
    assert.ok(result.nextDeadlineMs <= 3_200);
    for (let nowMs = 1_001; nowMs < 3_200; nowMs += 37) assert.deepEqual(core.poll(nowMs).silentPeers, [], `at ${nowMs}`);
    const silent = core.poll(3_200);
    assert.deepEqual(silent.silentPeers.map((peer) => peer.peerId).sort(), [b, c, d]);
    assert.ok(core.snapshot().every((group) => group.state === 'cold'));
  });

  it('a member silent about one group is suspected there on time, and stays alive in the others', () => {
    const count = 50;
    const core = new GroupMembership(self, new SeededRandom(9), membershipOptions({ palpitationChance: 0 }), 0);
    const keys = Array.from({ length: count }, (_, index) => keyOf(index, count));
    for (const key of keys) core.join(key, 2, [recordOf(b)], 0);
    core.receiveHeartbeat(b, addressOf(b), beatFrom(core, b, keys, []), 0);
    core.poll(0);
    // From 1 s, b's beats leave out the first group: only that membership times out, at 0 + 2.2 s.
    for (const nowMs of [1_000, 2_000]) core.receiveHeartbeat(b, addressOf(b), beatFrom(core, b, keys.slice(1), []), nowMs);
    const statusIn = (key: string) => core.snapshot().find((group) => group.key === key)?.members.find((member) => member.id === b)?.status;
    core.poll(2_199);
    assert.equal(statusIn(keys[0] as string), 'alive');
    const { visits: work, result } = visits(core, () => core.poll(2_200));
    assert.equal(statusIn(keys[0] as string), 'suspected');
    assert.deepEqual(result.silentPeers.map((peer) => peer.peerId), [b]);
    assert.ok(keys.slice(1).every((key) => statusIn(key) === 'alive'));
    assert.ok(work <= 3 * count + 16, `${work} visits: b's memberships, once`);
  });

  it('nothing is ever due before the reported deadline, and extra wake-ups change nothing', () => {
    // Two runs of the same inputs: one polled at its deadlines only, one also at random moments in between.
    const run = (extraPolls: boolean) => {
      const random = new SeededRandom(11);
      const { core, keys } = sharedWithThree(40);
      const log: string[] = [];
      let nowMs = 0;
      let nextMs = core.poll(0).nextDeadlineMs;
      // Beats every 0.7 s from b, c and d; d dies at 5 s, c stops covering half the groups at 8 s.
      for (let inputAtMs = 700; nowMs < 20_000; ) {
        const untilMs = Math.min(nextMs, inputAtMs);
        if (extraPolls) {
          const times = [random.float(), random.float(), random.float()].map((share) => nowMs + share * (untilMs - nowMs)).sort((x, y) => x - y);
          for (const atMs of times.filter((time) => time > nowMs && time < untilMs)) {
            const idle = core.poll(atMs);
            assert.equal(idle.heartbeats.length + idle.silentPeers.length + idle.recruitments.length + idle.sheddings.length, 0, `work due at ${atMs}, before ${untilMs}`);
            nowMs = atMs;
          }
        }
        nowMs = untilMs;
        if (inputAtMs === untilMs) {
          if (inputAtMs < 5_000) core.receiveHeartbeat(d, addressOf(d), beatFrom(core, d, keys, [b, c]), inputAtMs);
          core.receiveHeartbeat(b, addressOf(b), beatFrom(core, b, keys, [c, d]), inputAtMs);
          core.receiveHeartbeat(c, addressOf(c), beatFrom(core, c, inputAtMs < 8_000 ? keys : keys.slice(20), [b, d]), inputAtMs);
          inputAtMs += 700;
        }
        const result = core.poll(nowMs);
        log.push(`${nowMs} ${result.heartbeats.map((beat) => `${beat.peerId.slice(0, 1)}:${beat.message.groups.length}`).join(',')} ${result.silentPeers.length} ${result.recruitments.length}`);
        nextMs = result.nextDeadlineMs;
      }
      return log;
    };
    const plain = run(false);
    assert.ok(plain.some((line) => line.split(' ')[2] !== '0'), 'the run suspects someone');
    assert.deepEqual(run(true), plain);
  });
});
