import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { reverseText } from '../examples/ohce/recho.js';
import { within } from './support/world.js';

// Tests run from dist/test; the built example sits next to them.
const ohceScript = fileURLToPath(new URL('../examples/ohce/ohce.js', import.meta.url));

interface Program {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects if the program exits first. */
  waitFor(pattern: RegExp, what: string, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startOhce(args: string[]): Program {
  const child = spawn(process.execPath, [ohceScript, ...args], { stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    output: () => `stdout:\n${stdout}\nstderr:\n${stderr}`,
    waitFor(pattern, what, ms = 10_000) {
      const found = new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(stdout);
          if (match) {
            listeners.delete(check);
            resolve(match);
          }
        };
        listeners.add(check);
        check();
        void exited.then(() => reject(new Error(`ohce exited before printing ${what}\n${stdout}\n${stderr}`)));
      });
      return within(found, what, ms);
    },
  };
}

/** Ends a program with SIGTERM or SIGINT (its graceful leave), or SIGKILL if it does not go. */
async function stopProgram(program: Program, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (program.child.exitCode !== null || program.child.signalCode !== null) return program.exited;
  program.child.kill(signal);
  try {
    return await within(program.exited, `ohce to exit after ${signal}`, 10_000);
  } catch (error) {
    program.child.kill('SIGKILL');
    await program.exited;
    throw error;
  }
}

describe('ohce example between two processes', () => {
  it('prints the line typed into the client reversed by the server', { timeout: 60_000 }, async () => {
    const programs: Program[] = [];
    try {
      const server = startOhce(['--port', '0', '--host', '127.0.0.1']);
      programs.push(server);
      const [, port] = await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 'the server address');
      const client = startOhce(['--port', '0', '--host', '127.0.0.1', '--peer', `127.0.0.1:${port}`]);
      programs.push(client);
      await client.waitFor(/listening on 127\.0\.0\.1:\d+/, 'the client address');

      const line = 'Butter on a p2p network: crème brûlée 🧈';
      const expected = `127.0.0.1:${port}: ${reverseText(line)}`;
      assert.notEqual(reverseText(line), line);
      // The client meets its peer at start-up; until then it prints "(no known hosts yet)", so say it again.
      const echoed = client.waitFor(new RegExp(expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the reversed line', 20_000);
      let attempts = 0;
      const retry = setInterval(() => {
        attempts += 1;
        if (attempts <= 40) client.child.stdin.write(`${line}\n`);
      }, 250);
      client.child.stdin.write(`${line}\n`);
      try {
        await echoed;
      } finally {
        clearInterval(retry);
      }

      // Ctrl-C in one terminal, a service manager's SIGTERM in the other: both leave gracefully.
      const [serverExit, clientExit] = await Promise.all([stopProgram(server, 'SIGINT'), stopProgram(client, 'SIGTERM')]);
      assert.deepEqual(serverExit, { code: 0, signal: null }, `server: ${server.output()}`);
      assert.deepEqual(clientExit, { code: 0, signal: null }, `client: ${client.output()}`);
    } finally {
      await Promise.allSettled(programs.map((program) => stopProgram(program)));
    }
  });
});
