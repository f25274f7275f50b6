import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzzDatagrams, fuzzFrames, fuzzHandshakes } from '../src/testbed/fuzz.js';

// The short version of `npm run bench -- fuzz` (which drives over a million inputs of each kind).
describe('fuzzing, short', () => {
  it('frames and envelopes: 20,000 valid and mutated frames, only typed refusals', () => {
    const outcome = fuzzFrames(20_000, 1);
    assert.equal(outcome.crashes, 0, outcome.firstCrash);
    assert.ok(outcome.refused > 1_000, `most mutations are refused: ${outcome.refused}`);
  });

  it('discovery: 20,000 valid and mutated datagrams, all survived, output bounded', () => {
    const outcome = fuzzDatagrams(20_000, 2);
    assert.equal(outcome.crashes, 0, outcome.firstCrash);
    assert.ok(outcome.refused > 1_000, `most mutations are dropped: ${outcome.refused}`);
    assert.ok(outcome.maxOutgoing <= 8, `datagrams out per step: ${outcome.maxOutgoing}`);
  });

  it('handshakes: 300 hostile connections to a live node, which still serves a real peer', { timeout: 60_000 }, async () => {
    const outcome = await fuzzHandshakes(300, 3);
    assert.equal(outcome.crashes, 0, outcome.firstCrash);
    assert.ok(outcome.stillServing, 'a real peer is answered afterwards');
  });
});
