import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../src/runtime/sim/index.js';
import type { Candidate } from '../src/storage/candidates.js';
import {
  chooseCandidates,
  directPlacementPlan,
  directPlacementShortfall,
  handOverPlan,
  recruitmentOutcome,
  recruitmentPlan,
  refillTargets,
  type Offer,
  type OfferPlan,
} from '../src/storage/placement.js';

const options = { maxOfferAttempts: 4, recruitRetryMs: 1_500 };
const candidate = (id: string, live = false): Candidate => ({ id, address: { host: `${id}.sim`, port: 1000 }, ...(live ? { live } : {}) });
const candidates = (count: number) => Array.from({ length: count }, (_, index) => candidate(`h${index}`));
const member = { id: 'm', host: 'm.sim', port: 1000, incarnation: 3 };
const ids = (offers: readonly Offer[]) => offers.map((offer) => offer.candidate.id);

describe('placement: choosing candidates', () => {
  it('leaves out this node, the members and unreachable hosts, and ranks hosts heard moments ago first', () => {
    const pool = [candidate('self'), candidate('m'), candidate('a'), candidate('b', true), candidate('gone', true)];
    const chosen = chooseCandidates(pool, {
      exclude: new Set(['self', 'm']),
      unreachable: (id) => id === 'gone',
      neededBytes: 5_000,
      zones: new Set(),
      preference: (id) => (id === 'a' ? 0.9 : 0.1),
    });
    assert.deepEqual(
      chosen.map((entry) => entry.id),
      ['b', 'a'],
    );
  });

  it('asks at most three reachable hosts for more hosts, live ones first', () => {
    const pool = [candidate('a'), candidate('b'), candidate('c', true), candidate('d'), candidate('e', true)];
    assert.deepEqual(
      refillTargets(pool, (id) => id === 'e').map((entry) => entry.id),
      ['c', 'a', 'b'],
    );
  });
});

describe('placement: recruitment', () => {
  it('offers in parallel, never more out than members missing, moving on at once after a refusal', () => {
    const plan = recruitmentPlan(2, [member], candidates(6), options);
    const first = plan.next();
    assert.deepEqual(ids(first), ['h0', 'h1']);
    assert.deepEqual(first[0]?.view, [member], 'each offer carries the view');
    assert.deepEqual(ids(plan.next()), [], 'two out, two missing');
    plan.refused();
    assert.deepEqual(ids(plan.next()), ['h2']);
    assert.deepEqual(plan.accepted(candidate('h1'), 7), { id: 'h1', host: 'h1.sim', port: 1000, incarnation: 7 });
    assert.deepEqual(ids(plan.next()), [], 'one missing, one out');
    plan.refused();
    assert.deepEqual(ids(plan.next()), ['h3'], 'the last attempt of four');
    plan.refused();
    assert.deepEqual(ids(plan.next()), [], 'attempts used up');
    assert.equal(plan.done, true);
    assert.equal(plan.missing, 1);
    assert.deepEqual(recruitmentOutcome(plan, options), { retryAfterMs: 1_500, refill: false });
  });

  it('asks for more hosts only when every candidate was tried', () => {
    const plan = recruitmentPlan(2, [], candidates(1), options);
    assert.deepEqual(ids(plan.next()), ['h0']);
    plan.accepted(candidate('h0'), 1);
    assert.equal(plan.done, true);
    assert.deepEqual(recruitmentOutcome(plan, options), { retryAfterMs: 1_500, refill: true });
    const none = recruitmentPlan(1, [], [], options);
    assert.equal(none.done, true);
    assert.deepEqual(recruitmentOutcome(none, options), { retryAfterMs: 1_500, refill: true });
  });

  it('a full recruitment needs no retry', () => {
    const plan = recruitmentPlan(1, [], candidates(3), options);
    plan.next();
    plan.accepted(candidate('h0'), 1);
    assert.equal(plan.done, true);
    assert.deepEqual(recruitmentOutcome(plan, options), { retryAfterMs: 0, refill: false });
  });

  it('stops making offers when told (a leave began); those out still report', () => {
    const plan = recruitmentPlan(3, [], candidates(6), options);
    assert.equal(plan.next().length, 3);
    plan.stop();
    plan.refused();
    assert.deepEqual(plan.next(), []);
    assert.equal(plan.done, false, 'two still out');
    plan.refused();
    plan.refused();
    assert.equal(plan.done, true);
  });

  it('whatever the outcomes, keeps every limit and offers each candidate once, in rank order', () => {
    const random = new SeededRandom(21);
    for (let trial = 0; trial < 200; trial += 1) {
      const needed = 1 + random.int(4);
      const pool = candidates(random.int(10));
      const plan = recruitmentPlan(needed, [], pool, options);
      const offered: string[] = [];
      const out: Offer[] = [];
      for (let step = 0; step < 100 && !plan.done; step += 1) {
        for (const offer of plan.next()) {
          offered.push(offer.candidate.id);
          out.push(offer);
        }
        assert.ok(out.length <= plan.missing, `trial ${trial}: ${out.length} out for ${plan.missing} missing`);
        const settled = out.splice(random.int(out.length), 1)[0];
        if (!settled) continue;
        if (random.float() < 0.4) plan.accepted(settled.candidate, 1);
        else plan.refused();
      }
      assert.ok(plan.done && out.length === 0, `trial ${trial} ends`);
      assert.deepEqual(offered, pool.slice(0, offered.length).map((entry) => entry.id), 'rank order, each once');
      assert.ok(offered.length <= options.maxOfferAttempts);
      // It ended for a reason: the members found, the attempts spent, or the candidates.
      assert.ok(plan.missing === 0 || offered.length === options.maxOfferAttempts || plan.exhausted, `trial ${trial}`);
    }
  });
});

describe('placement: a block with no room here', () => {
  const settle = (plan: OfferPlan, accepts: (id: string) => boolean) => {
    const views: Array<[string, string[]]> = [];
    for (let offers = plan.next(); offers.length > 0; offers = plan.next()) {
      assert.equal(offers.length, 1, 'one at a time');
      const [offer] = offers as [Offer];
      views.push([offer.candidate.id, offer.view.map((entry) => entry.id)]);
      if (accepts(offer.candidate.id)) plan.accepted(offer.candidate, 1);
      else plan.refused();
    }
    assert.equal(plan.done, true);
    return views;
  };

  it('goes down the whole list, one offer at a time, until one host takes it', () => {
    const plan = directPlacementPlan(candidates(20), 3, false);
    const views = settle(plan, (id) => id === 'h9');
    assert.equal(views.length, 10, 'no attempt limit: every candidate may be the one with room');
    assert.equal(directPlacementShortfall(plan, 3, false, 'k'), undefined);
  });

  it('durable: until `replicas` hosts took it, each told of the earlier ones', () => {
    const plan = directPlacementPlan(candidates(6), 3, true);
    const views = settle(plan, (id) => id !== 'h1');
    assert.deepEqual(views, [
      ['h0', []],
      ['h1', ['h0']],
      ['h2', ['h0']],
      ['h3', ['h0', 'h2']],
    ]);
    assert.equal(directPlacementShortfall(plan, 3, true, 'k'), undefined);
  });

  it('says why it fell short', () => {
    const nobody = directPlacementPlan(candidates(3), 3, false);
    settle(nobody, () => false);
    assert.equal(directPlacementShortfall(nobody, 3, false, 'k'), 'no host in reach has room for segment k');
    const some = directPlacementPlan(candidates(3), 3, true);
    settle(some, (id) => id === 'h2');
    assert.equal(directPlacementShortfall(some, 3, true, 'k'), 'only 1 of 3 replicas of segment k found room');
  });
});

describe('placement: hand-over on leave', () => {
  it('one host outside the group takes the block: one offer at a time, at most maxOfferAttempts', () => {
    const plan = handOverPlan([member], candidates(10), options);
    const tried: string[] = [];
    for (let offers = plan.next(); offers.length > 0; offers = plan.next()) {
      assert.equal(offers.length, 1);
      tried.push(...ids(offers));
      assert.deepEqual(offers[0]?.view, [member]);
      plan.refused();
    }
    assert.deepEqual(tried, ['h0', 'h1', 'h2', 'h3']);
    assert.equal(plan.done, true);
    const taken = handOverPlan([], candidates(10), options);
    taken.next();
    taken.accepted(candidate('h0'), 2);
    assert.deepEqual(taken.next(), []);
    assert.equal(taken.done, true);
  });
});
