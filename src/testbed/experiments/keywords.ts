import { InvalidArgumentError } from '../../errors.js';
import type { NodeOptions } from '../../node/create.js';
import type { ButterNode } from '../../node/node.js';
import type { FactoryMap } from '../../node/service.js';
import { keywordRoutes } from '../../retrieval/keyword-messages.js';
import { retrieval } from '../../retrieval/service.js';
import { storage } from '../../storage/service.js';
import type { Experiment, Figures, Params } from '../experiment.js';
import { routeTraffic, type TestNetwork } from '../network.js';
import { mean, percentile } from '../statistics.js';
import { retrievalOf } from './retrieval.js';
import { storageOf } from './storage-items.js';

/** Bootstrap addresses per joining node, as in the retrieval experiment. */
const bootstrapPeers = 8;

/** Content ids stored with each word. */
const stored = new WeakMap<TestNetwork, Map<string, Set<string>>>();

/**
 * Keyword search (issue 13 item 4): N nodes store M items, each with 1–3 words
 * of a vocabulary, then Q one-word searches from random nodes. Found % is the
 * share of the contents stored with that word that the search returned.
 */
export const keywordsExperiment: Experiment = {
  name: 'keywords',
  description: 'keyword search: share of matching contents returned and messages per one-word search',
  options: [
    { flag: '--items <count>', key: 'items', description: 'items stored, from random nodes', defaultValue: 200, parse: Number },
    { flag: '--words <count>', key: 'words', description: 'vocabulary the items draw 1–3 keywords from', defaultValue: 50, parse: Number },
    { flag: '--queries <count>', key: 'queries', description: 'one-word searches, each from a random node', defaultValue: 20, parse: Number },
    { flag: '--replicas <r>', key: 'replicas', description: 'copies of every item', defaultValue: 3, parse: Number },
    { flag: '--ttl <hops>', key: 'ttl', description: 'hops a query may make (the last only where a keyword table matches)', defaultValue: 6, parse: Number },
    { flag: '--budget <messages>', key: 'budget', description: 'queries one search may send', defaultValue: 4096, parse: Number },
    { flag: '--memory <MB>', key: 'memory', description: 'memory allocation per node', defaultValue: 32, parse: Number },
  ],
  defaults: { nodes: 100, joinIntervalMs: 20, warmupSeconds: 20, recoverySeconds: 5 },

  nodeOptions(_index: number, params: Params, network: TestNetwork): NodeOptions<FactoryMap> {
    const earlier = network.nodes;
    const bootstrap = [];
    for (let count = 0; count < Math.min(bootstrapPeers, earlier.length); count += 1) bootstrap.push(earlier[network.random.int(earlier.length)]!.address);
    const services = { storage: storage({ replicas: params.replicas as number }), retrieval: retrieval() };
    return { memoryMB: params.memory as number, bootstrap, discovery: { enabled: params.runtime === 'sim' }, services };
  },

  async afterJoin(network: TestNetwork, params: Params): Promise<void> {
    const random = network.random.fork('keyword-items');
    const vocabulary = Array.from({ length: params.words as number }, (_, index) => `word${index}`);
    const byWord = new Map<string, Set<string>>();
    for (let index = 0; index < (params.items as number); index += 1) {
      const keywords = new Set<string>();
      for (let count = 1 + random.int(3); keywords.size < count; ) keywords.add(vocabulary[random.int(vocabulary.length)] as string);
      const writer = network.nodes[random.int(network.nodes.length)] as ButterNode;
      const contentId = await network.settle(storageOf(writer).store(random.bytes(256), { durable: true, keywords: [...keywords] }));
      for (const word of keywords) byWord.set(word, (byWord.get(word) ?? new Set()).add(contentId));
    }
    stored.set(network, byWord);
    // Tables are sent at most once a second after a change: let the last ones go out.
    await network.advance(3_000);
  },

  async measure(network: TestNetwork, params: Params): Promise<Figures> {
    const byWord = stored.get(network);
    if (!byWord || byWord.size === 0) throw new InvalidArgumentError('no items were stored: --items must be at least 1');
    const words = [...byWord.keys()];
    const random = network.random.fork('keyword-queries');
    const messages: number[] = [];
    const bytes: number[] = [];
    const foundShares: number[] = [];
    let returned = 0;
    let matching = 0;
    for (let query = 0; query < (params.queries as number); query += 1) {
      const word = words[random.int(words.length)] as string;
      const expected = byWord.get(word) as Set<string>;
      const searcher = network.nodes[random.int(network.nodes.length)] as ButterNode;
      const before = network.routeTraffic([keywordRoutes.query, keywordRoutes.hit]);
      const results = await network.settle(retrievalOf(searcher).search([word], { ttl: params.ttl as number, budget: params.budget as number }), 120_000);
      const after = network.routeTraffic([keywordRoutes.query, keywordRoutes.hit]);
      messages.push(after.messages - before.messages);
      bytes.push(after.bytes - before.bytes);
      const hits = results.filter((result) => expected.has(result.contentId)).length;
      returned += hits;
      matching += expected.size;
      foundShares.push(hits / expected.size);
    }
    const tables = routeTraffic(network.traffic(), [keywordRoutes.table]);
    const seconds = Math.max(1e-3, network.now() / 1000);
    return {
      queries: params.queries as number,
      matchingPerQueryMean: round(matching / (params.queries as number)),
      foundPercent: round((100 * returned) / matching),
      worstQueryFoundPercent: round(100 * Math.min(...foundShares)),
      messagesPerQueryMean: round(mean(messages)),
      messagesPerQueryP99: percentile(messages, 0.99),
      messagesPerQueryMax: Math.max(...messages),
      bytesPerQueryMean: round(mean(bytes)),
      tableMessagesPerNodePerSecond: round(tables.messages / (network.size * seconds)),
      tableBytesPerNodePerSecond: round(tables.bytes / (network.size * seconds)),
    };
  },
};

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
