#!/usr/bin/env node
/**
 * The wiki on one Butter node: its pages on http://127.0.0.1:<http-port>/,
 * its articles in the network's storage. Run it on several machines of a LAN
 * (they find each other by multicast) or on one with --peer.
 *
 *   node dist/examples/wiki/wiki.js --http-port 8080 --data-dir ~/.butter-wiki
 */
import { Command, InvalidArgumentError } from 'commander';
import { ButterError, createNode, formatAddress, onShutdownSignal } from '../../src/index.js';
import { neighbourhood } from '../../src/web/network.js';
import { startWebServer } from '../../src/web/server.js';
import { Wiki } from '../../src/web/wiki.js';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

const program = new Command('wiki')
  .description('a wiki served by this Butter node on 127.0.0.1; articles live in the network, not in a database')
  .option('-p, --port <port>', 'TCP port of the node (0 = any)', integer, 0)
  .option('--host <address>', 'interface the node listens on', '0.0.0.0')
  .option('--http-port <port>', 'port of the pages on 127.0.0.1 (0 = any)', integer, 0)
  .option('--peer <host:port...>', 'hosts to know from the start', [])
  .option('--data-dir <path>', "keep the node's identity (the author key of its articles), blocks, name records and tombstones here (in memory when absent)")
  .option('--no-discovery', 'do not look for peers by LAN multicast')
  .parse();

const options = program.opts<{ port: number; host: string; httpPort: number; peer: string[]; dataDir?: string; discovery: boolean }>();

async function main(): Promise<void> {
  const node = await createNode({ port: options.port, host: options.host, bootstrap: options.peer, dataDir: options.dataDir, discovery: { enabled: options.discovery } });
  const wiki = new Wiki(node, { wallClockMs: () => Date.now() });
  await node.spawn();
  const web = await startWebServer({ wiki, network: neighbourhood(node, (id) => wiki.knownTitle(id)), port: options.httpPort });
  onShutdownSignal(async () => {
    await web.close();
    await node.stop();
  });
  console.log(`wiki node ${node.id.slice(0, 12)} listening on ${formatAddress(node.address)}; pages on ${web.url} (network view ${web.url}network)`);
}

main().catch((error: unknown) => {
  const known = error instanceof ButterError;
  console.error(`wiki: ${known ? error.message : String(error)}`);
  if (!known) console.error((error as Error).stack);
  process.exitCode = known ? 2 : 1;
});
