import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memberStatus, type MemberStatus } from '../src/storage/group-messages.js';
import {
  afterOutcome,
  localOutcome,
  localRows,
  mergeOutcome,
  mergeRows,
  selfClaimOutcome,
  selfClaimRows,
  type ClaimSource,
  type IncarnationOrder,
  type LocalEvent,
  type MemberState,
} from '../src/storage/view-merge.js';

const statuses = [memberStatus.alive, memberStatus.suspected, memberStatus.left] as const;
const names = ['alive', 'suspected', 'left'] as const;
const orders: Array<[IncarnationOrder, number]> = [
  ['higher', 6],
  ['equal', 5],
  ['lower', 4],
];
const localIncarnation = 5;
const nowMs = 10_000;
/** A member last changed at 1 s and last heard at 2 s, both long before now. */
const localOf = (status: MemberStatus): MemberState => ({ incarnation: localIncarnation, status, changedAtMs: 1_000, heardAtMs: 2_000 });

/**
 * The rules as the protocol states them (docs/PROTOCOL.md), written independently of the
 * table: what the record must look like after the claim, or undefined when unchanged.
 */
function expected(source: ClaimSource, claimed: { incarnation: number; status: MemberStatus }, local: MemberState | undefined): MemberState | undefined {
  if (!local) {
    // Only an alive claim adds a member.
    if (claimed.status !== memberStatus.alive) return undefined;
    return { incarnation: claimed.incarnation, status: memberStatus.alive, changedAtMs: nowMs, heardAtMs: nowMs };
  }
  const supersedes = claimed.incarnation > local.incarnation || (claimed.incarnation === local.incarnation && claimed.status > local.status);
  const firstHand = source !== 'vouched';
  if (claimed.status === memberStatus.alive && firstHand) {
    // The member's own word: at its incarnation or above, unless it left at that incarnation.
    // An acceptance does not clear a suspicion at the same incarnation, a beat does.
    const clears = claimed.incarnation > local.incarnation || (claimed.incarnation === local.incarnation && (local.status === memberStatus.alive || (source === 'direct' && local.status === memberStatus.suspected)));
    if (!clears) return undefined;
    const changed = local.status !== memberStatus.alive;
    return { incarnation: claimed.incarnation, status: memberStatus.alive, changedAtMs: changed ? nowMs : local.changedAtMs, heardAtMs: nowMs };
  }
  if (!supersedes) return undefined;
  const revived = local.status !== memberStatus.alive && claimed.status === memberStatus.alive;
  return { incarnation: claimed.incarnation, status: claimed.status, changedAtMs: nowMs, heardAtMs: revived ? nowMs : local.heardAtMs };
}

describe('view merge: the precedence table', () => {
  it('has exactly one row per case', () => {
    const seen = new Set<string>();
    for (const [source, claim, local] of mergeRows) {
      const name = `${source} ${claim} ${local}`;
      assert.ok(!seen.has(name), `${name} twice`);
      seen.add(name);
    }
    // direct and vouched: 3 claims × 4 local states; admitted: alive claims only.
    assert.equal(seen.size, 2 * 3 * 4 + 4);
    for (const row of mergeRows.filter(([, , local]) => local === 'absent')) assert.ok(row[3] === row[4] && row[4] === row[5], `${row.slice(0, 3).join(' ')}: an absent member has no incarnation to compare`);
  });

  for (const row of mergeRows) {
    const [source, claim, local] = row;
    it(`${source} says ${claim}, member ${local} here`, () => {
      const status = memberStatus[claim];
      if (local === 'absent') {
        const outcome = mergeOutcome(source, { incarnation: 1, status }, undefined);
        assert.equal(outcome, row[3]);
        assert.deepEqual(afterOutcome(outcome, undefined, { incarnation: 1, status }, nowMs), expected(source, { incarnation: 1, status }, undefined));
        return;
      }
      for (const [order, incarnation] of orders) {
        const before = localOf(memberStatus[local]);
        const claimed = { incarnation, status };
        const outcome = mergeOutcome(source, claimed, before);
        assert.equal(outcome, row[3 + orders.findIndex(([name]) => name === order)], `${order} incarnation`);
        assert.deepEqual(afterOutcome(outcome, before, claimed, nowMs), expected(source, claimed, before), `${order} incarnation: ${outcome}`);
      }
    });
  }

  it('an acceptance is always an alive claim', () => {
    assert.throws(() => mergeOutcome('admitted', { incarnation: 1, status: memberStatus.left }, undefined), /no row/);
  });

  it('never lets a stale claim change a member, nor a departure come back at its incarnation', () => {
    for (const source of ['direct', 'admitted', 'vouched'] as const) {
      for (const status of source === 'admitted' ? [memberStatus.alive] : statuses) {
        for (const local of statuses) {
          assert.equal(mergeOutcome(source, { incarnation: 4, status }, localOf(local)), 'ignore', `${source} ${names[status]} lower on ${names[local]}`);
        }
        assert.equal(mergeOutcome(source, { incarnation: 5, status: memberStatus.alive }, localOf(memberStatus.left)), 'ignore', `${source}: left stays left`);
      }
    }
  });

  it('only first-hand news counts as hearing a member', () => {
    for (const row of mergeRows.filter(([source]) => source === 'vouched')) {
      const [, claim, local] = row;
      if (local === 'absent') continue;
      for (const [, incarnation] of orders) {
        const before = localOf(memberStatus[local]);
        const after = afterOutcome(mergeOutcome('vouched', { incarnation, status: memberStatus[claim] }, before), before, { incarnation, status: memberStatus[claim] }, nowMs);
        // A vouch revives a member (it must then beat within the timeout), never keeps an alive one alive longer.
        if (after && before.status === memberStatus.alive) assert.equal(after.heardAtMs, before.heardAtMs, `${claim} on ${local}`);
      }
    }
  });
});

describe('view merge: what this node observes itself', () => {
  const cases: Array<[LocalEvent, MemberStatus, string]> = [];
  for (const [event] of localRows) for (const status of statuses) cases.push([event, status, `${event} on ${names[status]}`]);
  it('has one row per event, covering every status', () => {
    assert.deepEqual(
      localRows.map(([event]) => event),
      ['silent', 'unreachable', 'shed', 'expired', 'dispossessed'],
    );
  });
  for (const [event, status, name] of cases) {
    it(name, () => {
      const outcome = localOutcome(event, status);
      const alive = status === memberStatus.alive;
      // Only an alive member is suspected or shed; only a tombstone is forgotten; a failed challenge ends any seat not already left.
      const wanted =
        event === 'dispossessed'
          ? status === memberStatus.left
            ? 'ignore'
            : 'mark-left'
          : event === 'expired'
            ? alive
              ? 'ignore'
              : 'forget'
            : !alive
              ? 'ignore'
              : event === 'shed'
                ? 'mark-left'
                : 'suspect';
      assert.equal(outcome, wanted);
    });
  }
});

describe('view merge: what a member says about this node', () => {
  it('has one row per claimed status and incarnation order', () => {
    assert.equal(new Set(selfClaimRows.map(([status, order]) => `${status} ${order}`)).size, 9);
    assert.equal(selfClaimRows.length, 9);
  });
  for (const [status, order, whenAllowed, otherwise] of selfClaimRows) {
    it(`${status} at a ${order} incarnation`, () => {
      const claimed = { incarnation: orders.find(([name]) => name === order)?.[1] as number, status: memberStatus[status] };
      const current = claimed.incarnation >= localIncarnation && status !== 'alive';
      // A current claim that this node left is a shed order when allowed; any other current claim but alive is refuted.
      const wanted = (allowed: boolean) => (!current ? 'ignore' : status === 'left' && allowed ? 'obey' : 'refute');
      assert.equal(selfClaimOutcome(claimed, localIncarnation, true), wanted(true));
      assert.equal(selfClaimOutcome(claimed, localIncarnation, false), wanted(false));
      assert.deepEqual([whenAllowed, otherwise], [wanted(true), wanted(false)]);
    });
  }
});
