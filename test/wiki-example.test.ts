import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startProgram, stopProgram, type Program } from './support/program.js';

const wikiScript = fileURLToPath(new URL('../examples/wiki/wiki.js', import.meta.url));

describe('wiki example on three processes', () => {
  it("publishes through one node's pages and reads through the other's; the network view streams the neighbourhood", { timeout: 90_000 }, async () => {
    const programs: Program[] = [];
    const common = ['--host', '127.0.0.1', '--no-discovery'];
    try {
      const first = startProgram(wikiScript, common);
      programs.push(first);
      const [, port, firstPages] = await first.waitFor(/listening on 127\.0\.0\.1:(\d+); pages on (\S+) /, 'the first node');
      const second = startProgram(wikiScript, [...common, '--peer', `127.0.0.1:${port}`]);
      programs.push(second);
      const [, secondPages] = await second.waitFor(/pages on (\S+) /, 'the second node');
      // A durable store needs 3 holders (the default replicas).
      const third = startProgram(wikiScript, [...common, '--peer', `127.0.0.1:${port}`]);
      programs.push(third);
      await third.waitFor(/pages on (\S+) /, 'the third node');

      // The others' introductions reach the first node just after their start: publish again until it knows them.
      let location: string | null = null;
      for (let attempt = 0; attempt < 5 && location === null; attempt += 1) {
        const response = await fetch(`${firstPages}articles`, { method: 'POST', body: new URLSearchParams({ title: 'Two nodes', body: 'Read *elsewhere*.' }), redirect: 'manual' });
        location = response.status === 303 ? response.headers.get('location') : null;
        if (location === null) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.match(location ?? '', /^\/articles\/[0-9a-f]{64}\.1$/);
      const page = await (await fetch(`${secondPages}${(location as string).slice(1)}`)).text();
      assert.match(page, /<h1>Two nodes<\/h1>/);
      assert.match(page, /Read <em>elsewhere<\/em>\./);

      const events = await fetch(`${secondPages}network/events`);
      const reader = (events.body as ReadableStream<Uint8Array>).getReader();
      const { value } = await reader.read();
      await reader.cancel();
      const snapshot = JSON.parse(new TextDecoder().decode(value).replace(/^data: /, '')) as { nodes: unknown[]; canChange: boolean };
      assert.equal(snapshot.canChange, false);
      assert.ok(snapshot.nodes.length >= 2, JSON.stringify(snapshot));
      const exits = await Promise.all(programs.map((program) => stopProgram(program, 'SIGINT')));
      assert.deepEqual(exits, programs.map(() => ({ code: 0, signal: null })));
    } finally {
      await Promise.allSettled(programs.map((program) => stopProgram(program)));
    }
  });
});
