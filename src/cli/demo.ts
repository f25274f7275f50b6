import { setTimeout as sleep } from 'node:timers/promises';
import { createNode } from '../node/create.js';
import type { ButterNode } from '../node/node.js';
import { onShutdownSignal } from '../runtime/real/signals.js';
import { formatAddress } from '../runtime/types.js';

export interface DemoOptions {
  nodes: number;
  /** Stop after this many seconds; run until interrupted when absent. */
  seconds?: number;
  intervalMs: number;
  print: (line: string) => void;
}

const words = ['butter', 'peer', 'gossip', 'churn', 'group', 'ambassador', 'multicast', 'diversity'];
const rechoRoute = 'recho';

/**
 * A small Butter network on loopback: every node serves the reverse-echo
 * route, and every node periodically sends a word to each host it knows and
 * prints the reversed reply.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const nodes: ButterNode[] = [];
  for (let index = 0; index < options.nodes; index += 1) {
    const node = await createNode({
      host: '127.0.0.1',
      memoryMB: 32,
      bootstrap: nodes.map((earlier) => earlier.address),
    });
    node.route(rechoRoute, (_node, payload) => Uint8Array.from(payload).reverse());
    node.behaviour((self, signal) => chatter(self, signal, index, options));
    await node.spawn();
    options.print(`node ${index} ${node.id.slice(0, 12)} listening on ${formatAddress(node.address)}`);
    nodes.push(node);
  }
  const stopAll = () => Promise.all(nodes.map((node) => node.stop()));
  if (options.seconds === undefined) {
    await new Promise<void>((resolve) => onShutdownSignal(resolve));
  } else {
    await sleep(options.seconds * 1000);
  }
  await stopAll();
  options.print(`stopped ${nodes.length} nodes`);
}

async function chatter(node: ButterNode, signal: AbortSignal, index: number, options: DemoOptions): Promise<void> {
  let round = 0;
  while (!signal.aborted) {
    try {
      await sleep(options.intervalMs + index * 37, undefined, { signal });
    } catch {
      return; // aborted: the node is stopping
    }
    const word = `${words[(index + round) % words.length]}-${round}`;
    round += 1;
    for (const host of node.knownHosts.list()) {
      try {
        const reply = await node.request(host.address, rechoRoute, new TextEncoder().encode(word), { timeoutMs: 2_000 });
        options.print(`node ${index} -> ${host.id.slice(0, 8)}: "${word}" came back as "${new TextDecoder().decode(reply)}"`);
      } catch (error) {
        options.print(`node ${index} -> ${host.id.slice(0, 8)}: ${(error as Error).message}`);
      }
    }
  }
}
