#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { describeFailure, exitCodeOf, exitCodes } from '../daemon/failures.js';
import { deleteCommand, getCommand, groupsCommand, peersCommand, putCommand, searchCommand, startCommand, statusCommand, stopCommand, updateCommand } from './commands.js';
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
  .description('run a local Butter network on loopback, each node serving the wiki and the network view')
  .option('-n, --nodes <count>', 'number of nodes', positiveInteger, 20)
  .option('-s, --seconds <seconds>', 'stop after this many seconds (default: run until Ctrl-C)', positiveInteger)
  .option('--http-port <port>', 'node i serves its pages on this port + i (default: free ports)', positiveInteger)
  .option('--no-seed', 'start without the example articles')
  .action(async (options: { nodes: number; seconds?: number; httpPort?: number; seed: boolean }) => {
    await runDemo({ nodes: options.nodes, seconds: options.seconds, httpPort: options.httpPort ?? 0, seed: options.seed, print: (line) => console.log(line) });
  });

for (const command of [startCommand(), putCommand(), updateCommand(), getCommand(), deleteCommand(), searchCommand(), peersCommand(), groupsCommand(), statusCommand(), stopCommand()]) program.addCommand(command);
program.addCommand(testbedCommand());

// Usage errors surface as exceptions, so that every failure ends in one place with a documented exit code.
program.exitOverride();
for (const command of program.commands) command.exitOverride();

/** One line on stderr (JSON with --json) and the documented exit code; the stack only with --verbose. */
function report(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? exitCodes.ok : exitCodes.configuration;
  const { code, message } = describeFailure(error);
  const verbose = process.argv.includes('--verbose');
  if (process.argv.includes('--json')) process.stderr.write(`${JSON.stringify({ error: { code, message } })}\n`);
  else process.stderr.write(`butter: ${message}\n`);
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return exitCodeOf(code);
}

let exitCode: number = exitCodes.ok;
try {
  await program.parseAsync();
} catch (error) {
  exitCode = report(error);
}
// A finished command ends the process even if a library left a handle open; stdout and stderr are synchronous on Linux.
process.exit(exitCode !== exitCodes.ok ? exitCode : Number(process.exitCode ?? exitCodes.ok));
