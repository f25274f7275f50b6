import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { createRealRuntime } from '../src/runtime/real.js';
import { onShutdownSignal } from '../src/runtime/real/signals.js';
import { ConnectError, type DatagramSocket, type Listener, type Stream } from '../src/runtime/types.js';

const runtime = createRealRuntime();
const loopback = '127.0.0.1';
const testTimeout = { timeout: 10_000 };

/** Rejects if `promise` takes longer than `ms`, so a failing test still reaches its cleanup. */
function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Resolves with a stream's bytes and close error once its onClose has run. */
function collect(stream: Stream): { done: Promise<{ data: Buffer; error: Error | undefined }>; closes: () => number } {
  const chunks: Uint8Array[] = [];
  let closeCount = 0;
  const closed = new Promise<{ data: Buffer; error: Error | undefined }>((resolve) => {
    stream.start({
      onData: (chunk) => chunks.push(chunk),
      onClose: (error) => {
        closeCount += 1;
        resolve({ data: Buffer.concat(chunks), error });
      },
    });
  });
  const done = within(closed, 'onClose');
  return { done, closes: () => closeCount };
}

/** A listener on a free loopback port plus one connected pair of streams. */
async function connectedPair(): Promise<{ listener: Listener; client: Stream; server: Stream }> {
  let accept: (stream: Stream) => void = () => {};
  const accepted = new Promise<Stream>((resolve) => (accept = resolve));
  const listener = await runtime.listen({ host: loopback, port: 0 }, (stream) => accept(stream));
  const client = await runtime.connect(listener.address, { timeoutMs: 2_000 });
  const server = await within(accepted, 'the inbound stream');
  return { listener, client, server };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('real runtime: clock, timers, randomness', () => {
  it('is the real kind with a monotonic clock and the machine memory', () => {
    assert.equal(runtime.kind, 'real');
    const first = runtime.now();
    const second = runtime.now();
    assert.ok(second >= first);
    assert.ok(runtime.totalMemoryBytes() > 0);
  });

  it('fires a timer no earlier than its delay, and not a cancelled one', testTimeout, async () => {
    const startedAt = runtime.now();
    let cancelledFired = false;
    const cancelled = runtime.setTimer(10, () => (cancelledFired = true));
    cancelled.cancel();
    const firedAt = await new Promise<number>((resolve) => runtime.setTimer(30, () => resolve(runtime.now())));
    assert.ok(firedAt - startedAt >= 30, `fired after ${firedAt - startedAt} ms`);
    await sleep(20);
    assert.equal(cancelledFired, false);
  });

  it('never fires early by now(), though node timers can', testTimeout, async () => {
    // node's timers run on a coarser loop clock and often fire up to ~1 ms early by performance.now().
    const lateness = await Promise.all(
      Array.from({ length: 200 }, (_, index) => {
        const delayMs = 1 + (index % 7);
        const scheduledAt = runtime.now();
        return new Promise<number>((resolve) => runtime.setTimer(delayMs, () => resolve(runtime.now() - scheduledAt - delayMs)));
      }),
    );
    assert.ok(Math.min(...lateness) >= 0, `a timer fired ${-Math.min(...lateness)} ms early`);
  });

  it('cancelling after a timer fired is harmless', testTimeout, async () => {
    let count = 0;
    const handle = runtime.setTimer(0, () => (count += 1));
    await sleep(10);
    handle.cancel();
    assert.equal(count, 1);
  });

  it('produces floats in [0, 1) and uniform ints, and rejects bad bounds', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i += 1) {
      const float = runtime.random.float();
      assert.ok(float >= 0 && float < 1);
      const value = runtime.random.int(3);
      assert.ok(Number.isInteger(value) && value >= 0 && value < 3);
      counts[value] = (counts[value] ?? 0) + 1;
    }
    // Each bucket expects 10 000; 9 400..10 600 is over 13 standard deviations wide.
    for (const count of counts) assert.ok(count > 9_400 && count < 10_600, `counts ${counts.join(', ')}`);
    assert.equal(runtime.random.int(1), 0);
    assert.ok(runtime.random.int(2 ** 53 - 1) < 2 ** 53 - 1);
    for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 53 + 2]) {
      assert.throws(() => runtime.random.int(bad), RangeError);
    }
  });

  it('returns fresh random bytes as a plain Uint8Array', () => {
    const first = runtime.random.bytes(32);
    const second = runtime.random.bytes(32);
    assert.equal(first.constructor, Uint8Array);
    assert.equal(first.length, 32);
    assert.notDeepEqual(first, second);
    assert.equal(runtime.random.bytes(0).length, 0);
  });

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
  it('listens on a free port and echoes bytes both ways', testTimeout, async () => {
    const { listener, client, server } = await connectedPair();
    try {
      assert.equal(listener.address.host, loopback);
      assert.ok(listener.address.port > 0);
      assert.deepEqual(client.remoteAddress, listener.address);
      assert.deepEqual(server.localAddress, listener.address);
      assert.deepEqual(server.remoteAddress, client.localAddress);

      const received: Uint8Array[] = [];
      const clientGotReply = new Promise<void>((resolve) =>
        client.start({
          onData: (chunk) => {
            received.push(chunk);
            if (Buffer.concat(received).length >= 5) resolve();
          },
          onClose: () => {},
        }),
      );
      server.start({ onData: (chunk) => server.write(chunk), onClose: () => {} });
      client.write(new Uint8Array([1, 2, 3, 4, 5]));
      await within(clientGotReply, 'the echo');
      assert.deepEqual([...Buffer.concat(received)], [1, 2, 3, 4, 5]);
    } finally {
      client.destroy();
      server.destroy();
      await listener.close();
    }
  });

  it('delivers data that arrived before start', testTimeout, async () => {
    const { listener, client, server } = await connectedPair();
    try {
      client.write(new Uint8Array([9, 8, 7]));
      client.end();
      await sleep(50);
      const { data, error } = await collect(server).done;
      assert.deepEqual([...data], [9, 8, 7]);
      assert.equal(error, undefined);
    } finally {
      client.destroy();
      await listener.close();
    }
  });

  it('carries a 4 MiB write intact and in order', testTimeout, async () => {
    const { listener, client, server } = await connectedPair();
    try {
      const payload = runtime.random.bytes(4 * 1024 * 1024);
      const received = collect(server);
      client.start({ onData: () => {}, onClose: () => {} });
      client.write(payload);
      assert.ok(client.bufferedBytes() > 0, 'a 4 MiB write cannot all be handed to the kernel at once');
      client.end();
      const { data, error } = await received.done;
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

  it('calls onClose exactly once on both ends after end()', testTimeout, async () => {
    const { listener, client, server } = await connectedPair();
    try {
      const serverSide = collect(server);
      const clientSide = collect(client);
      client.end();
      client.end();
      client.write(new Uint8Array([1])); // ignored after end
      const [serverResult, clientResult] = await Promise.all([serverSide.done, clientSide.done]);
      assert.equal(serverResult.error, undefined);
      assert.equal(clientResult.error, undefined);
      await sleep(30);
      assert.equal(serverSide.closes(), 1);
      assert.equal(clientSide.closes(), 1);
    } finally {
      await listener.close();
    }
  });

  it('calls onClose exactly once on the peer after destroy()', testTimeout, async () => {
    const { listener, client, server } = await connectedPair();
    try {
      const serverSide = collect(server);
      const clientSide = collect(client);
      client.destroy();
      client.destroy();
      client.write(new Uint8Array([1])); // ignored after destroy
      await Promise.all([serverSide.done, clientSide.done]);
      await sleep(30);
      assert.equal(serverSide.closes(), 1);
      assert.equal(clientSide.closes(), 1);
    } finally {
      await listener.close();
    }
  });

  it('reports a close that happened before start', testTimeout, async () => {
    const { listener, client, server } = await connectedPair();
    try {
      client.destroy();
      await sleep(50);
      server.destroy();
      await sleep(10);
      const { closes, done } = collect(server);
      await done;
      assert.equal(closes(), 1);
      assert.throws(() => server.start({ onData: () => {}, onClose: () => {} }));
    } finally {
      await listener.close();
    }
  });

  it('closes a listener promptly while connections remain open', testTimeout, async () => {
    const { listener, client, server } = await connectedPair();
    const address = listener.address;
    try {
      await listener.close();
      await listener.close(); // idempotent
      await assert.rejects(runtime.connect(address, { timeoutMs: 2_000 }), (error) => {
        assert.ok(error instanceof ConnectError);
        assert.equal(error.reason, 'refused');
        return true;
      });
      // The existing connection still works.
      const received = collect(server);
      client.write(new Uint8Array([42]));
      client.end();
      assert.deepEqual([...(await received.done).data], [42]);
    } finally {
      client.destroy();
      server.destroy();
    }
  });

  it('rejects a connect to a closed port with reason refused', testTimeout, async () => {
    const listener = await runtime.listen({ host: loopback, port: 0 }, (stream) => stream.destroy());
    const address = listener.address;
    await listener.close();
    const error = await runtime.connect(address, { timeoutMs: 2_000 }).then(
      () => assert.fail('connect should have failed'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof ConnectError);
    assert.equal(error.name, 'ConnectError');
    assert.equal(error.reason, 'refused');
  });

  it('rejects a bad port as unreachable rather than throwing', testTimeout, async () => {
    await assert.rejects(runtime.connect({ host: loopback, port: 70_000 }, { timeoutMs: 1_000 }), (error) => {
      assert.ok(error instanceof ConnectError);
      assert.equal(error.reason, 'unreachable');
      return true;
    });
  });

  it('rejects listening on a port in use', testTimeout, async () => {
    const listener = await runtime.listen({ host: loopback, port: 0 }, (stream) => stream.destroy());
    try {
      await assert.rejects(runtime.listen({ host: loopback, port: listener.address.port }, () => {}), /EADDRINUSE/);
    } finally {
      await listener.close();
    }
  });
});

describe('real runtime: datagrams', () => {
  const group = '239.255.77.1';

  it('unicasts a datagram between two sockets on loopback', testTimeout, async () => {
    const sockets: DatagramSocket[] = [];
    try {
      // Port 0 gives each socket its own free port; joining on 127.0.0.1 may not work on lo.
      const open = () =>
        runtime.openDatagramSocket({ port: 0, multicastGroup: group }).catch(() =>
          runtime.openDatagramSocket({ port: 0, multicastGroup: group, multicastInterface: loopback }),
        );
      const receiver = await open();
      sockets.push(receiver);
      const sender = await open();
      sockets.push(sender);
      assert.ok(receiver.localAddress.port > 0);
      assert.notEqual(receiver.localAddress.port, sender.localAddress.port);

      const message = new Promise<{ data: Uint8Array; from: { host: string; port: number } }>((resolve) =>
        receiver.onMessage((data, from) => resolve({ data, from })),
      );
      sender.send(new Uint8Array([1, 2, 3]), { host: loopback, port: receiver.localAddress.port });
      const { data, from } = await within(message, 'the datagram');
      assert.deepEqual([...data], [1, 2, 3]);
      assert.deepEqual(from, { host: loopback, port: sender.localAddress.port });
    } finally {
      for (const socket of sockets) socket.close();
    }
  });

  it('opens a socket without a group on a port of its own, bound to the given interface, for unicast only', testTimeout, async () => {
    const own = await runtime.openDatagramSocket({ port: 0, multicastInterface: loopback });
    const other = await runtime.openDatagramSocket({ port: 0, multicastInterface: loopback });
    try {
      assert.equal(own.localAddress.host, loopback);
      assert.ok(own.localAddress.port > 0);
      const message = new Promise<Uint8Array>((resolve) => own.onMessage((data) => resolve(data)));
      other.send(new Uint8Array([7]), own.localAddress);
      assert.deepEqual([...(await within(message, 'the datagram'))], [7]);
      assert.throws(() => own.sendToGroup(new Uint8Array([1])), TypeError);
    } finally {
      own.close();
      other.close();
    }
  });

  it('never throws on a bad send, on sends after close, or on a second close', testTimeout, async () => {
    const socket = await runtime
      .openDatagramSocket({ port: 0, multicastGroup: group })
      .catch(() => runtime.openDatagramSocket({ port: 0, multicastGroup: group, multicastInterface: loopback }));
    socket.send(new Uint8Array([1]), { host: loopback, port: 70_000 });
    socket.send(new Uint8Array([1]), { host: 'no-such-host.invalid', port: 9 });
    socket.sendToGroup(new Uint8Array([1]));
    await sleep(50); // let asynchronous send failures surface
    socket.close();
    socket.close();
    socket.send(new Uint8Array([1]), { host: loopback, port: 9 });
    socket.sendToGroup(new Uint8Array([1]));
  });

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

  it('lets two sockets share the group port (address reuse)', testTimeout, async () => {
    const open = (port: number) =>
      runtime
        .openDatagramSocket({ port, multicastGroup: group })
        .catch(() => runtime.openDatagramSocket({ port, multicastGroup: group, multicastInterface: loopback }));
    let first: DatagramSocket;
    try {
      first = await open(0);
    } catch {
      return; // no multicast-capable interface at all; covered by the test above
    }
    try {
      const second = await open(first.localAddress.port);
      assert.equal(second.localAddress.port, first.localAddress.port);
      second.close();
    } finally {
      first.close();
    }
  });

  it('rejects an invalid group instead of crashing', testTimeout, async () => {
    await assert.rejects(runtime.openDatagramSocket({ port: 0, multicastGroup: '10.0.0.1' }), /10\.0\.0\.1/);
  });
});
