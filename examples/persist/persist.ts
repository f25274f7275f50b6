#!/usr/bin/env node
/**
 * Store and retrieve: text added on one node stays in the network after that
 * node is gone. Commands on stdin:
 *
 *   add <text>    stores the text (durably: once `--replicas` nodes hold it) and prints its id
 *   get <id>      finds the content in the network and prints it
 *   groups        lists the Peer Content Groups this node is in, with their state
 *
 *   terminal 1:  node dist/examples/persist/persist.js --port 9100
 *   terminals 2, 3:  node dist/examples/persist/persist.js --peer 127.0.0.1:9100
 */
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import { ButterError, createNode, formatAddress, onShutdownSignal, storage, type ButterNode, type StorageService } from '../../src/index.js';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

const program = new Command('persist')
  .description('store text in the network and retrieve it by id, from any node, after its writer is gone')
  .option('-p, --port <port>', 'TCP port to listen on (0 = any)', integer, 0)
  .option('--host <address>', 'interface to listen on', '127.0.0.1')
  .option('--peer <host:port...>', 'hosts to know from the start', [])
  .option('--replicas <count>', 'nodes that hold each content', integer, 3)
  .option('--data-dir <path>', 'keep the identity and the blocks here (in memory when absent)')
  .option('--no-discovery', 'do not look for peers by LAN multicast')
  .parse();

const options = program.opts<{ port: number; host: string; peer: string[]; replicas: number; dataDir?: string; discovery: boolean }>();

type StorageNode = ButterNode<{ storage: StorageService }>;

async function run(node: StorageNode, line: string): Promise<string> {
  const [command = '', ...rest] = line.trim().split(/\s+/);
  const argument = line.trim().slice(command.length).trim();
  switch (command) {
    case '':
      return '';
    case 'add': {
      if (argument.length === 0) return 'usage: add <text>';
      const id = await node.services.storage.store(new TextEncoder().encode(argument), { durable: true });
      return `stored ${id}`;
    }
    case 'get': {
      if (rest.length !== 1) return 'usage: get <id>';
      const data = await node.services.storage.findContent(argument);
      return data === undefined ? `not found: ${argument}` : `found ${argument}: ${new TextDecoder().decode(data)}`;
    }
    case 'groups': {
      const groups = node.services.storage.groups();
      if (groups.length === 0) return 'no groups';
      return groups
        .map((group) => {
          const alive = group.members.filter((member) => member.status === 'alive').length;
          return `group ${group.key} ${group.state} ${alive}/${group.target} alive, leader ${group.leader.slice(0, 8)}`;
        })
        .join('\n');
    }
    default:
      return `unknown command ${JSON.stringify(command)}: add <text>, get <id> or groups`;
  }
}

async function readCommands(node: StorageNode, signal: AbortSignal): Promise<void> {
  const lines = createInterface({ input: process.stdin, terminal: false });
  signal.addEventListener('abort', () => lines.close(), { once: true });
  for await (const line of lines) {
    try {
      const answer = await run(node, line);
      if (answer) console.log(answer);
    } catch (error) {
      console.log(`error: ${(error as Error).message}`);
    }
  }
}

async function main(): Promise<void> {
  const node = await createNode({
    port: options.port,
    host: options.host,
    memoryMB: 64,
    bootstrap: options.peer,
    dataDir: options.dataDir,
    discovery: { enabled: options.discovery },
    services: { storage: storage({ replicas: options.replicas }) },
  });
  node.behaviour(readCommands);
  await node.spawn();
  onShutdownSignal(() => node.stop());
  console.log(`persist node ${node.id.slice(0, 12)} listening on ${formatAddress(node.address)}; commands: add <text>, get <id>, groups`);
}

main().catch((error: unknown) => {
  const known = error instanceof ButterError;
  console.error(`persist: ${known ? error.message : String(error)}`);
  if (!known) console.error((error as Error).stack);
  process.exitCode = known ? 2 : 1;
});
