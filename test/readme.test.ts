import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startProgram, stopProgram, type Program } from './support/program.js';

// Tests run from dist/test; the sources sit two folders up, the built example next door.
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const helloScript = fileURLToPath(new URL('../examples/hello/hello.js', import.meta.url));

describe("the README's first example", () => {
  it('is examples/hello/hello.ts, word for word', () => {
    const readme = readFileSync(`${repositoryRoot}README.md`, 'utf8');
    const firstBlock = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const example = readFileSync(`${repositoryRoot}examples/hello/hello.ts`, 'utf8').replace("from '../../src/index.js'", "from 'butter-p2p'");
    assert.equal(firstBlock, example);
  });

  it('prints the replies of the other node, stores, and ends on Ctrl-C', { timeout: 60_000 }, async () => {
    const programs: Program[] = [];
    try {
      const first = startProgram(helloScript, []);
      programs.push(first);
      const [, address] = await first.waitFor(/listening on (127\.0\.0\.1:\d+)/, 'the first address');
      const second = startProgram(helloScript, [address as string]);
      programs.push(second);
      await Promise.all([
        second.waitFor(/answered olleh/, 'a reply in the second', 20_000),
        first.waitFor(/answered olleh/, 'a reply in the first', 20_000),
        first.waitFor(/stored [0-9a-f]{64}\.1/, 'a content id', 20_000),
      ]);
      const exits = await Promise.all([stopProgram(first, 'SIGINT'), stopProgram(second, 'SIGINT')]);
      assert.deepEqual(exits, [{ code: 0, signal: null }, { code: 0, signal: null }], `${first.output()}\n${second.output()}`);
    } finally {
      await Promise.allSettled(programs.map((program) => stopProgram(program)));
    }
  });
});
