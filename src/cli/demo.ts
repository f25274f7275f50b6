import { setTimeout as sleep } from 'node:timers/promises';
import { createNode } from '../node/create.js';
import { onShutdownSignal } from '../runtime/real/signals.js';
import { formatAddress } from '../runtime/types.js';
import { withTitle, type NetworkSnapshot, type NetworkSource } from '../web/network.js';
import { startWebServer, type WebServer } from '../web/server.js';
import { summariseGroup, Wiki, type WikiNode } from '../web/wiki.js';

export interface DemoOptions {
  nodes: number;
  /** Stop after this many seconds; run until interrupted when absent. */
  seconds?: number;
  /** Node i serves its wiki on this port + i; 0 (the default) picks free ports. */
  httpPort: number;
  /** Articles published at start. */
  seed: boolean;
  print: (line: string) => void;
}

interface Member {
  index: number;
  node: WikiNode;
  wiki: Wiki;
  web: WebServer;
}

/** Articles the demo starts with: what Butter is, in its own wiki. */
export const seedArticles: Array<{ title: string; body: string }> = [
  {
    title: 'Welcome to the Butter wiki',
    body: `This wiki has **no central server** and **no database**. Every article is a content in the network's
storage: its blocks live in a *Peer Content Group* of a few nodes, which keeps it at its size as nodes come and go.

- Publish on any node's page, read it on any other.
- Open the [network view](/network), kill the node you published on, and read the article again elsewhere.
- Each article page lists the nodes that hold its blocks and the state of its groups.`,
  },
  {
    title: 'Peer Content Groups',
    body: `A group holds one segment of a content on a target number of members (3 here).

| state | meaning |
|---|---|
| cold | fewer members than the target: the leader recruits |
| goldilocks | exactly the target |
| hot | more than the target: the extra members leave |

Members beat to each other; a silent member is suspected, then replaced.`,
  },
  {
    title: 'Unstructured networks',
    body: `Butter has no DHT and no tracker. Each node knows a bounded set of hosts, exchanges them with its
peers, and finds content by walking the network. See the project's \`docs/ARCHITECTURE.md\`.`,
  },
];

/**
 * The demo network on loopback: every node runs the default services and
 * serves the wiki and the network view; the network view can kill a node
 * (no hand-over: a crash) and add one.
 */
export class DemoNetwork implements NetworkSource {
  private readonly members: Member[] = [];
  private readonly labels = new Map<string, string>();
  private created = 0;

  constructor(private readonly options: Pick<DemoOptions, 'httpPort' | 'print'>) {}

  get size(): number {
    return this.members.length;
  }

  member(index: number): Member | undefined {
    return this.members.find((member) => member.index === index);
  }

  async add(): Promise<string> {
    const index = this.created;
    this.created += 1;
    const node = await createNode({
      host: '127.0.0.1',
      memoryMB: 32,
      // 32 MB would allow 4 known hosts: 12 let the wiki's two-hop queries reach most of the demo network.
      knownHostsCapacity: 12,
      discovery: { enabled: false },
      // A few live nodes drawn at random (not the last few: that makes a chain); peer exchange introduces the rest.
      bootstrap: sample(this.members, 5).map((member) => member.node.address),
    });
    const wiki = new Wiki(node, { wallClockMs: () => Date.now() });
    this.labels.set(node.id, `node ${index}`);
    this.labels.set(wiki.authorKey, `node ${index}`);
    await node.spawn();
    const web = await startWebServer({ wiki, network: this, port: this.options.httpPort === 0 ? 0 : this.options.httpPort + index });
    this.members.push({ index, node, wiki, web });
    this.options.print(`node ${index}  wiki ${web.url}  network view ${web.url}network  (node ${node.id.slice(0, 12)} on ${formatAddress(node.address)})`);
    return node.id;
  }

  /** Removes the node from the network at once; its sockets close without a goodbye. */
  async kill(id: string): Promise<void> {
    const at = this.members.findIndex((member) => member.node.id === id);
    if (at < 0) return;
    const [member] = this.members.splice(at, 1) as [Member];
    this.options.print(`node ${member.index} killed`);
    // Its own page may have asked: answer first, then go.
    setImmediate(() => void Promise.allSettled([member.web.close(), member.node.stop({ graceful: false })]));
  }

  label(id: string): string {
    return this.labels.get(id) ?? id.slice(0, 8);
  }

  snapshot(selfId: string): NetworkSnapshot {
    const live = new Set(this.members.map((member) => member.node.id));
    const groups = new Map<string, ReturnType<typeof summariseGroup>>();
    for (const { node } of this.members) {
      for (const group of node.services.storage.groups()) {
        // The leader's view of a group, or any member's until the leader is known.
        if (!groups.has(group.key) || group.leader === node.id) groups.set(group.key, summariseGroup(group));
      }
    }
    const titleOf = (contentId: string) => this.members.map((member) => member.wiki.knownTitle(contentId)).find((title) => title !== undefined);
    return {
      self: selfId,
      nodes: this.members.map(({ node, web }) => ({ id: node.id, label: this.label(node.id), address: formatAddress(node.address), ambassador: node.quality().ambassador, wikiUrl: web.url })),
      edges: this.members.flatMap(({ node }) => node.knownHosts.list().filter((host) => live.has(host.id)).map((host) => ({ from: node.id, to: host.id }))),
      groups: [...groups.values()].sort((a, b) => a.key.localeCompare(b.key)).map((group) => withTitle(group, titleOf)),
      canChange: true,
    };
  }

  async stop(): Promise<void> {
    const members = this.members.splice(0);
    await Promise.allSettled(members.map((member) => member.web.close()));
    await Promise.allSettled(members.map((member) => member.node.stop()));
  }
}

function sample<T>(items: readonly T[], count: number): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy.slice(0, count);
}

/** Brings up the demo network, seeds its articles, and runs until Ctrl-C (or `seconds`). */
export async function runDemo(options: DemoOptions): Promise<void> {
  const network = new DemoNetwork(options);
  const stopped = new Promise<void>((resolve) => onShutdownSignal(resolve));
  try {
    for (let index = 0; index < options.nodes; index += 1) await network.add();
    if (options.seed) await seed(network, options);
    const first = network.member(0);
    options.print(`ready: ${network.size} nodes; open ${first?.web.url ?? ''} (network view: ${first?.web.url ?? ''}network); Ctrl-C stops`);
    await (options.seconds === undefined ? stopped : Promise.race([stopped, sleep(options.seconds * 1000)]));
  } finally {
    await network.stop();
    options.print('stopped the demo network');
  }
}

async function seed(network: DemoNetwork, options: DemoOptions): Promise<void> {
  for (const [position, article] of seedArticles.entries()) {
    const member = network.member(position % network.size);
    if (!member) continue;
    // A durable store needs its replicas among the hosts met so far: just after start, try again.
    for (let attempt = 1; ; attempt += 1) {
      try {
        const published = await member.wiki.publish(article.title, article.body);
        options.print(`seeded "${article.title}" on node ${member.index}: ${member.web.url}articles/${published.id}`);
        break;
      } catch (error) {
        if (attempt >= 5) {
          options.print(`could not seed "${article.title}": ${(error as Error).message}`);
          break;
        }
        await sleep(1_000);
      }
    }
  }
}
