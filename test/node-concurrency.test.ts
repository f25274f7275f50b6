import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { createRealRuntime } from '../src/runtime/real.js';
import { within } from './support/world.js';

const requestCount = 1_000;

/** A payload no other request has: its index, then index-dependent bytes of index-dependent length. */
function payloadFor(index: number): Uint8Array {
  const payload = new Uint8Array(4 + (index % 97) * 11);
  new DataView(payload.buffer).setUint32(0, index);
  for (let offset = 4; offset < payload.length; offset += 1) payload[offset] = (index * 31 + offset) % 256;
  return payload;
}

describe('concurrent requests between two real nodes', () => {
  it(`completes ${requestCount} concurrent requests with the right payloads over one connection`, { timeout: 60_000 }, async () => {
    const runtime = createRealRuntime();
    const nodes: ButterNode[] = [];
    try {
      const server = await createNode({ host: '127.0.0.1', runtime, memoryMB: 64, discovery: { enabled: false } });
      nodes.push(server);
      let handling = 0;
      let mostHandledAtOnce = 0;
      // Replies leave in a shuffled order: each handler waits a few milliseconds chosen at random.
      server.route('echo', async (node, payload) => {
        handling += 1;
        mostHandledAtOnce = Math.max(mostHandledAtOnce, handling);
        await new Promise<void>((resolve) => node.runtime.setTimer(node.runtime.random.int(5), resolve));
        handling -= 1;
        return payload;
      });
      await server.spawn();
      const client = await createNode({ host: '127.0.0.1', runtime, memoryMB: 64, discovery: { enabled: false } });
      nodes.push(client);
      await client.spawn();

      const payloads = Array.from({ length: requestCount }, (_, index) => payloadFor(index));
      const replies = await within(
        Promise.all(payloads.map((payload) => client.request(server.address, 'echo', payload, { timeoutMs: 30_000 }))),
        `${requestCount} replies`,
        50_000,
      );
      replies.forEach((reply, index) => assert.deepEqual(new Uint8Array(reply), payloads[index], `reply ${index}`));
      assert.ok(mostHandledAtOnce > 1, `the server handled at most ${mostHandledAtOnce} request at once`);
      // One HELLO each way is one connection; every request went over it.
      assert.equal(client.traffic.byLabel()['hello']?.messages, 1);
      assert.equal(server.traffic.byLabel()['hello']?.messages, 1);
      assert.equal(client.traffic.byLabel()['request:echo']?.messages, requestCount);
      assert.equal(server.traffic.byLabel()['response:echo']?.messages, requestCount);
    } finally {
      await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
    }
  });
});
