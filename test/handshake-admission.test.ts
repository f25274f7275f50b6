import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HandshakeAdmission, type HandshakeAdmissionLimits } from '../src/runtime/handshake-admission.js';

const limits: HandshakeAdmissionLimits = { maxActive: 2, maxWaiting: 3, maxPerHost: 4, recentHalfLifeMs: 10_000, maxTrackedHosts: 8, yieldAfterMs: 1_000 };

function admission(): { gate: HandshakeAdmission<string>; advance(ms: number): void } {
  let now = 0;
  return { gate: new HandshakeAdmission<string>(limits, () => now), advance: (ms) => (now += ms) };
}

describe('handshake admission', () => {
  it('runs maxActive handshakes, queues the rest, and starts next the one from the address that opened the fewest lately', () => {
    const { gate } = admission();
    assert.equal(gate.arrive('flood-1', '10.0.0.1').outcome, 'start');
    assert.equal(gate.arrive('flood-2', '10.0.0.1').outcome, 'start');
    assert.equal(gate.arrive('flood-3', '10.0.0.1').outcome, 'wait');
    assert.equal(gate.arrive('newcomer', '10.0.0.9').outcome, 'wait');
    assert.deepEqual(gate.leave('flood-1'), ['newcomer']);
    assert.deepEqual(gate.leave('flood-2'), ['flood-3']);
    assert.deepEqual(gate.leave('never-seen'), []);
    assert.equal(gate.activeCount, 2);
    assert.equal(gate.waitingCount, 0);
  });

  it('refuses past the per-address cap and, with the queue full, drops the waiting one from the busiest address (or refuses a busier newcomer)', () => {
    const { gate } = admission();
    for (const item of ['a1', 'a2', 'a3', 'a4']) gate.arrive(item, 'A');
    assert.deepEqual(gate.arrive('a5', 'A'), { outcome: 'refused', dropped: undefined });
    gate.leave('a3');
    gate.leave('a4');
    for (const host of ['B', 'C', 'D']) assert.equal(gate.arrive(host, host).outcome, 'wait');
    // The queue is full of connections from quieter addresses than A: A's next one is refused.
    assert.deepEqual(gate.arrive('a6', 'A'), { outcome: 'refused', dropped: undefined });
    // One from an address never seen displaces the waiting one from the busiest (the first among equals).
    assert.deepEqual(gate.arrive('E', 'E'), { outcome: 'wait', dropped: 'B' });
    assert.equal(gate.waitingCount, 3);
  });

  it('an address\'s count fades: a flood long past does not keep it behind', () => {
    const { gate, advance } = admission();
    for (const item of ['old-1', 'old-2', 'old-3']) gate.arrive(item, 'A');
    for (const item of ['old-1', 'old-2', 'old-3']) gate.leave(item);
    advance(100_000);
    gate.arrive('x1', 'X');
    gate.arrive('x2', 'X');
    gate.arrive('a-again', 'A');
    gate.arrive('x3', 'X');
    assert.deepEqual(gate.leave('x1'), ['a-again']);
  });

  it('a handshake past yieldAfterMs gives its slot up only to a waiting connection from a quieter address', () => {
    const { gate, advance } = admission();
    gate.arrive('stalled-1', 'A');
    gate.arrive('stalled-2', 'A');
    gate.arrive('same-address', 'A');
    assert.equal(gate.nextYieldAt(), 1_000);
    advance(1_500);
    assert.equal(gate.overdue(), undefined, 'the waiting one is from the same address');
    gate.arrive('newcomer', 'N');
    assert.equal(gate.overdue(), 'stalled-1');
    assert.deepEqual(gate.leave('stalled-1'), ['newcomer']);
    assert.equal(gate.overdue(), undefined);
  });
});
