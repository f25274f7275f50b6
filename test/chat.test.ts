import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startProgram, stopProgram, type Program } from './support/program.js';

const chatScript = fileURLToPath(new URL('../examples/chat/chat.js', import.meta.url));

describe('chat example between two processes', () => {
  it('shows join notices, delivers a message by nickname with control characters defused, and a leave notice', { timeout: 60_000 }, async () => {
    const programs: Program[] = [];
    const network = `chat-test-${process.pid}`;
    const common = ['--host', '127.0.0.1', '--no-discovery', '--network', network];
    try {
      const alice = startProgram(chatScript, ['--nick', 'alice', ...common]);
      programs.push(alice);
      const [, port] = await alice.waitFor(/listening on 127\.0\.0\.1:(\d+)/, "alice's address");
      const bob = startProgram(chatScript, ['--nick', 'bob', '--peer', `127.0.0.1:${port}`, ...common]);
      programs.push(bob);
      await Promise.all([alice.waitFor(/\* bob joined/, 'bob joining', 20_000), bob.waitFor(/\* alice joined/, 'alice joining', 20_000)]);

      bob.child.stdin.write('hello alice \x1b[2J there\n');
      await alice.waitFor(/<bob> hello alice {2}\[2J there\n/, "bob's message", 20_000);
      assert.ok(!alice.output().includes('\x1b[2J'), 'the escape sequence reached the terminal');

      assert.deepEqual(await stopProgram(bob, 'SIGINT'), { code: 0, signal: null }, bob.output());
      await alice.waitFor(/\* bob left/, 'bob leaving', 20_000);
      assert.deepEqual(await stopProgram(alice, 'SIGTERM'), { code: 0, signal: null }, alice.output());
    } finally {
      await Promise.allSettled(programs.map((program) => stopProgram(program)));
    }
  });
});
