import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../src/runtime/sim/index.js';
import { BeatSchedule, coversMember } from '../src/storage/beat-schedule.js';
import { DeadlineQueue, ExpiryQueue } from '../src/storage/deadline-queue.js';
import { memberStatus } from '../src/storage/group-messages.js';

describe('deadline queue', () => {
  it('pops due keys earliest first, once, and reports the next deadline', () => {
    const queue = new DeadlineQueue<string>();
    const random = new SeededRandom(3);
    const times = new Map<string, number>();
    for (let index = 0; index < 200; index += 1) {
      const atMs = random.int(10_000);
      queue.set(`k${index}`, atMs);
      times.set(`k${index}`, atMs);
    }
    const earliest = Math.min(...times.values());
    assert.equal(queue.nextMs(), earliest);
    assert.deepEqual(queue.popDue(earliest - 1), []);
    const due = queue.popDue(5_000);
    assert.deepEqual(
      due.map((key) => times.get(key)),
      [...times.values()].filter((atMs) => atMs <= 5_000).sort((a, b) => a - b),
    );
    assert.equal(queue.size, 200 - due.length);
    assert.deepEqual(queue.popDue(5_000), [], 'each key once');
    assert.ok(queue.nextMs() > 5_000);
  });

  it('moves and deletes deadlines lazily: stale entries never surface', () => {
    const queue = new DeadlineQueue<string>();
    queue.set('a', 100);
    queue.set('b', 200);
    queue.set('a', 300);
    queue.set('c', 50);
    queue.delete('c');
    queue.set('d', Infinity);
    assert.equal(queue.nextMs(), 200);
    assert.deepEqual(queue.popDue(250), ['b']);
    assert.deepEqual(queue.popDue(1_000), ['a']);
    assert.equal(queue.nextMs(), Infinity);
    assert.equal(queue.size, 0);
  });

  it('stays within a bounded multiple of its live keys however often they move', () => {
    const queue = new DeadlineQueue<number>();
    for (let round = 0; round < 1_000; round += 1) for (let key = 0; key < 10; key += 1) queue.set(key, round * 10 + key);
    const heap = (queue as unknown as { heap: unknown[] }).heap;
    assert.ok(heap.length <= 2 * 10 + 32 + 1, `heap of ${heap.length} entries for 10 keys`);
    assert.deepEqual(queue.popDue(Infinity), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((key) => key));
  });

  it('a wake-up with nothing due looks at the head only', () => {
    const queue = new DeadlineQueue<number>();
    for (let key = 0; key < 10_000; key += 1) queue.set(key, 1_000 + key);
    const before = queue.visits;
    assert.deepEqual(queue.popDue(999), []);
    assert.equal(queue.nextMs(), 1_000);
    assert.ok(queue.visits - before <= 2, `${queue.visits - before} visits`);
  });
});

describe('expiry queue', () => {
  interface Item {
    name: string;
    atMs: number | undefined;
  }
  const queueOf = (lifetimeMs: number) => new ExpiryQueue<Item>(lifetimeMs, (item) => item.atMs);
  const touch = (queue: ExpiryQueue<Item>, item: Item, atMs: number) => {
    item.atMs = atMs;
    queue.touch(item, atMs);
  };

  it('expires items a lifetime after their last touch, oldest first, each once', () => {
    const queue = queueOf(100);
    const [a, b, c] = ['a', 'b', 'c'].map((name): Item => ({ name, atMs: undefined })) as [Item, Item, Item];
    touch(queue, a, 0);
    touch(queue, b, 10);
    touch(queue, c, 20);
    touch(queue, a, 30); // a moves behind c
    touch(queue, c, 30);
    touch(queue, c, 30); // twice at the same time: still once
    assert.equal(queue.nextExpiryMs(), 110);
    assert.deepEqual(queue.popExpired(109), []);
    assert.deepEqual(
      queue.popExpired(130).map((item) => item.name),
      ['b', 'a', 'c'],
    );
    assert.equal(queue.nextExpiryMs(), Infinity);
  });

  it('an item its owner no longer queues is skipped', () => {
    const queue = queueOf(100);
    const a: Item = { name: 'a', atMs: undefined };
    const b: Item = { name: 'b', atMs: undefined };
    touch(queue, a, 0);
    touch(queue, b, 50);
    a.atMs = undefined;
    assert.equal(queue.nextExpiryMs(), 150);
    assert.deepEqual(
      queue.popExpired(1_000).map((item) => item.name),
      ['b'],
    );
  });

  it('refuses a touch earlier than the last (the order it relies on)', () => {
    const queue = queueOf(100);
    touch(queue, { name: 'a', atMs: undefined }, 50);
    assert.throws(() => queue.touch({ name: 'b', atMs: 10 }, 10), /before/);
  });

  it('stays bounded when the same items are touched over and over', () => {
    const queue = queueOf(1_000_000);
    const items = Array.from({ length: 10 }, (_, index): Item => ({ name: String(index), atMs: undefined }));
    for (let round = 0; round < 10_000; round += 1) for (const item of items) touch(queue, item, round);
    assert.ok(queue.length <= 1_024 + 10, `${queue.length} entries for 10 items`);
    assert.equal(queue.popExpired(Infinity).length, 10);
  });
});

describe('beat schedule', () => {
  const options = { heartbeatIntervalMs: 2_000, palpitationChance: 0 };

  it('gives each new peer a random phase within the interval, then beats it every interval', () => {
    const schedule = new BeatSchedule(new SeededRandom(1), options);
    for (const peer of ['a', 'b', 'c', 'd']) schedule.add(peer, 1_000);
    const phases = ['a', 'b', 'c', 'd'].map((peer) => schedule.beatAtMs(peer) as number);
    assert.ok(phases.every((atMs) => atMs >= 1_000 && atMs < 3_000), phases.join());
    assert.equal(new Set(phases).size, 4, 'pairs met together do not beat together');
    schedule.add('a', 5_000);
    assert.equal(schedule.beatAtMs('a'), phases[0], 'adding again keeps the phase');
    const beats: Array<[string, number]> = [];
    for (let nowMs = 1_000; nowMs < 11_000; nowMs += 10) for (const peer of schedule.due(nowMs).scheduled) beats.push([peer, nowMs]);
    for (const peer of ['a', 'b', 'c', 'd']) {
      const times = beats.filter(([name]) => name === peer).map(([, atMs]) => atMs);
      assert.equal(times.length, 5, `${peer}: ${times.join()}`);
      for (let index = 1; index < times.length; index += 1) assert.equal((times[index] as number) - (times[index - 1] as number), 2_000);
    }
  });

  it('palpitations bring the next beat forward to 20–100 % of the interval', () => {
    const schedule = new BeatSchedule(new SeededRandom(2), { heartbeatIntervalMs: 2_000, palpitationChance: 1 });
    schedule.add('a', 0);
    const gaps: number[] = [];
    let last: number | undefined;
    for (let nowMs = 0; nowMs < 60_000; nowMs += 1) {
      if (schedule.due(nowMs).scheduled.length === 0) continue;
      if (last !== undefined) gaps.push(nowMs - last);
      last = nowMs;
    }
    assert.ok(gaps.length > 30);
    assert.ok(
      gaps.every((gap) => gap >= 400 && gap <= 2_001),
      gaps.join(),
    );
    assert.ok(new Set(gaps).size > 10, 'a random point of the interval');
  });

  it('urgent peers are beaten at the next poll once, off schedule; unknown and removed peers never', () => {
    const schedule = new BeatSchedule(new SeededRandom(3), options);
    schedule.add('a', 0);
    schedule.add('b', 0);
    const aAtMs = schedule.beatAtMs('a') as number;
    schedule.markUrgent('a');
    schedule.markUrgent('stranger');
    schedule.markUrgent('b');
    schedule.remove('b');
    assert.ok(schedule.hasUrgent);
    assert.deepEqual(schedule.due(0), { scheduled: aAtMs === 0 ? ['a'] : [], urgent: aAtMs === 0 ? [] : ['a'] });
    assert.equal(schedule.beatAtMs('a'), aAtMs, 'an urgent beat does not move the phase');
    assert.deepEqual(schedule.due(1), { scheduled: [], urgent: [] });
    assert.equal(schedule.peerCount, 1);
  });

  it('a poll with nothing due looks at the head of the schedule only', () => {
    const schedule = new BeatSchedule(new SeededRandom(4), options);
    for (let peer = 0; peer < 5_000; peer += 1) schedule.add(`p${peer}`, 10_000);
    const before = schedule.visits;
    assert.deepEqual(schedule.due(9_999), { scheduled: [], urgent: [] });
    assert.ok(schedule.visits - before <= 2);
  });
});

describe('which groups a beat covers', () => {
  const options = { heartbeatIntervalMs: 2_000, failureTimeoutMs: 2_200 };
  it('alive members always, departed ones for a failure timeout, suspected ones at doubling probe gaps', () => {
    assert.deepEqual(coversMember({ status: memberStatus.alive, changedAtMs: 0, probeAtMs: 0 }, 50_000, true, options), { covered: true, probeAtMs: 0 });
    assert.equal(coversMember({ status: memberStatus.left, changedAtMs: 1_000, probeAtMs: 0 }, 3_199, false, options).covered, true);
    assert.equal(coversMember({ status: memberStatus.left, changedAtMs: 1_000, probeAtMs: 0 }, 3_200, false, options).covered, false);
    const suspected = { status: memberStatus.suspected, changedAtMs: 1_000, probeAtMs: 0 };
    assert.deepEqual(coversMember(suspected, 2_000, true, options), { covered: false, probeAtMs: 0 }, 'never at an urgent beat');
    const first = coversMember(suspected, 2_000, false, options);
    assert.deepEqual(first, { covered: true, probeAtMs: 4_000 }, 'at least an interval apart');
    assert.equal(coversMember({ ...suspected, probeAtMs: first.probeAtMs }, 3_999, false, options).covered, false);
    // Ten seconds after the suspicion, the next probe waits ten seconds more.
    assert.deepEqual(coversMember({ ...suspected, probeAtMs: 4_000 }, 11_000, false, options), { covered: true, probeAtMs: 21_000 });
  });
});
