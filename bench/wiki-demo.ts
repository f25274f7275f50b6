/**
 * The demo network as a person meets it: `--nodes` nodes (20) in one process
 * with the wiki and its pages, `--articles` (5) published from random nodes.
 * Measures the start, the durable publish, list and search from every node
 * (how many of the articles each finds, and how fast), the holders query, an
 * article page over HTTP, and the repair after a holder is killed: the time
 * until a group member sees the group at its target again without it.
 *
 * Queries run twice: right after the publishes, and `--settle-seconds` (10)
 * after the start, as a person opening the pages would.
 *
 *   node dist/bench/wiki-demo.js [--nodes 20] [--articles 5] [--settle-seconds 10]
 */
import { DemoNetwork } from '../src/cli/demo.js';
import { numberOption, report, round } from './common.js';

const args = process.argv.slice(2);
const nodeCount = numberOption(args, 'nodes', 20);
const articleCount = numberOption(args, 'articles', 5);
/** The second round of queries runs this long after the start, when peer exchange has widened the known hosts. */
const settleSeconds = numberOption(args, 'settle-seconds', 10);

const percentile = (values: number[], share: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(share * values.length))] ?? 0;
const milliseconds = (values: number[]) => `${round(percentile(values, 0.5))} ms (worst ${round(Math.max(...values))})`;
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const startedAt = performance.now();
  const value = await work();
  return { ms: performance.now() - startedAt, value };
}

const network = new DemoNetwork({ httpPort: 0, print: () => undefined });
const rows: Array<Record<string, string>> = [];
const metrics: Record<string, unknown> = { nodes: nodeCount, articles: articleCount, settleSeconds };
/** Articles each node listed, per round of queries. */
const founds: number[][] = [];
try {
  const networkStartedAt = performance.now();
  const start = await timed(async () => {
    for (let index = 0; index < nodeCount; index += 1) await network.add();
  });
  metrics.startSeconds = start.ms / 1000;
  metrics.rssMiB = process.memoryUsage().rss / 2 ** 20;
  rows.push({ measure: `start ${nodeCount} nodes with their pages`, value: `${round(start.ms / 1000, 2)} s, ${round(metrics.rssMiB as number)} MiB resident` });

  const publishes: number[] = [];
  const ids: string[] = [];
  for (let index = 0; index < articleCount; index += 1) {
    const member = network.member((index * 7) % nodeCount);
    if (!member) throw new Error('missing node');
    const { ms, value } = await timed(() => member.wiki.publish(`Article ${index}`, `Body of article ${index} with the word marker${index}.`));
    publishes.push(ms);
    ids.push(value.id);
  }
  metrics.publishMs = publishes;
  rows.push({ measure: 'publish (durable, 3 replicas)', value: milliseconds(publishes) });

  for (const round of ['just after the start', `${settleSeconds} s after the start`]) {
    if (founds.length === 1) await new Promise((resolve) => setTimeout(resolve, Math.max(0, settleSeconds * 1000 - (performance.now() - networkStartedAt))));
    const lists: number[] = [];
    const found: number[] = [];
    const searches: number[] = [];
    let searchHits = 0;
    const holders: number[] = [];
    const holderCounts: number[] = [];
    for (let index = 0; index < nodeCount; index += 1) {
      const member = network.member(index);
      if (!member) continue;
      const list = await timed(() => member.wiki.list());
      lists.push(list.ms);
      found.push(list.value.length);
      const search = await timed(() => member.wiki.list([`marker${index % articleCount}`]));
      searches.push(search.ms);
      if (search.value.length === 1) searchHits += 1;
      const holding = await timed(() => member.wiki.holders(ids[index % articleCount] as string));
      holders.push(holding.ms);
      holderCounts.push(holding.value.length);
    }
    const complete = found.filter((count) => count === articleCount).length;
    metrics[round] = { listMs: lists, articlesFoundPerNode: found, searchMs: searches, searchHits, holdersMs: holders, holdersFoundPerNode: holderCounts };
    rows.push({ measure: `list from every node, ${round}`, value: `${milliseconds(lists)}; ${complete}/${nodeCount} nodes list all ${articleCount} (fewest found: ${Math.min(...found)})` });
    rows.push({ measure: `search one word from every node, ${round}`, value: `${milliseconds(searches)}; ${searchHits}/${nodeCount} find the one article` });
    rows.push({ measure: `holders of an article from every node, ${round}`, value: `${milliseconds(holders)}; ${holderCounts.filter((count) => count >= 3).length}/${nodeCount} see 3 holders` });
    founds.push(found);
  }

  const reader = network.member(nodeCount - 1);
  const pages: number[] = [];
  for (const id of ids) {
    pages.push((await timed(async () => (await fetch(`${reader?.web.url}articles/${id}`)).text())).ms);
  }
  metrics.articlePageMs = pages;
  rows.push({ measure: 'article page over HTTP (read + holders)', value: milliseconds(pages) });

  // Kill one holder of the first article and wait for a member's view to be back at 3 alive without it.
  const id = ids[0] as string;
  const key = `${id}:0`;
  const before = network.snapshot('').groups.find((candidate) => candidate.key === key);
  const victim = before?.members.find((member) => member.status === 'alive')?.id;
  if (!victim || before?.state !== 'goldilocks') throw new Error(`the group is not goldilocks before the kill: ${JSON.stringify(before)}`);
  const killedAt = performance.now();
  await network.kill(victim);
  let repairedMs: number | undefined;
  while (repairedMs === undefined && performance.now() - killedAt < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const snapshot = network.snapshot('');
    const group = snapshot.groups.find((candidate) => candidate.key === key);
    const alive = group?.members.filter((member) => member.status === 'alive').map((member) => member.id) ?? [];
    if (group?.state === 'goldilocks' && alive.length === 3 && !alive.includes(victim)) repairedMs = performance.now() - killedAt;
  }
  metrics.repairMs = repairedMs ?? null;
  rows.push({ measure: 'a holder killed: its group back at 3 alive without it', value: repairedMs === undefined ? 'not within 60 s' : `${round(repairedMs / 1000, 2)} s` });
} finally {
  await network.stop();
}
await report({
  name: 'wiki-demo',
  rows,
  targets: founds.map((found, index) => ({
    name: `every node lists every article, ${index === 0 ? 'just after the start' : `after ${settleSeconds} s`}`,
    target: `${nodeCount}/${nodeCount}`,
    actual: `${found.filter((count) => count === articleCount).length}/${nodeCount}`,
    met: found.every((count) => count === articleCount),
  })),
  metrics,
});
