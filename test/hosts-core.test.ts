import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostsCore, defaultHostManagementOptions, type ExchangeAction, type HostAction, type HostManagementOptions, type RefreshAction, type ShuffleAction } from '../src/hosts/core.js';
import { KnownHosts, type HostQuality, type KnownHost } from '../src/hosts/known-hosts.js';
import { toExchanged, type ExchangeAnswer } from '../src/hosts/messages.js';
import { SeededRandom } from '../src/runtime/sim/index.js';
import type { Random } from '../src/runtime/types.js';

/** Host management's core on virtual time: `now` is a number the test sets, nothing sleeps. */

/** Node ids are SHA-256 hex, so their first digits differ (the LAN memory keeps 7 of them): scattered here by a multiplicative hash. */
const id = (n: number) => (Math.imul(n, 2_654_435_761) >>> 0).toString(16).padStart(8, '0') + n.toString(16).padStart(56, '0');
const address = (n: number) => ({ host: `h${n}.sim`, port: 1000 + n });
const quality = (uptimeMs: number, availableStorageBytes: number, knownHosts: number): HostQuality => ({ uptimeMs, availableStorageBytes, knownHosts, ambassador: false });
const candidate = (n: number, hostQuality?: HostQuality) => (hostQuality ? { id: id(n), address: address(n), quality: hostQuality } : { id: id(n), address: address(n) });
const selfId = id(0);
const localQuality = quality(1_000, 1_000, 3);

/** Every jitter at its middle (float 0.5: the period or interval exactly) and every pick the first. */
const middleRandom: Random = { float: () => 0.5, int: () => 0, bytes: (length) => new Uint8Array(length), fork: () => middleRandom };

/** With the defaults and 8 slots: max(30 s, 8 / 0.75 per s). */
const periodMs = 30_000;
const slackMs = periodMs / 4;

function harness(settings: { capacity?: number; random?: Random; options?: Partial<HostManagementOptions> } = {}) {
  const knownHosts = new KnownHosts(settings.capacity ?? 8);
  const clock = { now: 0 };
  const options = { ...defaultHostManagementOptions, randomAcceptanceProbability: 0, ...settings.options };
  const core = new HostsCore(knownHosts, { id: selfId, quality: () => localQuality }, options, settings.random ?? middleRandom);
  // What the adapter does: every list change, whoever made it, reaches the core with the time.
  knownHosts.onChange(() => core.listChanged(clock.now));
  return {
    core,
    knownHosts,
    clock,
    /** The timer fires at `now`. */
    at(now: number): readonly HostAction[] {
      clock.now = now;
      return core.handleTimeout(now);
    },
    ids: () => knownHosts.list().map((host) => host.id),
  };
}
type Harness = ReturnType<typeof harness>;

/** Runs every deadline up to `untilMs`; refreshes are answered at once with `answerQuality`, exchanges and shuffles by `answer`. */
function run(h: Harness, untilMs: number, answer: (action: ExchangeAction | ShuffleAction) => ExchangeAnswer | 'fail' | 'pending' = () => ({ hosts: [] })) {
  const log: Array<{ at: number; action: HostAction }> = [];
  for (let steps = 0; steps < 100_000; steps += 1) {
    const deadline = h.core.nextDeadline();
    if (deadline > untilMs) return log;
    const now = Math.max(h.clock.now, deadline);
    for (const action of h.at(now)) {
      log.push({ at: now, action });
      if (action.kind === 'refresh') {
        h.core.refreshAnswered(action, quality(5, 5, 5), now);
        continue;
      }
      const reply = answer(action);
      if (reply === 'fail') h.core.requestFailed(action);
      else if (reply !== 'pending') h.core.exchangeAnswered(action, reply);
    }
  }
  assert.fail('the deadlines never got past untilMs');
}

const refreshOf = (actions: readonly HostAction[]) => actions.filter((action): action is RefreshAction => action.kind === 'refresh');
const exchangeOf = (actions: readonly HostAction[]) => actions.filter((action): action is ExchangeAction => action.kind === 'exchange');

describe('hosts core: admission', () => {
  it('takes hosts greedily while the near share has room, refuses itself, fills in a missing quality', () => {
    const h = harness();
    assert.equal(h.core.admission.farSlots, 3); // floor(8 × 0.375)
    for (let n = 1; n <= 5; n += 1) assert.deepEqual(h.core.admission.consider(candidate(n)), { admitted: true, evicted: undefined });
    assert.equal(h.knownHosts.size, 5);
    assert.equal(h.core.admission.nearShareFull, true, '5 near slots of 8, 3 kept for far hosts');
    assert.equal(h.core.admission.consider({ id: selfId, address: address(0) }).admitted, false);
    assert.equal(h.core.admission.consider(candidate(2, quality(7, 7, 7))).admitted, true);
    assert.deepEqual(h.knownHosts.get(id(2))?.quality, quality(7, 7, 7));
    assert.equal(h.knownHosts.size, 5);
  });

  it('at capacity runs peer selection over the near share: the biggest class is refused, another class or a forced host replaces one of it', () => {
    const h = harness();
    // Averages 20/20/20: hosts 1–4 are class 0 (the biggest), host 5 is class 7.
    for (let n = 1; n <= 4; n += 1) h.core.admission.consider(candidate(n, quality(0, 0, 0)));
    h.core.admission.consider(candidate(5, quality(100, 100, 100)));
    assert.deepEqual(h.core.admission.consider(candidate(6, quality(1, 1, 1))), { admitted: false, evicted: undefined });
    assert.deepEqual(h.core.admission.consider(candidate(7)), { admitted: false, evicted: undefined }, 'no quality: no class to compare');
    const rare = h.core.admission.consider(candidate(8, quality(100, 0, 0)));
    assert.equal(rare.admitted, true);
    assert.equal(rare.evicted?.id, id(1), 'a member of the biggest class (the first, with this Random)');
    assert.deepEqual(h.ids(), [id(2), id(3), id(4), id(5), id(8)]);
    const forced = h.core.admission.consider(candidate(9, quality(0, 0, 0)), true);
    assert.equal(forced.admitted, true);
    assert.equal(forced.evicted?.id, id(2));
    assert.equal(h.knownHosts.size, 5, 'admission at capacity replaces: the list never grows');
  });

  it('accepts anyone at capacity with the random acceptance probability', () => {
    const h = harness({ options: { randomAcceptanceProbability: 1 } });
    for (let n = 1; n <= 5; n += 1) h.core.admission.consider(candidate(n, quality(0, 0, 0)));
    assert.equal(h.core.admission.consider(candidate(6, quality(0, 0, 0))).admitted, true);
  });

  it('keeps the far share for far hosts: near hosts never take it, LAN hosts never enter it, a full one swaps only a far host', () => {
    const h = harness();
    for (let n = 1; n <= 5; n += 1) h.core.admission.consider(candidate(n));
    assert.equal(h.core.admission.consider(candidate(6)).admitted, false, 'near share full though 3 slots are free');
    h.core.admission.heardOnLan(id(20));
    assert.equal(h.core.admission.lanPeers, 1);
    assert.equal(h.core.admission.adoptFar(candidate(20)).admitted, false, 'heard on the LAN');
    for (let n = 21; n <= 23; n += 1) assert.deepEqual(h.core.admission.adoptFar(candidate(n)), { admitted: true, evicted: undefined });
    assert.equal(h.knownHosts.farCount, 3);
    assert.equal(h.core.admission.adoptFar(candidate(24)).admitted, false, 'far share full, nothing to replace');
    const near = h.knownHosts.get(id(1)) as KnownHost;
    assert.equal(h.core.admission.adoptFar(candidate(24), near).admitted, false, 'only a far host makes room');
    const far = h.knownHosts.get(id(22)) as KnownHost;
    assert.deepEqual(h.core.admission.adoptFar(candidate(24), far), { admitted: true, evicted: far });
    assert.equal(h.knownHosts.get(id(24))?.far, true);
    assert.equal(h.knownHosts.get(id(22)), undefined);
    assert.equal(harness({ capacity: 2 }).core.admission.adoptFar(candidate(1)).admitted, false, 'a list of 2 has no far slot');
  });

  it('lists a discovered host only in free room unless forced, and remembers those heard on the group', () => {
    const h = harness();
    for (let n = 1; n <= 4; n += 1) h.core.admission.consider(candidate(n, quality(0, 0, 0)));
    assert.equal(h.core.admission.discovered({ ...candidate(5, quality(100, 100, 100)), forced: false, onLan: true }), true, 'free room');
    assert.equal(h.core.admission.discovered({ ...candidate(6, quality(100, 0, 0)), forced: false, onLan: true }), false, 'overheard: no selection at capacity');
    assert.equal(h.knownHosts.get(id(6)), undefined);
    assert.equal(h.core.admission.discovered({ ...candidate(7, quality(0, 0, 0)), forced: true, onLan: true }), true, 'a pinger this node answers');
    assert.equal(h.core.admission.discovered({ ...candidate(8), forced: false, onLan: false }), false);
    assert.equal(h.core.admission.lanPeers, 3, 'hosts 5, 6, 7; not 8 (sampled into a PONG)');
    assert.equal(h.knownHosts.get(id(5))?.quality?.uptimeMs, 100);
  });
});

describe('hosts core: the deadline table', () => {
  /** Refreshes only: no far share (no shuffle), exchanges far away. */
  const refreshOnly = { farShare: 0, exchangeIntervalMs: 1e9 };

  it('asks a new host its quality at once, then one period (the jitter at its middle) after the answer', () => {
    const h = harness({ options: refreshOnly });
    h.core.start(0);
    assert.equal(h.core.nextDeadline(), 1e9, 'nothing listed: only the far exchange');
    assert.equal(h.core.deadlines().shuffleAt, Infinity, 'no far share, no shuffle');
    h.clock.now = 100;
    h.core.admission.consider(candidate(1));
    assert.equal(h.core.nextDeadline(), 100);
    const actions = h.at(100);
    assert.deepEqual(actions, [{ kind: 'refresh', hostId: id(1), address: address(1) }]);
    assert.equal(h.core.nextDeadline(), 1e9, 'in flight: no deadline of its own');
    assert.deepEqual(h.core.deadlines().refreshing, [id(1)]);
    h.core.refreshAnswered(actions[0] as RefreshAction, quality(9, 9, 9), 400);
    assert.deepEqual(h.knownHosts.get(id(1))?.quality, quality(9, 9, 9));
    assert.equal(h.core.deadlines().refreshes.get(id(1)), 400 + periodMs);
    assert.equal(h.core.nextDeadline(), 400 + periodMs);
  });

  it('jitters each refresh period uniformly over ±25 %', () => {
    const h = harness({ random: new SeededRandom(7), options: refreshOnly });
    h.core.admission.consider(candidate(1));
    h.core.start(0);
    const gaps: number[] = [];
    let answeredAt = 0;
    for (let round = 0; round < 400; round += 1) {
      const now = h.core.nextDeadline();
      const [action] = refreshOf(h.at(now));
      assert.ok(action, `a refresh at ${now}`);
      if (round > 0) gaps.push(now - answeredAt);
      h.core.refreshAnswered(action, quality(1, 1, 1), now);
      answeredAt = now;
    }
    const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length;
    assert.ok(Math.min(...gaps) >= 0.75 * periodMs && Math.max(...gaps) <= 1.25 * periodMs, `gaps ${Math.min(...gaps)} … ${Math.max(...gaps)}`);
    assert.ok(Math.min(...gaps) < 0.78 * periodMs && Math.max(...gaps) > 1.22 * periodMs, 'the whole range is used');
    assert.ok(Math.abs(mean - periodMs) < 0.03 * periodMs, `mean gap ${mean}`);
  });

  it('starts every refresh due within a quarter period with the earliest, and counts an early one from its due time', () => {
    const h = harness({ options: refreshOnly });
    for (let n = 1; n <= 3; n += 1) h.core.admission.consider(candidate(n));
    h.core.start(0);
    const first = refreshOf(h.at(0));
    assert.equal(first.length, 3);
    // Answers at 0, 5 s and 8 s: due again at 30 s, 35 s and 38 s.
    first.forEach((action, index) => h.core.refreshAnswered(action, quality(1, 1, 1), [0, 5_000, 8_000][index] as number));
    assert.deepEqual([...h.core.deadlines().refreshes.values()], [30_000, 35_000, 38_000]);
    assert.equal(h.core.nextDeadline(), 30_000);
    const grouped = refreshOf(h.at(30_000));
    assert.deepEqual(grouped.map((action) => action.hostId), [id(1), id(2)], `35 s is within ${slackMs} ms of 30 s, 38 s is not`);
    assert.equal(h.core.nextDeadline(), 38_000);
    for (const action of grouped) h.core.refreshAnswered(action, quality(1, 1, 1), 30_100);
    assert.equal(h.core.deadlines().refreshes.get(id(1)), 30_100 + periodMs, 'answered after its due time: from the answer');
    assert.equal(h.core.deadlines().refreshes.get(id(2)), 35_000 + periodMs, 'started early: from its due time, so the rate stays the same');
    assert.deepEqual(refreshOf(h.at(38_000)).map((action) => action.hostId), [id(3)]);
  });

  it('keeps at most maxConcurrentRefreshes in flight; a finished one lets the next start', () => {
    const h = harness({ options: refreshOnly });
    for (let n = 1; n <= 6; n += 1) h.core.admission.consider(candidate(n));
    h.core.start(0);
    const started = refreshOf(h.at(0));
    assert.deepEqual(started.map((action) => action.hostId), [id(1), id(2), id(3), id(4)]);
    assert.equal(h.core.nextDeadline(), 1e9, 'at the limit no refresh is due, though two are late');
    h.core.refreshAnswered(started[0] as RefreshAction, quality(1, 1, 1), 10);
    assert.equal(h.core.nextDeadline(), 0, 'host 5, due since 0');
    assert.deepEqual(refreshOf(h.at(10)).map((action) => action.hostId), [id(5)]);
    assert.equal(h.core.nextDeadline(), 1e9);
  });

  it('exchanges every interval while the list has room, one at a time, and takes in what the answer offers', () => {
    const h = harness({ options: { farShare: 0 } });
    h.core.admission.consider(candidate(1, quality(1, 1, 1)));
    h.core.start(0);
    assert.equal(h.core.deadlines().exchangeAt, 2_000);
    const [exchange] = exchangeOf(h.at(2_000));
    assert.ok(exchange);
    assert.equal(exchange.host.id, id(1));
    assert.deepEqual(exchange.request, { quality: localQuality, introduce: false });
    assert.equal(h.core.deadlines().exchangeAt, 4_000);
    assert.deepEqual(exchangeOf(h.at(4_000)), [], 'the first is still in flight');
    const offered = [candidate(2), candidate(3, quality(4, 4, 4))].map((host) => toExchanged(host));
    h.core.exchangeAnswered(exchange, { hosts: offered, displaced: toExchanged(candidate(4)) });
    assert.deepEqual(h.ids(), [id(1), id(4), id(2), id(3)], 'the displaced host first (forced), then the sample');
    assert.deepEqual(h.knownHosts.get(id(3))?.quality, quality(4, 4, 4));
    assert.equal(exchangeOf(h.at(6_000)).length, 1);
  });

  it('fills only free room from an exchange answer: second-hand hosts evict no one', () => {
    const h = harness({ capacity: 4, options: { farShare: 0 } });
    h.core.admission.consider(candidate(1));
    h.core.start(0);
    const [exchange] = exchangeOf(run(h, 2_000, () => 'pending').map((entry) => entry.action));
    assert.ok(exchange);
    h.core.exchangeAnswered(exchange, { hosts: [5, 6, 7, 8, 9].map((n) => toExchanged(candidate(n, quality(n, n, n)))) });
    assert.deepEqual(h.ids(), [id(1), id(5), id(6), id(7)]);
  });

  it('lets the exchange sleep while the near share is full, until this node would count as unlisted; a lost host wakes it', () => {
    const h = harness();
    for (let n = 1; n <= 5; n += 1) h.core.admission.consider(candidate(n));
    h.core.start(0);
    const unlistedAtMs = 2.5 * periodMs;
    assert.equal(h.core.deadlines().exchangeAt, unlistedAtMs, 'full: nothing to learn before 75 s');
    run(h, 20_000);
    assert.equal(h.core.deadlines().exchangeAt, unlistedAtMs);
    h.clock.now = 20_000;
    h.knownHosts.remove(id(3));
    assert.equal(h.core.deadlines().exchangeAt, 22_000, 'woken: an interval after the loss');
    const exchanges = run(h, 22_000).filter((entry) => entry.action.kind === 'exchange');
    assert.deepEqual(exchanges.map((entry) => entry.at), [22_000]);
    // Full again: asleep until 75 s, the unlisted moment.
    h.core.admission.consider(candidate(6));
    h.clock.now = 23_000;
    h.knownHosts.remove(id(6));
    h.core.admission.consider(candidate(7));
    run(h, 30_000);
    assert.ok(h.core.deadlines().exchangeAt >= unlistedAtMs, `exchange at ${h.core.deadlines().exchangeAt}`);
  });

  it('asks to be introduced once no one asked its quality for 2.5 periods; being asked puts that off', () => {
    const unlisted = harness();
    for (let n = 1; n <= 5; n += 1) unlisted.core.admission.consider(candidate(n));
    unlisted.core.start(0);
    const introduced = run(unlisted, 80_000).filter((entry) => entry.action.kind === 'exchange');
    assert.deepEqual(
      introduced.map((entry) => [entry.at, (entry.action as ExchangeAction).request.introduce]),
      [[75_000, true]],
    );

    const listed = harness();
    for (let n = 1; n <= 5; n += 1) listed.core.admission.consider(candidate(n));
    listed.core.start(0);
    run(listed, 50_000);
    listed.core.qualityRequested(50_000);
    assert.deepEqual(run(listed, 80_000).filter((entry) => entry.action.kind === 'exchange'), []);
    assert.equal(listed.core.deadlines().exchangeAt, 50_000 + 2.5 * periodMs);
  });

  it('shuffles about every 10 s (±50 %), full list or not, with a far host, one at a time', () => {
    const h = harness({ random: new SeededRandom(3) });
    for (let n = 1; n <= 5; n += 1) h.core.admission.consider(candidate(n));
    h.core.admission.adoptFar(candidate(30));
    h.core.start(0);
    let pending = true;
    const log = run(h, 1_000_000, (action) => {
      if (action.kind !== 'shuffle') return { hosts: [] };
      // The first one never answers: no other shuffle starts meanwhile.
      if (pending) {
        pending = false;
        return 'pending';
      }
      return { hosts: [] };
    });
    const shuffles = log.filter((entry) => entry.action.kind === 'shuffle');
    assert.equal(shuffles.length, 1, 'one shuffle stays in flight for ever: no other starts');
    const first = shuffles[0]?.action as ShuffleAction;
    assert.equal(first.host.id, id(30), 'a far host');
    assert.deepEqual(first.request, { quality: localQuality, introduce: false, far: true });
    h.core.exchangeAnswered(first, { hosts: [] });
    const times = run(h, 2_000_000)
      .filter((entry) => entry.action.kind === 'shuffle')
      .map((entry) => entry.at);
    const gaps = times.slice(1).map((time, index) => time - (times[index] as number));
    const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length;
    assert.ok(gaps.length > 80, `${gaps.length} shuffles`);
    assert.ok(Math.min(...gaps) >= 5_000 && Math.max(...gaps) <= 15_000, `gaps ${Math.min(...gaps)} … ${Math.max(...gaps)}`);
    assert.ok(Math.abs(mean - 10_000) < 800, `mean gap ${mean}`);
  });

  it('takes what a shuffle answers into the far share: the displaced host first, then free far room only', () => {
    const h = harness();
    for (let n = 1; n <= 5; n += 1) h.core.admission.consider(candidate(n));
    h.core.start(0);
    const shuffle = run(h, 10_000, (action) => (action.kind === 'shuffle' ? 'pending' : { hosts: [] })).find((entry) => entry.action.kind === 'shuffle')
      ?.action as ShuffleAction;
    assert.equal(shuffle.host.id, id(1), 'no far host yet: any known host');
    h.core.exchangeAnswered(shuffle, { hosts: [41, 42, 43].map((n) => toExchanged(candidate(n))), displaced: toExchanged(candidate(40)) });
    assert.deepEqual(
      h.knownHosts.list().filter((host) => host.far).map((host) => host.id),
      [id(40), id(41), id(42)],
    );
    assert.equal(h.knownHosts.get(id(43)), undefined, 'no far host is dropped for a sampled one');
  });

  it('shuffles not at all in a list too short for a far share', () => {
    const h = harness({ capacity: 2 });
    h.core.admission.consider(candidate(1));
    h.core.start(0);
    assert.equal(h.core.deadlines().shuffleAt, Infinity);
    assert.deepEqual(run(h, 100_000).filter((entry) => entry.action.kind === 'shuffle'), []);
  });
});

describe('hosts core: failures', () => {
  it('removes a host whose refresh, exchange or shuffle failed, and drops its deadline', () => {
    const h = harness();
    for (let n = 1; n <= 3; n += 1) h.core.admission.consider(candidate(n));
    h.core.admission.adoptFar(candidate(30));
    h.core.start(0);
    const [refresh] = refreshOf(h.at(0));
    assert.ok(refresh);
    assert.equal(h.core.requestFailed(refresh)?.id, id(1));
    assert.equal(h.knownHosts.get(id(1)), undefined);
    assert.equal(h.core.deadlines().refreshes.has(id(1)), false);
    const log = run(h, 20_000, () => 'fail');
    const failed = log.filter((entry) => entry.action.kind !== 'refresh').map((entry) => (entry.action as ExchangeAction | ShuffleAction).host.id);
    assert.ok(failed.includes(id(30)), 'the far host asked to shuffle');
    for (const hostId of failed) assert.equal(h.knownHosts.get(hostId), undefined);
  });

  it('keeps a host that changed address meanwhile, and removes nothing once stopped', () => {
    const h = harness({ options: { farShare: 0 } });
    h.core.admission.consider(candidate(1));
    h.core.admission.consider(candidate(2));
    h.core.start(0);
    const [first, second] = refreshOf(h.at(0));
    assert.ok(first && second);
    h.knownHosts.remove(id(1));
    h.core.admission.consider({ id: id(1), address: { host: 'moved.sim', port: 9 } });
    assert.equal(h.core.requestFailed(first), undefined);
    assert.equal(h.knownHosts.get(id(1))?.address.host, 'moved.sim');
    h.core.stop();
    assert.equal(h.core.nextDeadline(), Infinity);
    assert.deepEqual(h.at(100_000), []);
    assert.equal(h.core.requestFailed(second), undefined);
    assert.ok(h.knownHosts.get(id(2)));
  });

  it('removes a host another request of the node failed to reach, by id or by address, unless it moved', () => {
    const h = harness();
    h.core.admission.consider(candidate(1));
    h.core.admission.consider(candidate(2));
    h.core.admission.consider(candidate(3));
    assert.equal(h.core.peerFailed({ id: id(2), address: address(2) })?.id, id(2));
    assert.deepEqual(h.ids(), [id(1), id(3)]);
    assert.equal(h.core.peerFailed({ id: undefined, address: address(3) })?.id, id(3), 'a failure without an id names the host by its address');
    assert.equal(h.core.peerFailed({ id: id(1), address: { host: 'elsewhere.sim', port: 1 } }), undefined, 'the host has moved: kept');
    assert.equal(h.core.peerFailed({ id: undefined, address: { host: 'nobody.sim', port: 1 } }), undefined);
    assert.deepEqual(h.ids(), [id(1)]);
  });
});

describe('hosts core: answering peers', () => {
  it('takes an exchanging asker in without asking its quality at once, and answers a sample without it', () => {
    const h = harness({ options: { farShare: 0 } });
    for (let n = 1; n <= 3; n += 1) h.core.admission.consider(candidate(n, quality(n, n, n)));
    h.core.start(0);
    run(h, 1_000);
    const answer = h.core.exchangeRequested({ quality: quality(50, 50, 2), introduce: false }, { id: id(9), address: address(9) }, 1_500);
    assert.deepEqual(answer.hosts.map((host) => host.id), [id(1), id(2), id(3)], 'the whole list (this Random shuffles nothing)');
    assert.deepEqual(answer.hosts[0]?.quality, quality(1, 1, 1), 'cached qualities travel');
    assert.equal(answer.displaced, undefined);
    assert.deepEqual(h.knownHosts.get(id(9))?.quality, quality(50, 50, 2));
    assert.equal(h.core.deadlines().refreshes.get(id(9)), 1_500 + periodMs, 'it just said its quality');
    const unreachable = h.core.exchangeRequested({ quality: quality(1, 1, 0), introduce: true }, { id: id(10), address: undefined }, 1_600);
    assert.equal(unreachable.hosts.length, 4);
    assert.equal(h.knownHosts.get(id(10)), undefined, 'no listen address: nothing to list');
  });

  it('forces in an asker that knows no one, returning whom it displaced', () => {
    const h = harness();
    for (let n = 1; n <= 4; n += 1) h.core.admission.consider(candidate(n, quality(0, 0, 0)));
    h.core.admission.consider(candidate(5, quality(100, 100, 100)));
    const answer = h.core.exchangeRequested({ quality: quality(0, 0, 0), introduce: false }, { id: id(9), address: address(9) }, 0);
    assert.equal(answer.displaced?.id, id(1));
    assert.ok(h.knownHosts.get(id(9)));
  });

  it('answers a shuffle with far hosts first and swaps the asker for a far host, which it returns', () => {
    const h = harness();
    for (let n = 1; n <= 5; n += 1) h.core.admission.consider(candidate(n));
    for (let n = 30; n <= 32; n += 1) h.core.admission.adoptFar(candidate(n));
    const answer = h.core.exchangeRequested({ quality: quality(1, 1, 1), introduce: false, far: true }, { id: id(9), address: address(9) }, 0);
    assert.deepEqual(answer.hosts.slice(0, 3).map((host) => host.id), [id(30), id(31), id(32)]);
    assert.equal(answer.displaced?.id, id(30));
    assert.equal(h.knownHosts.get(id(9))?.far, true);
    assert.equal(h.knownHosts.farCount, 3);
  });

  it('counts a quality request as being listed', () => {
    const h = harness();
    assert.deepEqual(h.core.qualityRequested(5), localQuality);
  });
});
