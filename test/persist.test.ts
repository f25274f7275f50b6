import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startProgram, stopProgram, type Program } from './support/program.js';

const persistScript = fileURLToPath(new URL('../examples/persist/persist.js', import.meta.url));

describe('persist example between three processes', () => {
  it('adds text on one node, gets it on another, still gets it after the first is killed, and lists groups', { timeout: 90_000 }, async () => {
    const programs: Program[] = [];
    const common = ['--host', '127.0.0.1', '--no-discovery'];
    try {
      const writer = startProgram(persistScript, common);
      programs.push(writer);
      const [, port] = await writer.waitFor(/listening on 127\.0\.0\.1:(\d+)/, "the writer's address");
      const readers = [startProgram(persistScript, [...common, '--peer', `127.0.0.1:${port}`]), startProgram(persistScript, [...common, '--peer', `127.0.0.1:${port}`])];
      programs.push(...readers);
      await Promise.all(readers.map((reader) => reader.waitFor(/listening on/, "a reader's address")));
      const [first, second] = readers as [Program, Program];

      const text = 'kept by the network, not by its writer';
      // The readers' introductions reach the writer just after start: add again until the durable store finds them.
      let id: string | undefined;
      for (let attempt = 1; attempt <= 10 && id === undefined; attempt += 1) {
        writer.child.stdin.write(`add ${text}\n`);
        const answers = await writer.waitFor(new RegExp(`(?:[\\s\\S]*?(?:stored [0-9a-f]{64}\\.1|error: [^\\n]*)\\n){${attempt}}`), 'an answer to add', 40_000);
        id = /stored ([0-9a-f]{64}\.1)\n$/.exec(answers[0])?.[1];
      }
      assert.ok(id, writer.output());

      first.child.stdin.write(`get ${id}\n`);
      await first.waitFor(new RegExp(`found ${id.replace('.', '\\.')}: ${text}`), 'the text on the first reader', 20_000);

      writer.child.kill('SIGKILL');
      await writer.exited;
      second.child.stdin.write(`get ${id}\n`);
      await second.waitFor(new RegExp(`found ${id.replace('.', '\\.')}: ${text}`), 'the text after the writer died', 30_000);

      second.child.stdin.write('groups\n');
      await second.waitFor(new RegExp(`group ${id.replace('.', '\\.')}:0 \\w+ \\d/3 alive`), 'the group list', 10_000);
      const exits = await Promise.all(readers.map((reader) => stopProgram(reader, 'SIGINT')));
      assert.deepEqual(exits, [{ code: 0, signal: null }, { code: 0, signal: null }]);
    } finally {
      await Promise.allSettled(programs.map((program) => stopProgram(program)));
    }
  });
});
