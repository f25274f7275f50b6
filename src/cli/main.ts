#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './demo.js';
import { testbedCommand } from './testbed.js';

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

const program = new Command('butter').description('Butter: decentralised applications on an unstructured peer-to-peer network');

program
  .command('demo')
  .description('run a small local Butter network of reverse-echo nodes on loopback')
  .option('-n, --nodes <count>', 'number of nodes', positiveInteger, 4)
  .option('-s, --seconds <seconds>', 'stop after this many seconds (default: run until Ctrl-C)', positiveInteger)
  .option('--interval <ms>', 'time between messages of one node', positiveInteger, 1500)
  .action(async (options: { nodes: number; seconds?: number; interval: number }) => {
    await runDemo({ nodes: options.nodes, seconds: options.seconds, intervalMs: options.interval, print: (line) => console.log(line) });
  });

program.addCommand(testbedCommand());

await program.parseAsync();
