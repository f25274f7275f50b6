#!/usr/bin/env node
/**
 * Reverse echo ("ohce"), the seed's first dapp. Every instance serves the
 * `recho` route; lines typed on stdin go to every known host and the reversed
 * replies are printed.
 *
 *   terminal 1:  node dist/examples/ohce/ohce.js --port 9000
 *   terminal 2:  node dist/examples/ohce/ohce.js --peer 127.0.0.1:9000
 */
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import { ButterError, createNode, formatAddress, onShutdownSignal, type ButterNode } from '../../src/index.js';
import { recho, rechoRoute } from './recho.js';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

const program = new Command('ohce')
  .description('reverse-echo dapp: type a line, every known host sends it back reversed')
  .option('-p, --port <port>', 'TCP port to listen on (0 = any)', integer, 0)
  .option('--host <address>', 'interface to listen on', '127.0.0.1')
  .option('--peer <host:port...>', 'hosts to know from the start', [])
  .option('--memory <MB>', 'memory allocation in MB', integer, 64)
  .option('--verbose', 'print stack traces of failures')
  .parse();

const options = program.opts<{ port: number; host: string; peer: string[]; memory: number; verbose?: boolean }>();

async function sendLines(node: ButterNode, signal: AbortSignal): Promise<void> {
  const lines = createInterface({ input: process.stdin, terminal: false });
  signal.addEventListener('abort', () => lines.close(), { once: true });
  for await (const line of lines) {
    const hosts = node.knownHosts.list();
    if (hosts.length === 0) console.log('(no known hosts yet)');
    const payload = new TextEncoder().encode(line);
    await Promise.all(
      hosts.map(async (host) => {
        try {
          const reply = await node.request(host.address, rechoRoute, payload, { timeoutMs: 5_000 });
          console.log(`${formatAddress(host.address)}: ${new TextDecoder().decode(reply)}`);
        } catch (error) {
          console.log(`${formatAddress(host.address)}: error ${(error as Error).message}`);
        }
      }),
    );
  }
}

async function main(): Promise<void> {
  const node = await createNode({
    port: options.port,
    host: options.host,
    memoryMB: options.memory,
    bootstrap: options.peer,
    services: {}, // ohce stores nothing
  });
  node.route(rechoRoute, recho).behaviour(sendLines);
  await node.spawn();
  // Ctrl-C leaves gracefully; the process ends once the node let go of its sockets and stdin.
  onShutdownSignal(() => node.stop());
  console.log(`ohce node ${node.id.slice(0, 12)} listening on ${formatAddress(node.address)}; type a line and press enter`);
}

// Butter's errors say what is wrong in one line (a taken port, a bad --peer); a stack trace only helps with --verbose.
main().catch((error: unknown) => {
  const known = error instanceof ButterError;
  console.error(`ohce: ${known ? error.message : String(error)}`);
  if (options.verbose || !known) console.error((error as Error).stack);
  process.exitCode = known ? 2 : 1;
});
