import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bloomHas, bloomOf, bloomUnion, emptyBloom } from '../src/retrieval/bloom.js';
import { defaultSearchOptions, RetrievalCore, type Peer, type QuerySend, type SearchOptions } from '../src/retrieval/core.js';
import { SeededRandom } from '../src/runtime/sim/index.js';
import type { HostEntry } from '../src/transport/vocabulary.js';

const key = `${'ab'.repeat(32)}.1:0`;

function idOf(index: number): string {
  return index.toString(16).padStart(64, '0');
}

/**
 * A fixed topology of cores joined by a synchronous FIFO pump: every query
 * delivered in send order, so message counts are exact.
 */
function runSearch(edges: number[][], holders: Set<number>, search: SearchOptions, origin = 0): { queries: number; hits: HostEntry[][] } {
  const random = new SeededRandom(7);
  const ids = edges.map((_, index) => idOf(index));
  const cores = ids.map((id) => new RetrievalCore(id, random.fork(id)));
  const peersOf = (index: number): Peer[] => (edges[index] ?? []).map((other) => ({ id: idOf(other), address: { host: '10.0.0.1', port: 1000 + other } }));
  const indexOf = new Map(ids.map((id, index) => [id, index]));
  const self = { id: ids[origin] as string, host: '10.0.0.1', port: 1000 + origin };
  const started = cores[origin]!.startSearch(key, search, self, peersOf(origin), 0);
  assert.ok(started);
  const queue: Array<{ from: string; send: QuerySend }> = started.sends.map((send) => ({ from: self.id, send }));
  let queries = 0;
  const hits: HostEntry[][] = [];
  while (queue.length > 0) {
    const { from, send } = queue.shift()!;
    queries += 1;
    const at = indexOf.get(send.to.id) as number;
    const held = holders.has(at) ? [{ id: ids[at] as string, host: '10.0.0.1', port: 1000 + at }] : undefined;
    const outcome = cores[at]!.receiveQuery(from, send.message, held, peersOf(at), search, 0);
    if (outcome.hit) {
      assert.equal(outcome.hit.to.id, self.id);
      if (cores[origin]!.receiveHit(outcome.hit.message)) hits.push(outcome.hit.message.holders);
    }
    for (const next of outcome.sends) queue.push({ from: ids[at] as string, send: next });
  }
  return { queries, hits };
}

function complete(size: number): number[][] {
  return Array.from({ length: size }, (_, index) => Array.from({ length: size }, (__, other) => other).filter((other) => other !== index));
}

function ring(size: number): number[][] {
  return Array.from({ length: size }, (_, index) => [(index + size - 1) % size, (index + 1) % size]);
}

describe('retrieval core on a fixed topology', () => {
  it('bfs on a complete graph of 5: 4 queries out, each forwarded to the 3 others once, duplicates dropped (16 messages)', () => {
    const { queries, hits } = runSearch(complete(5), new Set(), { ...defaultSearchOptions, strategy: 'bfs', budget: 1000 });
    assert.equal(queries, 16);
    assert.equal(hits.length, 0);
  });

  it('the budget bounds a search exactly: bfs with budget 10 sends 10 messages', () => {
    const { queries } = runSearch(complete(5), new Set(), { ...defaultSearchOptions, strategy: 'bfs', budget: 10 });
    assert.equal(queries, 10);
  });

  it('the TTL bounds a search: bfs on a ring of 20 with TTL 3 reaches 3 hops each way (6 messages)', () => {
    const { queries } = runSearch(ring(20), new Set(), { ...defaultSearchOptions, strategy: 'bfs', ttl: 3, budget: 1000 });
    assert.equal(queries, 6);
  });

  it('a holder answers with a hit and does not forward; the origin takes hits for its own search only', () => {
    const { queries, hits } = runSearch(ring(20), new Set([2, 18]), { ...defaultSearchOptions, strategy: 'bfs', ttl: 7, budget: 1000 });
    assert.equal(queries, 4); // 0→1→2 and 0→19→18
    assert.deepEqual(hits.map((holders) => holders[0]?.id).sort(), [idOf(2), idOf(18)].sort());
  });

  it('rbfs forwards to half of the peers: on a complete graph of 9 the origin sends 4', () => {
    const random = new SeededRandom(1);
    const core = new RetrievalCore(idOf(0), random);
    const peers = complete(9)[0]!.map((other) => ({ id: idOf(other), address: { host: '10.0.0.1', port: 1000 + other } }));
    const started = core.startSearch(key, { ...defaultSearchOptions, strategy: 'rbfs' }, { id: idOf(0), host: '10.0.0.1', port: 1000 }, peers, 0);
    assert.equal(started?.sends.length, 4);
  });

  it('informed search goes straight to the neighbour whose summary holds the key', () => {
    const random = new SeededRandom(2);
    const core = new RetrievalCore(idOf(0), random);
    const peers = complete(9)[0]!.map((other) => ({ id: idOf(other), address: { host: '10.0.0.1', port: 1000 + other } }));
    const holder = peers[5]!;
    const own = bloomOf([key], 1);
    assert.ok(core.receiveSummary(holder, { own, near: own, far: own }, 0));
    const started = core.startSearch(key, defaultSearchOptions, { id: idOf(0), host: '10.0.0.1', port: 1000 }, peers, 0);
    assert.deepEqual(started?.sends.map((send) => send.to.id), [holder.id]);
  });

  it('a 3-hop match at the origin steers one walker; the others walk at random', () => {
    const core = new RetrievalCore(idOf(0), new SeededRandom(4));
    const peers = complete(9)[0]!.map((other) => ({ id: idOf(other), address: { host: '10.0.0.1', port: 1000 + other } }));
    const empty = emptyBloom(0);
    const steer = peers[3]!;
    assert.ok(core.receiveSummary(steer, { own: empty, near: empty, far: bloomOf([key], 1) }, 0));
    const started = core.startSearch(key, defaultSearchOptions, { id: idOf(0), host: '10.0.0.1', port: 1000 }, peers, 0);
    const targets = started?.sends.map((send) => send.to.id) ?? [];
    assert.equal(targets.length, defaultSearchOptions.fanout);
    assert.equal(targets[0], steer.id);
    assert.equal(new Set(targets).size, targets.length);
  });

  it('a search that ends unanswered drops the summaries it followed; an answered one keeps them', () => {
    const core = new RetrievalCore(idOf(0), new SeededRandom(6));
    const peers = complete(9)[0]!.map((other) => ({ id: idOf(other), address: { host: '10.0.0.1', port: 1000 + other } }));
    const own = bloomOf([key], 1);
    const origin = { id: idOf(0), host: '10.0.0.1', port: 1000 };
    assert.ok(core.receiveSummary(peers[2]!, { own, near: own, far: own }, 0));
    const answered = core.startSearch(key, defaultSearchOptions, origin, peers, 0);
    assert.deepEqual(answered?.sends.map((send) => send.to.id), [peers[2]!.id]);
    core.endSearch(answered!.id, true);
    assert.equal(core.summaryCount, 1);
    const unanswered = core.startSearch(key, defaultSearchOptions, origin, peers, 0);
    core.endSearch(unanswered!.id, false);
    assert.equal(core.summaryCount, 0);
    // With the stale summary gone, the next search walks at random.
    assert.equal(core.startSearch(key, defaultSearchOptions, origin, peers, 0)?.sends.length, defaultSearchOptions.fanout);
  });

  it('a neighbour’s own filter goes into the 2-hop summary, its 2-hop one into the 3-hop, its 3-hop nowhere', () => {
    const core = new RetrievalCore(idOf(0), new SeededRandom(5));
    const [one, two, three] = ['one', 'two', 'three'].map((name) => `${name.padEnd(64, '0')}.1:0`) as [string, string, string];
    const peers = [1, 2].map((other) => ({ id: idOf(other), address: { host: '10.0.0.1', port: 1000 + other } }));
    assert.ok(core.receiveSummary(peers[0]!, { own: bloomOf([one], 1), near: bloomOf([one, two], 2), far: bloomOf([one, two, three], 3) }, 0));
    const due = core.summaryDue(peers, 1_000);
    assert.ok(due);
    assert.ok(bloomHas(due.message.near, one) && !bloomHas(due.message.near, two));
    assert.ok(bloomHas(due.message.far, one) && bloomHas(due.message.far, two) && !bloomHas(due.message.far, three));
  });

  it('the seen-cache is bounded and expires', () => {
    const core = new RetrievalCore(idOf(0), new SeededRandom(3), { ...new RetrievalCore(idOf(0), new SeededRandom(3)).options, seenCapacity: 2, seenLifetimeMs: 1000 });
    const query = (id: string) => ({ id, key, strategy: 0 as const, ttl: 0, hops: 1, budget: 0, origin: { id: idOf(9), host: '10.0.0.1', port: 1009 } });
    const holders = [{ id: idOf(0), host: '10.0.0.1', port: 1000 }];
    assert.ok(core.receiveQuery(idOf(9), query('a'.repeat(32)), holders, [], defaultSearchOptions, 0).hit);
    assert.equal(core.receiveQuery(idOf(9), query('a'.repeat(32)), holders, [], defaultSearchOptions, 10).hit, undefined);
    core.receiveQuery(idOf(9), query('b'.repeat(32)), holders, [], defaultSearchOptions, 20);
    core.receiveQuery(idOf(9), query('c'.repeat(32)), holders, [], defaultSearchOptions, 30); // pushes 'a' out
    assert.ok(core.receiveQuery(idOf(9), query('a'.repeat(32)), holders, [], defaultSearchOptions, 40).hit);
    assert.ok(core.receiveQuery(idOf(9), query('b'.repeat(32)), holders, [], defaultSearchOptions, 2000).hit); // expired
  });
});

describe('Bloom filters', () => {
  it('hold every key added, at about 1 % false positives with 10 bits per entry', () => {
    const keys = Array.from({ length: 1000 }, (_, index) => `key-${index}`);
    const filter = bloomOf(keys, keys.length);
    for (const entry of keys) assert.ok(bloomHas(filter, entry));
    let falsePositives = 0;
    for (let index = 0; index < 10_000; index += 1) if (bloomHas(filter, `other-${index}`)) falsePositives += 1;
    assert.ok(falsePositives < 200, `${falsePositives} false positives in 10,000`);
  });

  it('a union of a wider and a narrower filter keeps every key of both', () => {
    const narrow = bloomOf(['a', 'b'], 2);
    const wide = bloomOf(Array.from({ length: 500 }, (_, index) => `w${index}`), 500);
    for (const target of [emptyBloom(2), emptyBloom(5000)]) {
      bloomUnion(target, narrow);
      bloomUnion(target, wide);
      for (const entry of ['a', 'b', 'w0', 'w499']) assert.ok(bloomHas(target, entry), entry);
    }
  });
});
