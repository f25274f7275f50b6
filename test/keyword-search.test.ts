import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeywordSearchCore, type IndexedContent } from '../src/retrieval/keyword-search.js';
import { keywordHitCodec, keywordRoutes, keywordTableCodec } from '../src/retrieval/keyword-messages.js';
import { keywordTableBytes, keywordTableHashes, keywordTableOf, tableMatches } from '../src/retrieval/keyword-table.js';
import { indexedWords, normaliseWords, searchWords } from '../src/retrieval/keywords.js';
import { SeededRandom } from '../src/runtime/sim/index.js';
import { InvalidArgumentError, ProtocolError } from '../src/errors.js';
import { encodeValue } from '../src/transport/codec.js';
import { RetrievalCluster, type RetrievalNode } from './retrieval-cluster.js';

function bytes(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map((_, index) => (index * 31 + seed) % 251);
}

describe('keyword normalisation', () => {
  it('lower-cases, strips accents and drops words shorter than 3 characters', () => {
    assert.deepEqual(normaliseWords('Crème Brûlée'), ['creme', 'brulee']);
    assert.deepEqual(normaliseWords('Ça va, OK? Zürich ÅNGSTRÖM'), ['zurich', 'angstrom']);
    assert.deepEqual(normaliseWords('a an the'), ['the']);
    assert.deepEqual(normaliseWords('naïve naive NAÏVE'), ['naive']);
  });

  it('indexes every word of a content’s keywords but the author keyword', () => {
    assert.deepEqual(indexedWords(['Hello World', 'author:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'world-tour']), ['hello', 'world', 'tour']);
    assert.deepEqual(searchWords(['x', 'ab']), []);
    assert.equal(searchWords(['one two three four five six seven eight nine ten']).length, 8);
  });
});

describe('the keyword table', () => {
  it('has no false negatives and is always the same size on the wire', () => {
    const words = Array.from({ length: 200 }, (_, index) => `word${index}`);
    const table = keywordTableOf(words);
    for (const word of words) assert.ok(tableMatches(table, [word]));
    assert.equal(keywordTableCodec.encode(table).byteLength < keywordTableBytes + 64, true);
    let falsePositives = 0;
    for (let index = 0; index < 10_000; index += 1) if (tableMatches(table, [`other${index}`])) falsePositives += 1;
    assert.ok(falsePositives < 100, `${falsePositives} false positives in 10,000`);
    assert.equal(tableMatches(keywordTableOf([]), ['anything']), false);
  });

  it('refuses a table of another size or hash count', () => {
    assert.ok(keywordTableCodec.decode(encodeValue({ bits: new Uint8Array(keywordTableBytes), hashCount: keywordTableHashes })));
    assert.throws(() => keywordTableCodec.decode(encodeValue({ bits: new Uint8Array(16), hashCount: keywordTableHashes })), ProtocolError);
    assert.throws(() => keywordTableCodec.decode(encodeValue({ bits: new Uint8Array(keywordTableBytes), hashCount: 7 })), ProtocolError);
  });
});

describe('the keyword search core', () => {
  const peer = (id: string) => ({ id, address: { host: '10.0.0.1', port: Number.parseInt(id, 16) % 60_000 + 1 } });
  const origin = { id: 'a'.repeat(64), host: '10.0.0.1', port: 1 };

  it('floods while TTL lasts and sends the last hop only where a table matches, within the budget', () => {
    const core = new KeywordSearchCore('b'.repeat(64), new SeededRandom(1));
    const peers = ['c', 'd', 'e', 'f'].map((letter) => peer(letter.repeat(64)));
    core.receiveTable(peers[0]!, keywordTableOf(['violin']), 0);
    core.receiveTable(peers[1]!, keywordTableOf(['piano']), 0);
    const query = { id: '1'.repeat(32), words: ['violin'], ttl: 1, hops: 1, budget: 10, origin };
    const last = core.receiveQuery(origin.id, query, [], origin, peers, 0);
    assert.deepEqual(last.sends.map((send) => send.to.id), [peers[0]!.id]);
    const flood = core.receiveQuery(origin.id, { ...query, id: '2'.repeat(32), ttl: 3, budget: 3 }, [], origin, peers, 0);
    assert.equal(flood.sends.length, 3);
    assert.equal(flood.sends[0]!.to.id, peers[0]!.id, 'the matching neighbour first');
    assert.equal(flood.sends.reduce((sum, send) => sum + 1 + send.message.budget, 0), 3);
    assert.deepEqual(core.receiveQuery(origin.id, { ...query, ttl: 3 }, [], origin, peers, 0).sends, [], 'a duplicate goes nowhere');
  });

  it('answers with the matching contents it holds, ranked, and the origin deduplicates', () => {
    const holder = new KeywordSearchCore('b'.repeat(64), new SeededRandom(2));
    const held: IndexedContent[] = [
      { contentId: `${'1'.repeat(64)}.1`, words: new Set(['violin']) },
      { contentId: `${'2'.repeat(64)}.1`, words: new Set(['violin', 'sonata']) },
      { contentId: `${'3'.repeat(64)}.1`, words: new Set(['piano']) },
    ];
    const self = { id: 'b'.repeat(64), host: '10.0.0.2', port: 2 };
    const searcher = new KeywordSearchCore(origin.id, new SeededRandom(3));
    const started = searcher.startSearch(['violin', 'sonata'], { ttl: 2, budget: 8 }, origin, [peer(self.id)], 0)!;
    const outcome = holder.receiveQuery(origin.id, started.sends[0]!.message, held, self, [], 0);
    assert.deepEqual(outcome.hit!.message.results.map((result) => result.matched), [['violin', 'sonata'], ['violin']]);
    assert.equal(searcher.receiveHit(outcome.hit!.message)!.length, 2);
    assert.equal(searcher.receiveHit(outcome.hit!.message)!.length, 0, 'the same contents again are no new results');
    const inflated = { ...outcome.hit!.message, results: [{ contentId: `${'4'.repeat(64)}.1`, matched: ['unsearched'] }] };
    assert.equal(searcher.receiveHit(inflated)!.length, 0, 'words not searched do not count');
    searcher.endSearch(started.id);
    assert.equal(searcher.receiveHit(outcome.hit!.message), undefined);
  });
});

describe('keyword search on the simulator', () => {
  async function network(seed: number): Promise<RetrievalCluster> {
    const cluster = new RetrievalCluster(seed);
    await cluster.addMany(20);
    return cluster;
  }

  it('finds what was stored with those words, and fetching verifies it', { timeout: 120_000 }, async () => {
    const cluster = await network(21);
    const violin = await cluster.settle(cluster.nodes[2]!.services.storage.store(bytes(3000, 1), { durable: true, keywords: ['Violin Sonata'] }));
    const sonata = await cluster.settle(cluster.nodes[5]!.services.storage.store(bytes(3000, 2), { durable: true, keywords: ['sonate', 'SONATA'] }));
    await cluster.settle(cluster.nodes[7]!.services.storage.store(bytes(3000, 3), { durable: true, keywords: ['piano'] }));
    await cluster.simulation.runFor(3_000); // tables carry the new words
    const reader = cluster.nodes[19] as RetrievalNode;
    const streamed: string[] = [];
    const results = await cluster.settle(reader.services.retrieval.search(['Sonatá', 'violin'], { ttl: 8, onResult: (result) => streamed.push(result.contentId) }));
    assert.deepEqual(
      results.map((result) => [result.contentId, result.matched.length]),
      [
        [violin, 2],
        [sonata, 1],
      ],
    );
    assert.deepEqual(new Set(streamed), new Set([violin, sonata]));
    assert.ok(results[0]!.holders.length >= 1);
    const data = await cluster.settle(reader.services.retrieval.retrieve(violin));
    assert.deepEqual(data, bytes(3000, 1));
    const limited = await cluster.settle(reader.services.retrieval.search(['sonata'], { ttl: 8, limit: 1 }));
    assert.equal(limited.length, 1);
    const verified = await cluster.settle(reader.services.retrieval.search(['violin', 'sonata'], { ttl: 8, verify: true }));
    assert.deepEqual(verified.map((result) => result.contentId), [violin, sonata], 'honest results survive verification');
  });

  it('with verify, drops a result whose holder names words its block does not have', { timeout: 120_000 }, async () => {
    const cluster = await network(24);
    const piano = await cluster.settle(cluster.nodes[4]!.services.storage.store(bytes(2000, 5), { durable: true, keywords: ['piano'] }));
    await cluster.simulation.runFor(3_000);
    const reader = cluster.nodes[15] as RetrievalNode;
    const holder = cluster.nodes.find((node) => node.services.storage.heldSegmentKeys().includes(`${piano}:0`) && node !== reader)!;
    // A lying hit, as a holder would send it: real content, words it was not stored with.
    const liar = { id: holder.id, host: holder.address.host, port: holder.address.port };
    const searching = reader.services.retrieval.search(['violin'], { ttl: 1, verify: true });
    const [id] = [...(reader.services.retrieval.keywords as unknown as { pending: Map<string, unknown> }).pending.keys()];
    await cluster.settle(holder.notify({ id: reader.id, address: reader.address }, keywordRoutes.hit, keywordHitCodec.encode({ id: id!, hops: 1, holder: liar, results: [{ contentId: piano, matched: ['violin'] }] })));
    assert.deepEqual(await cluster.settle(searching), []);
    const unverified = reader.services.retrieval.search(['violin'], { ttl: 1 });
    const [second] = [...(reader.services.retrieval.keywords as unknown as { pending: Map<string, unknown> }).pending.keys()];
    await cluster.settle(holder.notify({ id: reader.id, address: reader.address }, keywordRoutes.hit, keywordHitCodec.encode({ id: second!, hops: 1, holder: liar, results: [{ contentId: piano, matched: ['violin'] }] })));
    assert.deepEqual((await cluster.settle(unverified)).map((result) => result.contentId), [piano], 'without verify the lie comes through');
  });

  it('a search for a word nobody holds ends empty within its budget, and the last hop costs little', { timeout: 120_000 }, async () => {
    const cluster = await network(22);
    await cluster.settle(cluster.nodes[3]!.services.storage.store(bytes(2000, 4), { durable: true, keywords: ['cello'] }));
    await cluster.simulation.runFor(3_000);
    const reader = cluster.nodes[10] as RetrievalNode;
    for (const budget of [5, 40]) {
      const before = cluster.sent(keywordRoutes.query);
      assert.deepEqual(await cluster.settle(reader.services.retrieval.search(['absentword'], { budget, ttl: 4 })), []);
      assert.ok(cluster.sent(keywordRoutes.query) - before <= budget, `${cluster.sent(keywordRoutes.query) - before} queries for budget ${budget}`);
    }
    // TTL 1: only neighbours whose table matches hear the query, so an absent word costs (almost: false positives) nothing.
    const before = cluster.sent(keywordRoutes.query);
    await cluster.settle(reader.services.retrieval.search(['absentword'], { ttl: 1 }));
    assert.ok(cluster.sent(keywordRoutes.query) - before <= 1);
  });

  it('cancels through an AbortSignal, and refuses a search without a usable word', { timeout: 60_000 }, async () => {
    const cluster = await network(23);
    const node = cluster.nodes[0] as RetrievalNode;
    const controller = new AbortController();
    const searching = node.services.retrieval.search(['anything'], { signal: controller.signal });
    node.runtime.setTimer(50, () => controller.abort(new Error('cancelled by the test')));
    await assert.rejects(cluster.settle(searching), /cancelled by the test/);
    await assert.rejects(node.services.retrieval.search(['ab', 'é']), InvalidArgumentError);
    await assert.rejects(node.services.retrieval.search(['word'], { limit: 0 }), InvalidArgumentError);
    assert.equal(node.services.retrieval.keywords.activeSearches, 0);
  });
});
