import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Slots } from '../src/node/slots.js';

describe('Slots', () => {
  it('runs at most `limit` tasks at once, the waiting ones in order as slots free, and is idle after', async () => {
    const slots = new Slots(2);
    let running = 0;
    let mostRunning = 0;
    const started: number[] = [];
    const finishers: Array<() => void> = [];
    const tasks = Array.from({ length: 5 }, (_, index) =>
      slots.run(async () => {
        started.push(index);
        running += 1;
        mostRunning = Math.max(mostRunning, running);
        await new Promise<void>((resolve) => finishers.push(resolve));
        running -= 1;
        return index;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1]);
    assert.equal(slots.idle, false);
    for (let index = 0; index < 5; index += 1) {
      finishers[index]?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(await Promise.all(tasks), [0, 1, 2, 3, 4]);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(mostRunning, 2);
    assert.equal(slots.idle, true);
  });

  it('frees the slot of a task that throws', async () => {
    const slots = new Slots(1);
    await assert.rejects(slots.run(() => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(slots.idle, true);
    assert.equal(await slots.run(async () => 'next'), 'next');
  });
});
