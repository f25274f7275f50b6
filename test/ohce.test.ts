import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { reverseText } from '../examples/ohce/recho.js';
import { runProgram, startProgram, stopProgram, type Program } from './support/program.js';

// Tests run from dist/test; the built example sits next to them.
const ohceScript = fileURLToPath(new URL('../examples/ohce/ohce.js', import.meta.url));

describe('ohce example between two processes', () => {
  it('prints the line typed into the client reversed by the server', { timeout: 60_000 }, async () => {
    const programs: Program[] = [];
    try {
      const server = startProgram(ohceScript, ['--port', '0', '--host', '127.0.0.1']);
      programs.push(server);
      const [, port] = await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 'the server address');
      const client = startProgram(ohceScript, ['--port', '0', '--host', '127.0.0.1', '--peer', `127.0.0.1:${port}`]);
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

  it('says what is wrong in one line, without a stack trace, for a taken port, a bad --port and a bad --peer', { timeout: 60_000 }, async () => {
    const server = startProgram(ohceScript, ['--port', '0', '--host', '127.0.0.1']);
    try {
      const [, port] = await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 'the server address');
      const cases: Array<[string[], number, RegExp]> = [
        [['--port', port as string, '--host', '127.0.0.1'], 2, new RegExp(`^ohce: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use \\(EADDRINUSE\\)\n$`)],
        [['--port', 'abc'], 1, /^error: option '-p, --port <port>' argument 'abc' is invalid\. expected a whole number\n$/],
        [['--peer', 'nonsense'], 2, /^ohce: bootstrap\[0\] must be host:port, got "nonsense" \(a string\)\n$/],
      ];
      for (const [args, code, message] of cases) {
        const result = await runProgram(ohceScript, args);
        assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, message);
      }
    } finally {
      await stopProgram(server);
    }
  });
});
