import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DiskError } from '../src/runtime/disk.js';
import { createRealRuntime } from '../src/runtime/real.js';
import { Simulation } from '../src/runtime/sim/index.js';
import { carrierPair } from './support/carriers.js';
import { collect } from './support/streams.js';
import { ConnectError, type Address, type DatagramSocket, type Listener, type Random, type Runtime, type Stream } from '../src/runtime/types.js';
import { freshIdentity } from './support/channel.js';

/**
 * The Runtime contract, written once and run on every implementation: the
 * real runtime on loopback and a simulated host. What only one runtime does
 * (the simulator's exact virtual times, loss and partitions; the real one's
 * signals, kernel buffers and multicast interfaces) is tested in
 * runtime-sim.test.ts and runtime-real.test.ts.
 */
export interface ContractHarness {
  readonly kind: 'real' | 'sim';
  /** The runtime under test. */
  readonly runtime: Runtime;
  /** Another machine to connect to (the simulator) or the same one (real sockets on loopback). */
  readonly peer: Runtime;
  /** Host to listen on. */
  readonly listenHost: string;
  /** Interface for datagram sockets: loopback on the real runtime. */
  readonly datagramInterface: string | undefined;
  /** Where to send to a socket bound at `address` (a group socket on the real runtime binds 0.0.0.0). */
  reach(address: Address): Address;
  /** A folder of its own on `runtime.disk`. */
  readonly scratch: string;
  /** Awaits `promise`, on virtual time in the simulator; fails after a bound. */
  settle<T>(promise: Promise<T>, what: string): Promise<T>;
  /** Lets `ms` of the runtime's time pass. */
  pass(ms: number): Promise<void>;
  /** Deterministic runtimes: a fresh runtime built from the same seed, to replay draws. */
  readonly replay?: () => Runtime;
  close(): Promise<void>;
}

const group = '239.255.77.3';
/** Who the connecting end is, and who the listening end is. */
const identity = freshIdentity();
const peerIdentity = freshIdentity();

function draws(random: Random, count: number): number[] {
  return Array.from({ length: count }, () => random.int(1_000_000));
}

export function runtimeContract(name: string, makeHarness: () => Promise<ContractHarness>): void {
  describe(`runtime contract: ${name}`, () => {
    let h: ContractHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.close();
    });

    /** A listener on the peer and one connected pair of streams. */
    async function connectedPair(): Promise<{ listener: Listener; client: Stream; server: Stream }> {
      let accept: (stream: Stream) => void = () => {};
      const accepted = new Promise<Stream>((resolve) => (accept = resolve));
      const listener = await h.settle(h.peer.listen({ host: h.listenHost, port: 0, identity: peerIdentity }, (stream) => accept(stream)), 'listen');
      const client = await h.settle(h.runtime.connect(listener.address, { timeoutMs: 2_000, identity }), 'connect');
      const server = await h.settle(accepted, 'the inbound stream');
      return { listener, client, server };
    }

    function openGroupSocket(runtime: Runtime, port: number): Promise<DatagramSocket> {
      const onInterface = h.datagramInterface === undefined ? {} : { multicastInterface: h.datagramInterface };
      return h.settle(runtime.openDatagramSocket({ port, multicastGroup: group, ...onInterface }), 'a group socket');
    }

    function openUnicastSocket(runtime: Runtime): Promise<DatagramSocket> {
      const onInterface = h.datagramInterface === undefined ? {} : { multicastInterface: h.datagramInterface };
      return h.settle(runtime.openDatagramSocket({ port: 0, ...onInterface }), 'a unicast socket');
    }

    describe('clock, timers and memory', () => {
      it('has its kind, a monotonic clock and the machine memory', () => {
        assert.equal(h.runtime.kind, h.kind);
        const first = h.runtime.now();
        assert.ok(h.runtime.now() >= first);
        assert.ok(h.runtime.totalMemoryBytes() > 0);
      });

      it('fires timers in order of due time, none early by now(), never a cancelled one', async () => {
        const { runtime } = h;
        const fired: string[] = [];
        const lateness: number[] = [];
        const armedAt = runtime.now();
        let last: () => void = () => {};
        const lastFired = new Promise<void>((resolve) => (last = resolve));
        const arm = (label: string, delayMs: number, then?: () => void) =>
          runtime.setTimer(delayMs, () => {
            fired.push(label);
            lateness.push(runtime.now() - armedAt - delayMs);
            then?.();
          });
        arm('c', 30, last);
        arm('a', 10);
        const cancelled = arm('cancelled', 20);
        arm('b', 10); // the same due time: in the order armed
        cancelled.cancel();
        await h.settle(lastFired, 'the last timer');
        assert.deepEqual(fired, ['a', 'b', 'c']);
        assert.ok(Math.min(...lateness) >= 0, `a timer fired ${-Math.min(...lateness)} ms early`);
      });

      it('never fires early by now(), over many short timers', async () => {
        const lateness = await h.settle(
          Promise.all(
            Array.from({ length: 200 }, (_, index) => {
              const delayMs = 1 + (index % 7);
              const scheduledAt = h.runtime.now();
              return new Promise<number>((resolve) => h.runtime.setTimer(delayMs, () => resolve(h.runtime.now() - scheduledAt - delayMs)));
            }),
          ),
          'the timers',
        );
        assert.ok(Math.min(...lateness) >= 0, `a timer fired ${-Math.min(...lateness)} ms early`);
      });

      it('takes a cancel after the timer fired without harm', async () => {
        let count = 0;
        const handle = h.runtime.setTimer(0, () => (count += 1));
        await h.pass(10);
        handle.cancel();
        assert.equal(count, 1);
      });
    });

    describe('randomness', () => {
      it('draws floats in [0, 1) and uniform ints, and rejects bad bounds', () => {
        const { random } = h.runtime;
        const counts = [0, 0, 0];
        for (let i = 0; i < 30_000; i += 1) {
          const float = random.float();
          assert.ok(float >= 0 && float < 1);
          const value = random.int(3);
          assert.ok(Number.isInteger(value) && value >= 0 && value < 3);
          counts[value] = (counts[value] ?? 0) + 1;
        }
        // Each bucket expects 10 000; 9 400..10 600 is over 13 standard deviations wide.
        for (const count of counts) assert.ok(count > 9_400 && count < 10_600, `counts ${counts.join(', ')}`);
        assert.equal(random.int(1), 0);
        assert.ok(random.int(2 ** 53 - 1) < 2 ** 53 - 1);
        for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 53 + 2]) assert.throws(() => random.int(bad), RangeError);
      });

      it('gives fresh bytes as a plain Uint8Array', () => {
        const first = h.runtime.random.bytes(32);
        assert.equal(first.constructor, Uint8Array);
        assert.equal(first.length, 32);
        assert.notDeepEqual(h.runtime.random.bytes(32), first);
        assert.equal(h.runtime.random.bytes(0).length, 0);
      });

      it('forks streams that work and are independent of each other', () => {
        const hosts = h.runtime.random.fork('hosts');
        const discovery = h.runtime.random.fork('discovery');
        assert.ok(hosts.float() < 1 && discovery.int(10) < 10);
        assert.notDeepEqual(draws(hosts, 20), draws(discovery, 20));
        if (!h.replay) return; // a CSPRNG cannot be replayed: independence is all there is to check
        const quiet = h.replay().random.fork('discovery');
        const busyRuntime = h.replay();
        draws(busyRuntime.random.fork('hosts'), 10_000);
        draws(busyRuntime.random, 100);
        assert.deepEqual(draws(busyRuntime.random.fork('discovery'), 50), draws(quiet, 50), 'drawing more elsewhere changes nothing');
      });
    });

    describe('streams', () => {
      it('authenticates both ends: each sees the other\'s key, and they share a channel binding of their own', async () => {
        const first = await connectedPair();
        const second = await connectedPair();
        try {
          assert.deepEqual(first.client.remotePublicKey, peerIdentity.publicKey);
          assert.deepEqual(first.server.remotePublicKey, identity.publicKey);
          assert.equal(first.client.channelBinding.length, 32);
          assert.deepEqual(first.client.channelBinding, first.server.channelBinding);
          assert.notDeepEqual(first.client.channelBinding, second.client.channelBinding, 'another stream, another binding');
        } finally {
          for (const { client, server, listener } of [first, second]) {
            client.destroy();
            server.destroy();
            await h.settle(listener.close(), 'close');
          }
        }
      });

      it('secures a carrier end to end: each end sees the other\'s own key, a binding of its own session, bytes both ways and the close', async () => {
        const secured = async () => {
          const { first, second, path } = carrierPair(h.runtime);
          const [client, server] = await h.settle(
            Promise.all([h.runtime.secure(first, { role: 'client', identity, timeoutMs: 2_000 }), h.runtime.secure(second, { role: 'server', identity: peerIdentity, timeoutMs: 2_000 })]),
            'the handshake over the carrier',
          );
          return { client, server, path };
        };
        const one = await secured();
        const other = await secured();
        assert.deepEqual(one.client.remotePublicKey, peerIdentity.publicKey);
        assert.deepEqual(one.server.remotePublicKey, identity.publicKey);
        assert.deepEqual(one.client.channelBinding, one.server.channelBinding);
        assert.equal(one.client.channelBinding.length, 32);
        assert.notDeepEqual(one.client.channelBinding, other.client.channelBinding, 'another session, another binding');
        const atServer = collect(one.server);
        const atClient = collect(one.client);
        one.client.write(Uint8Array.of(1, 2, 3));
        one.server.write(Uint8Array.of(4, 5));
        await h.pass(50);
        one.client.destroy();
        const [server, client] = await h.settle(Promise.all([atServer.done, atClient.done]), 'both ends closed');
        assert.deepEqual([...server.data], [1, 2, 3]);
        assert.deepEqual([...client.data], [4, 5]);
        assert.ok(one.path.forward.length > 0 && one.path.backward.length > 0, 'the carrier carried the handshake');
        other.client.destroy();
        other.server.destroy();
      });

      it('a carrier that answers with its own key is seen with that key; a replayed handshake, one in no handshake language and silence are refused', async () => {
        const intruder = freshIdentity();
        const { first, second, path } = carrierPair(h.runtime);
        const [client, server] = await h.settle(
          Promise.all([h.runtime.secure(first, { role: 'client', identity, timeoutMs: 2_000 }), h.runtime.secure(second, { role: 'server', identity: intruder, timeoutMs: 2_000 })]),
          'the handshake with the intruder',
        );
        assert.deepEqual(client.remotePublicKey, intruder.publicKey, 'the key is whoever ended the handshake, never the one hoped for');
        client.destroy();
        server.destroy();
        // The client's flights of that session, replayed to a new server: nobody holds that session's secrets.
        const replay = carrierPair(h.runtime);
        const replayed = h.runtime.secure(replay.second, { role: 'server', identity: peerIdentity, timeoutMs: 2_000 });
        for (const chunk of path.forward) replay.first.write(chunk);
        replay.first.start({ onData: () => undefined, onClose: () => undefined });
        await assert.rejects(h.settle(replayed, 'a replayed handshake'), ConnectError);
        const garbage = carrierPair(h.runtime);
        const refused = h.runtime.secure(garbage.first, { role: 'client', identity, timeoutMs: 2_000 });
        garbage.second.start({ onData: () => garbage.second.write(new Uint8Array(2_000).fill(0x16)), onClose: () => undefined });
        await assert.rejects(h.settle(refused, 'a refused handshake'), ConnectError);
        const silent = carrierPair(h.runtime);
        silent.second.start({ onData: () => undefined, onClose: () => undefined });
        await assert.rejects(h.settle(h.runtime.secure(silent.first, { role: 'client', identity, timeoutMs: 100 }), 'a handshake nobody answers'), (error: unknown) => {
          assert.ok(error instanceof ConnectError && error.reason === 'timeout', String(error));
          return true;
        });
      });

      it('connects to a listener and carries bytes both ways, with both ends addressed', async () => {
        const { listener, client, server } = await connectedPair();
        assert.ok(listener.address.port > 0);
        assert.deepEqual(client.remoteAddress, listener.address);
        assert.deepEqual(server.localAddress, listener.address);
        assert.deepEqual(server.remoteAddress, client.localAddress);
        const received: Uint8Array[] = [];
        const echoed = new Promise<void>((resolve) =>
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
        await h.settle(echoed, 'the echo');
        assert.deepEqual([...Buffer.concat(received)], [1, 2, 3, 4, 5]);
        client.destroy();
        server.destroy();
        await h.settle(listener.close(), 'close');
      });

      it('delivers many writes and a large one whole and in order', async () => {
        const { listener, client, server } = await connectedPair();
        const received = collect(server);
        client.start({ onData: () => {}, onClose: () => {} });
        const expected: number[] = [];
        for (let i = 0; i < 500; i += 1) {
          client.write(Uint8Array.of(i & 0xff, (i >> 8) & 0xff));
          expected.push(i & 0xff, (i >> 8) & 0xff);
        }
        const large = h.runtime.random.bytes(1024 * 1024);
        client.write(large);
        client.end();
        const { data, error } = await h.settle(received.done, 'every byte');
        assert.equal(error, undefined);
        assert.equal(data.length, expected.length + large.length);
        assert.deepEqual([...data.subarray(0, expected.length)], expected);
        assert.ok(data.subarray(expected.length).equals(large));
        assert.equal(client.bufferedBytes(), 0);
        await h.settle(listener.close(), 'close');
      });

      it('delivers data that arrived before start, then the close', async () => {
        const { listener, client, server } = await connectedPair();
        client.write(new Uint8Array([9, 8, 7]));
        client.end();
        await h.pass(50);
        const { data, error } = await h.settle(collect(server).done, 'the close');
        assert.deepEqual([...data], [9, 8, 7]);
        assert.equal(error, undefined);
        client.destroy();
        await h.settle(listener.close(), 'close');
      });

      it('on end() closes both ends once, without an error, and ignores later writes', async () => {
        const { listener, client, server } = await connectedPair();
        const serverSide = collect(server);
        const clientSide = collect(client);
        client.end();
        client.end();
        client.write(new Uint8Array([1])); // ignored after end
        const [serverResult, clientResult] = await h.settle(Promise.all([serverSide.done, clientSide.done]), 'both closes');
        assert.equal(serverResult.error, undefined);
        assert.equal(clientResult.error, undefined);
        assert.equal(serverResult.data.length, 0);
        await h.pass(30);
        assert.equal(serverSide.closes(), 1);
        assert.equal(clientSide.closes(), 1);
        await h.settle(listener.close(), 'close');
      });

      it('on destroy() closes both ends once, the local one without an error', async () => {
        const { listener, client, server } = await connectedPair();
        const serverSide = collect(server);
        const clientSide = collect(client);
        client.destroy();
        client.destroy();
        client.write(new Uint8Array([1])); // ignored after destroy
        const [serverResult, clientResult] = await h.settle(Promise.all([serverSide.done, clientSide.done]), 'both closes');
        assert.equal(clientResult.error, undefined);
        assert.equal(serverResult.data.length, 0);
        await h.pass(30);
        assert.equal(serverSide.closes(), 1);
        assert.equal(clientSide.closes(), 1);
        await h.settle(listener.close(), 'close');
      });

      it('reports a close that happened before start, once, and refuses a second start', async () => {
        const { listener, client, server } = await connectedPair();
        client.destroy();
        await h.pass(50);
        server.destroy();
        await h.pass(10);
        const { closes, done } = collect(server);
        await h.settle(done, 'the close');
        assert.equal(closes(), 1);
        assert.throws(() => server.start({ onData: () => {}, onClose: () => {} }));
        await h.settle(listener.close(), 'close');
      });

      it('refuses a connect to a closed port with ConnectError "refused"; open streams outlive their listener', async () => {
        const { listener, client, server } = await connectedPair();
        const address = listener.address;
        await h.settle(listener.close(), 'close');
        await h.settle(listener.close(), 'a second close');
        const error = await h.settle(
          h.runtime.connect(address, { timeoutMs: 2_000, identity }).then(
            () => assert.fail('the connect should have failed'),
            (failure: unknown) => failure,
          ),
          'the refusal',
        );
        assert.ok(error instanceof ConnectError, String(error));
        assert.equal(error.name, 'ConnectError');
        assert.equal(error.reason, 'refused');
        const received = collect(server);
        client.write(new Uint8Array([42]));
        client.end();
        assert.deepEqual([...(await h.settle(received.done, 'the data')).data], [42]);
        client.destroy();
      });

      it('rejects listening on a port in use', async () => {
        const listener = await h.settle(h.peer.listen({ host: h.listenHost, port: 0, identity }, (stream) => stream.destroy()), 'listen');
        await assert.rejects(h.settle(h.peer.listen({ host: h.listenHost, port: listener.address.port, identity }, () => {}), 'the second listen'));
        await h.settle(listener.close(), 'close');
      });
    });

    describe('datagrams', () => {
      it('delivers a group send to every member on the group port, the sender included, and unicast to a member', async () => {
        const sender = await openGroupSocket(h.runtime, 0);
        const member = await openGroupSocket(h.peer, sender.localAddress.port);
        try {
          assert.ok(sender.localAddress.port > 0);
          assert.equal(member.localAddress.port, sender.localAddress.port);
          const heard = (socket: DatagramSocket) =>
            new Promise<{ data: number[]; port: number }>((resolve) => socket.onMessage((data, from) => resolve({ data: [...data], port: from.port })));
          const bySender = heard(sender);
          const byMember = heard(member);
          sender.sendToGroup(new Uint8Array([4, 2]));
          const both = await h.settle(Promise.all([bySender, byMember]), 'the group datagram');
          assert.deepEqual(both, [
            { data: [4, 2], port: sender.localAddress.port },
            { data: [4, 2], port: sender.localAddress.port },
          ]);
        } finally {
          sender.close();
          member.close();
        }
        // A group socket on a port of its own also takes unicast (a PONG to a pinger), from another group socket.
        // (Unicast to a port several sockets share reaches one of them on Linux, every one in the simulator.)
        const pinger = await openGroupSocket(h.runtime, 0);
        const answerer = await openGroupSocket(h.peer, 0);
        try {
          assert.notEqual(pinger.localAddress.port, answerer.localAddress.port);
          const reply = new Promise<{ data: number[]; port: number }>((resolve) => pinger.onMessage((data, from) => resolve({ data: [...data], port: from.port })));
          answerer.send(new Uint8Array([7]), h.reach(pinger.localAddress));
          assert.deepEqual(await h.settle(reply, 'the unicast reply'), { data: [7], port: answerer.localAddress.port });
        } finally {
          pinger.close();
          answerer.close();
        }
      });

      it('unicasts between sockets without a group, which hear no group traffic and cannot send to one', async () => {
        const own = await openUnicastSocket(h.runtime);
        const other = await openUnicastSocket(h.peer);
        const member = await openGroupSocket(h.peer, 0);
        try {
          assert.ok(own.localAddress.port > 0);
          assert.notEqual(own.localAddress.port, member.localAddress.port);
          const heard: Array<{ data: number[]; port: number }> = [];
          let arrived: () => void = () => {};
          const first = new Promise<void>((resolve) => (arrived = resolve));
          own.onMessage((data, from) => {
            heard.push({ data: [...data], port: from.port });
            arrived();
          });
          member.sendToGroup(new Uint8Array([1]));
          other.send(new Uint8Array([7]), own.localAddress);
          await h.settle(first, 'the datagram');
          await h.pass(50);
          assert.deepEqual(heard, [{ data: [7], port: other.localAddress.port }]);
          assert.throws(() => own.sendToGroup(new Uint8Array([1])), TypeError);
        } finally {
          own.close();
          other.close();
          member.close();
        }
      });

      it('never throws on a bad send, on sends after close, or on a second close', async () => {
        const socket = await openGroupSocket(h.runtime, 0);
        socket.send(new Uint8Array([1]), { host: '127.0.0.1', port: 70_000 });
        socket.send(new Uint8Array([1]), { host: 'no-such-host.invalid', port: 9 });
        socket.sendToGroup(new Uint8Array([1]));
        await h.pass(50); // asynchronous send failures surface
        socket.close();
        socket.close();
        socket.send(new Uint8Array([1]), { host: '127.0.0.1', port: 9 });
        socket.sendToGroup(new Uint8Array([1]));
      });
    });

    describe('disk', () => {
      it('reads, creates exclusively and makes folders', async () => {
        const { disk } = h.runtime;
        const folder = join(h.scratch, 'a', 'b');
        const file = join(folder, 'key.pem');
        assert.equal(await h.settle(disk.readFile(file), 'read'), undefined);
        await assert.rejects(h.settle(disk.createFile(file, Uint8Array.of(1), { mode: 0o600 }), 'create'), (error: unknown) => {
          assert.ok(error instanceof DiskError && error.reason === 'missing', String(error));
          return true;
        });
        await h.settle(disk.makeDirectory(folder), 'mkdir');
        await h.settle(disk.makeDirectory(folder), 'mkdir again');
        await h.settle(disk.createFile(file, Uint8Array.of(1, 2, 3), { mode: 0o600 }), 'create');
        assert.deepEqual([...((await h.settle(disk.readFile(file), 'read')) ?? [])], [1, 2, 3]);
        await assert.rejects(h.settle(disk.createFile(file, Uint8Array.of(9), { mode: 0o600 }), 'create again'), (error: unknown) => {
          assert.ok(error instanceof DiskError && error.reason === 'exists', String(error));
          return true;
        });
        assert.deepEqual([...((await h.settle(disk.readFile(file), 'read')) ?? [])], [1, 2, 3], 'the first file stays');
        await assert.rejects(h.settle(disk.makeDirectory(join(file, 'below')), 'mkdir under a file'), (error: unknown) => {
          assert.ok(error instanceof DiskError && error.reason === 'not-a-folder', String(error));
          return true;
        });
      });

      it('keeps key-value records per sub-database, in key order, across a close', async () => {
        const { disk } = h.runtime;
        const folder = join(h.scratch, 'kv');
        const environment = await h.settle(disk.openKeyValue(folder), 'open');
        const blocks = environment.database('blocks');
        assert.equal(environment.database('blocks'), blocks);
        const meta = environment.database('meta');
        const value = Uint8Array.of(1, 2);
        blocks.put('b/1', value);
        value[0] = 9; // put keeps a copy
        blocks.put('a/0', Uint8Array.of(3));
        blocks.put('c/2', Uint8Array.of(4));
        blocks.remove('c/2');
        blocks.remove('never-there');
        meta.put('a/0', Uint8Array.of(5));
        await h.settle(environment.flush(), 'flush');
        assert.deepEqual([...(blocks.get('b/1') ?? [])], [1, 2]);
        assert.equal(blocks.get('c/2'), undefined);
        const listed = (database: typeof blocks) => [...database.entries()].map(({ key, value: bytes }) => `${key}=${[...bytes].join('.')}`);
        assert.deepEqual(listed(blocks), ['a/0=3', 'b/1=1.2']);
        assert.deepEqual(listed(meta), ['a/0=5']);
        for (const { key } of blocks.entries()) blocks.remove(key); // removing while iterating is safe
        blocks.put('d/3', Uint8Array.of(6));
        await h.settle(environment.close(), 'close');
        const reopened = await h.settle(disk.openKeyValue(folder), 'reopen');
        assert.deepEqual(listed(reopened.database('blocks')), ['d/3=6']);
        assert.deepEqual(listed(reopened.database('meta')), ['a/0=5']);
        await h.settle(reopened.close(), 'close');
      });
    });
  });
}

/** Rejects when `promise` takes longer than `ms` of wall-clock time, so a failing test reaches its cleanup. */
function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

runtimeContract('real, on loopback', async () => {
  const runtime = createRealRuntime();
  const scratch = await mkdtemp(join(tmpdir(), 'butter-contract-'));
  return {
    kind: 'real',
    runtime,
    peer: runtime,
    listenHost: '127.0.0.1',
    datagramInterface: '127.0.0.1',
    reach: (address) => (address.host === '0.0.0.0' ? { host: '127.0.0.1', port: address.port } : address),
    scratch,
    settle: (promise, what) => within(promise, what),
    pass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    close: () => rm(scratch, { recursive: true, force: true }),
  };
});

runtimeContract('simulated host', async () => {
  const seed = 17;
  const simulation = new Simulation({ seed });
  const runtime = simulation.createHost();
  return {
    kind: 'sim',
    runtime,
    peer: simulation.createHost(),
    listenHost: '0.0.0.0',
    datagramInterface: undefined,
    reach: (address) => address,
    scratch: '/contract',
    async settle(promise, what) {
      let settled = false;
      const tracked = promise.finally(() => {
        settled = true;
      });
      tracked.catch(() => undefined);
      if (!(await simulation.runUntilDone(() => settled, 60_000))) throw new Error(`${what} did not settle within 60 simulated seconds`);
      return tracked;
    },
    pass: (ms) => simulation.runFor(ms),
    replay: () => new Simulation({ seed }).createHost(),
    close: async () => {},
  };
});
