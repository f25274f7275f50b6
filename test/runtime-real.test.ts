import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { createRealRuntime } from '../src/runtime/real.js';
import { onShutdownSignal } from '../src/runtime/real/signals.js';
import { ConnectError, type DatagramSocket, type Listener, type Stream } from '../src/runtime/types.js';
import { collect } from './support/streams.js';
import { within } from './support/world.js';
import { freshIdentity } from './support/channel.js';

const runtime = createRealRuntime();
const identity = freshIdentity();
const loopback = '127.0.0.1';
const testTimeout = { timeout: 10_000 };

/** A listener on a free loopback port plus one connected pair of streams. */
async function connectedPair(): Promise<{ listener: Listener; client: Stream; server: Stream }> {
  let accept: (stream: Stream) => void = () => {};
  const accepted = new Promise<Stream>((resolve) => (accept = resolve));
  const listener = await runtime.listen({ host: loopback, port: 0, identity }, (stream) => accept(stream));
  const client = await runtime.connect(listener.address, { timeoutMs: 2_000, identity });
  const server = await within(accepted, 'the inbound stream', 5_000);
  return { listener, client, server };
}

/**
 * What only the real runtime does. The contract both runtimes keep (timers,
 * randomness, streams, datagrams, disk) is in runtime-compliance.test.ts.
 */
describe('real runtime: shutdown signals', () => {
  it('keeps one pair of signal listeners per process, whatever the number of handlers', () => {
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const unsubscribers = Array.from({ length: 300 }, () => onShutdownSignal(async () => {}));
    assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], [before[0]! + 1, before[1]! + 1]);
    for (const unsubscribe of unsubscribers) unsubscribe();
    assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
  });

  for (const [signal, handlerBody, expectedCode] of [
    ['SIGTERM', '', 0],
    ['SIGINT', 'throw new Error("leave failed");', 1],
  ] as const) {
    it(`on ${signal} runs every handler once; the process ends with ${expectedCode} when the application lets go`, testTimeout, async () => {
      const moduleUrl = new URL('../src/runtime/real/signals.js', import.meta.url).href;
      const script = `
        import { onShutdownSignal } from ${JSON.stringify(moduleUrl)};
        const alive = setInterval(() => {}, 1000); // the application's own work, ended by its handler
        onShutdownSignal(() => { process.stdout.write('second;'); });
        onShutdownSignal(async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          process.stdout.write('left;');
          clearInterval(alive);
          ${handlerBody}
        });
        process.stdout.write('ready;');
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      const killer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      let output = '';
      let errors = '';
      child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output === 'ready;') child.kill(signal);
      });
      const [code, killedBy] = await new Promise<[number | null, string | null]>((resolve) =>
        child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
      );
      clearTimeout(killer);
      assert.equal(killedBy, null, `child died of ${killedBy}; stderr: ${errors}`);
      assert.equal(output, 'ready;second;left;');
      assert.equal(code, expectedCode, errors);
      if (expectedCode === 1) assert.match(errors, /leave failed/);
    });
  }
});

describe('real runtime: TCP streams', () => {

  it('counts the bytes the kernel has not taken yet, and carries a 4 MiB write intact', testTimeout, async () => {
    const { listener, client, server } = await connectedPair();
    try {
      const payload = runtime.random.bytes(4 * 1024 * 1024);
      const received = collect(server);
      client.start({ onData: () => {}, onClose: () => {} });
      client.write(payload);
      assert.ok(client.bufferedBytes() > 0, 'a 4 MiB write cannot all be handed to the kernel at once');
      client.end();
      const { data, error } = await within(received.done, 'onClose', 5_000);
      assert.equal(error, undefined);
      assert.equal(data.length, payload.length);
      assert.ok(data.equals(payload));
      assert.equal(client.bufferedBytes(), 0);
    } finally {
      client.destroy();
      server.destroy();
      await listener.close();
    }
  });

  it('rejects a bad port as unreachable rather than throwing', testTimeout, async () => {
    await assert.rejects(runtime.connect({ host: loopback, port: 70_000 }, { timeoutMs: 1_000, identity }), (error) => {
      assert.ok(error instanceof ConnectError);
      assert.equal(error.reason, 'unreachable');
      return true;
    });
  });
});

describe('real runtime: datagrams', () => {
  const group = '239.255.77.1';

  it('joins a multicast group on the loopback interface, or rejects clearly', testTimeout, async () => {
    let socket: DatagramSocket | undefined;
    try {
      socket = await runtime.openDatagramSocket({ port: 0, multicastGroup: group, multicastInterface: loopback });
    } catch (error) {
      // lo without the MULTICAST flag cannot join: that must be a rejection naming the group.
      assert.ok(error instanceof Error);
      assert.match(error.message, /239\.255\.77\.1/);
      return;
    }
    assert.equal(socket.localAddress.host, '0.0.0.0');
    assert.ok(socket.localAddress.port > 0);
    socket.close();
  });

  it('rejects an invalid group instead of crashing', testTimeout, async () => {
    await assert.rejects(runtime.openDatagramSocket({ port: 0, multicastGroup: '10.0.0.1' }), /10\.0\.0\.1/);
  });
});
