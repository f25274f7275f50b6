import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentIds } from '../src/hosts/recent-ids.js';
import { SeededRandom } from '../src/runtime/sim/index.js';

const randomId = (random: SeededRandom) => Buffer.from(random.bytes(32)).toString('hex');

describe('recent ids (LAN ids heard, as fingerprints)', () => {
  it('forgets the oldest first, and hearing an id again makes it the most recent', () => {
    const ids = new RecentIds(3);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((digit) => digit.repeat(64)) as [string, string, string, string];
    ids.add(a);
    ids.add(b);
    ids.add(c);
    ids.add(a); // a is now the most recent: b is the oldest
    ids.add(d);
    assert.equal(ids.size, 3);
    assert.deepEqual([a, b, c, d].map((id) => ids.has(id)), [true, false, true, true]);
  });

  it('holds a full LAN of random ids without confusing them with others', () => {
    const random = new SeededRandom(5);
    const ids = new RecentIds(1024);
    const heard = Array.from({ length: 1024 }, () => randomId(random));
    for (const id of heard) ids.add(id);
    assert.equal(ids.size, 1024);
    assert.ok(heard.every((id) => ids.has(id)));
    const strangers = Array.from({ length: 10_000 }, () => randomId(random));
    assert.equal(strangers.filter((id) => ids.has(id)).length, 0);
  });
});
