import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memberStatus } from '../src/storage/group-messages.js';
import { aliveCount, decide, leaderOf, stateOf, surplusOf, targetOf, type DecisionInput } from '../src/storage/leadership.js';
import { Popularity, RecentRequesters } from '../src/storage/popularity.js';

const options = { maxReplicas: 8, queriesPerExtraReplica: 20, popularityWindowMs: 30_000 };
const { alive, suspected, left } = memberStatus;

describe('popularity', () => {
  it('asks for the base with no queries, and never falls below it', () => {
    const popularity = new Popularity(0);
    assert.equal(popularity.wanted(3, 1_000, options), 3);
    assert.equal(popularity.nextDropAtMs(3, 1_000, options), Infinity);
  });

  it('asks one replica more per queriesPerExtraReplica recent queries, and says when each falls', () => {
    const popularity = new Popularity(0);
    for (let query = 0; query < 45; query += 1) popularity.record(1_000, options);
    assert.equal(popularity.wanted(3, 1_000, options), 5);
    const firstDropMs = popularity.nextDropAtMs(3, 1_000, options);
    // 45 · e^(−t/30 s) < 40 from t = 30 s · ln(45/40) ≈ 3.53 s after the queries.
    assert.equal(firstDropMs, 1_000 + Math.floor(30_000 * Math.log(45 / 40)) + 1);
    assert.equal(popularity.wanted(3, firstDropMs - 1, options), 5, 'not before');
    assert.equal(popularity.wanted(3, firstDropMs, options), 4, 'at the drop');
    const secondDropMs = popularity.nextDropAtMs(3, firstDropMs, options);
    assert.ok(secondDropMs > firstDropMs);
    assert.equal(popularity.wanted(3, secondDropMs - 1, options), 4);
    assert.equal(popularity.wanted(3, secondDropMs, options), 3);
    assert.equal(popularity.nextDropAtMs(3, secondDropMs, options), Infinity);
  });

  it('is capped, and the first drop that matters is the one below the cap', () => {
    const popularity = new Popularity(0);
    for (let query = 0; query < 1_000; query += 1) popularity.record(0, options);
    assert.equal(popularity.wanted(3, 0, options), 8);
    const dropMs = popularity.nextDropAtMs(3, 0, options);
    // Below (8 − 3) · 20 = 100 queries: 30 s · ln(1000/100).
    assert.equal(dropMs, Math.floor(30_000 * Math.log(10)) + 1);
    assert.equal(popularity.wanted(3, dropMs - 1, options), 8);
    assert.equal(popularity.wanted(3, dropMs, options), 7);
    assert.equal(popularity.wanted(10, 0, options), 8, 'a base above the cap asks for the cap');
    assert.equal(popularity.nextDropAtMs(10, 0, options), Infinity);
  });

  it('decays the count between queries', () => {
    const popularity = new Popularity(0);
    popularity.record(0, options);
    popularity.record(30_000, options);
    assert.ok(Math.abs(popularity.scoreAt(30_000, options) - (1 + Math.exp(-1))) < 1e-9);
    assert.ok(Math.abs(popularity.scoreAt(60_000, options) - (1 + Math.exp(-1)) * Math.exp(-1)) < 1e-9);
  });
});

describe('recent requesters', () => {
  it('admits a requester once per window and group', () => {
    const recent = new RecentRequesters(16);
    assert.equal(recent.admit('g', 'p', 0, 1_000), true);
    assert.equal(recent.admit('g', 'p', 999, 1_000), false, 'within the window');
    assert.equal(recent.admit('h', 'p', 999, 1_000), true, 'another group');
    assert.equal(recent.admit('g', 'q', 999, 1_000), true, 'another requester');
    assert.equal(recent.admit('g', 'p', 1_000, 1_000), true, 'the window is over');
  });

  it('stays within its capacity, forgetting the oldest first', () => {
    const recent = new RecentRequesters(4);
    for (let requester = 0; requester < 10; requester += 1) assert.equal(recent.admit('g', `r${requester}`, requester, 60_000), true);
    assert.equal(recent.size, 4);
    assert.equal(recent.admit('g', 'r9', 10, 60_000), false, 'the newest are kept');
    assert.equal(recent.admit('g', 'r0', 10, 60_000), true, 'the oldest went first');
    assert.equal(recent.size, 4);
  });
});

describe('leadership', () => {
  const view = [
    { id: 'a', status: alive, ask: 3 },
    { id: 'd', status: suspected, ask: 7 },
    { id: 'c', status: alive, ask: 5 },
    { id: 'b', status: left, ask: 6 },
  ];

  it('the leader is the highest alive id; the target the highest alive ask, capped', () => {
    assert.equal(leaderOf(view), 'c');
    assert.equal(leaderOf([{ id: 'a', status: left }]), '');
    assert.equal(aliveCount(view), 2);
    assert.equal(targetOf(3, view, (member) => member.ask, 8), 5, 'suspected and left asks do not count');
    assert.equal(targetOf(3, view, (member) => member.ask, 4), 4, 'capped');
    assert.equal(targetOf(6, view, (member) => member.ask, 8), 6, 'never below the base');
    assert.deepEqual([stateOf(2, 3), stateOf(3, 3), stateOf(4, 3)], ['cold', 'goldilocks', 'hot']);
  });

  it('sheds the lowest alive ids, never itself nor an unreachable member', () => {
    const members = ['e', 'b', 'a', 'c', 'd'].map((id) => ({ id, status: id === 'b' ? suspected : alive }));
    assert.deepEqual(
      surplusOf(members, 'a', 2, () => true).map((member) => member.id),
      ['c', 'd'],
    );
    assert.deepEqual(
      surplusOf(members, 'e', 2, (member) => member.id !== 'a').map((member) => member.id),
      ['c', 'd'],
    );
  });

  const base: DecisionInput = {
    leads: true,
    alive: 3,
    target: 3,
    targetFallsAtMs: Infinity,
    shedAfterMs: 4_000,
    nowMs: 10_000,
    recruitBlockedUntilMs: 0,
    mayLeadFromMs: 0,
    hotSinceMs: undefined,
  };

  it('only the leader decides; others forget when the group got hot', () => {
    const decision = decide({ ...base, leads: false, alive: 5, hotSinceMs: 1_000, targetFallsAtMs: 12_000 });
    assert.deepEqual(decision, { action: 'none', count: 0, times: { recruitBlockedUntilMs: 0, mayLeadFromMs: 0, hotSinceMs: undefined }, decideAgainAtMs: Infinity });
  });

  it('a cold group recruits the missing members once it may lead, and blocks until the outcome', () => {
    const decision = decide({ ...base, alive: 1 });
    assert.equal(decision.action, 'recruit');
    assert.equal(decision.count, 2);
    assert.equal(decision.times.recruitBlockedUntilMs, Infinity);
    assert.equal(decision.decideAgainAtMs, Infinity);
    for (const [blocked, mayLead, again] of [
      [12_000, 0, 12_000],
      [0, 11_000, 11_000],
      [12_000, 11_000, 12_000],
      [Infinity, 11_000, Infinity],
    ] as const) {
      const waiting = decide({ ...base, alive: 1, recruitBlockedUntilMs: blocked, mayLeadFromMs: mayLead });
      assert.equal(waiting.action, 'none', `blocked until ${blocked}, may lead from ${mayLead}`);
      assert.equal(waiting.decideAgainAtMs, again);
      assert.equal(waiting.times.recruitBlockedUntilMs, blocked);
    }
    assert.equal(decide({ ...base, alive: 1, recruitBlockedUntilMs: 12_000, targetFallsAtMs: 10_500 }).decideAgainAtMs, 10_500, 'popularity falling first');
  });

  it('a goldilocks group waits for new input, or for popularity to fall', () => {
    assert.deepEqual(decide({ ...base, hotSinceMs: 9_000 }), { action: 'none', count: 0, times: { recruitBlockedUntilMs: 0, mayLeadFromMs: 0, hotSinceMs: undefined }, decideAgainAtMs: Infinity });
    assert.equal(decide({ ...base, targetFallsAtMs: 20_000 }).decideAgainAtMs, 20_000);
  });

  it('a hot group sheds its surplus after shedAfterMs, even before it may lead a recruitment', () => {
    const first = decide({ ...base, alive: 5, mayLeadFromMs: 50_000 });
    assert.equal(first.action, 'none');
    assert.equal(first.times.hotSinceMs, 10_000);
    assert.equal(first.decideAgainAtMs, 14_000);
    const still = decide({ ...base, alive: 5, nowMs: 13_999, hotSinceMs: 10_000 });
    assert.equal(still.action, 'none');
    assert.equal(still.times.hotSinceMs, 10_000);
    const shed = decide({ ...base, alive: 5, nowMs: 14_000, hotSinceMs: 10_000, mayLeadFromMs: 50_000 });
    assert.equal(shed.action, 'shed');
    assert.equal(shed.count, 2);
    assert.equal(shed.times.hotSinceMs, undefined);
  });
});
