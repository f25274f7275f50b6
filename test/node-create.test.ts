import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidConfigError, PeerUnreachableError } from '../src/errors.js';
import { createNode, type NodeOptions } from '../src/node/create.js';
import { storage } from '../src/storage/service.js';
import { bytesPerKnownHost, minimumMemoryMB, planMemory } from '../src/node/memory.js';
import { Simulation } from '../src/runtime/sim/index.js';
import { bytes, text, within } from './support/world.js';

const mebibyte = 1024 * 1024;

async function rejectsWithConfigError(options: NodeOptions, message: RegExp): Promise<void> {
  await assert.rejects(createNode({ host: '127.0.0.1', ...options }), (error: unknown) => {
    assert.ok(error instanceof InvalidConfigError, `expected InvalidConfigError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_CONFIG');
    assert.match(error.message, message);
    return true;
  });
}

describe('createNode validation', () => {
  it('refuses a memory allocation below the minimum or above the machine', async () => {
    await rejectsWithConfigError({ memoryMB: minimumMemoryMB - 1 }, /memory allocation of 15 MB is below the minimum of 16 MB/);
    await rejectsWithConfigError({ memoryMB: 0 }, /below the minimum/);
    await rejectsWithConfigError({ memoryMB: Number.NaN }, /memoryMB must be a number, got NaN/);
    const machineMB = Math.floor(os.totalmem() / mebibyte);
    await rejectsWithConfigError({ memoryMB: machineMB + 1024 }, new RegExp(`exceeds this machine's ${machineMB} MB`));
    // The simulator's hosts report the memory they were given.
    const host = new Simulation({ seed: 1 }).createHost({ totalMemoryBytes: 256 * mebibyte });
    await rejectsWithConfigError({ runtime: host, memoryMB: 512 }, /memory allocation of 512 MB exceeds this machine's 256 MB/);
    const fits = await createNode({ runtime: host, memoryMB: 256 });
    assert.equal(fits.memory.totalBytes, 256 * mebibyte);
  });

  it('refuses a bad port, network id, timeout or bootstrap address', async () => {
    for (const port of [-1, 65_536, 1.5, Number.NaN]) await rejectsWithConfigError({ port }, /^port must be an integer from 0 to 65535, got/);
    await rejectsWithConfigError({ networkId: '' }, /networkId must be a string of 1 to 64 characters, got "" \(a string\)/);
    await rejectsWithConfigError({ networkId: 'n'.repeat(65) }, /networkId must be a string of 1 to 64 characters/);
    await rejectsWithConfigError({ networkId: 42 as unknown as string }, /networkId must be a string of 1 to 64 characters, got 42$/);
    await rejectsWithConfigError({ requestTimeoutMs: 0 }, /requestTimeoutMs must be a number above 0, got 0/);
    await rejectsWithConfigError({ bootstrap: ['no port here'] }, /bootstrap\[0\] must be host:port, got "no port here" \(a string\)/);
    await rejectsWithConfigError({ knownHostsCapacity: 0 }, /knownHostsCapacity must be an integer from 1 to 1000000, got 0/);
  });

  // The mistakes a new user made, each to be told plainly what is wrong.
  it('says what is wrong with the options a new user got wrong', async () => {
    await rejectsWithConfigError({ memoryMB: '64' as unknown as number }, /^memoryMB must be a number, got "64" \(a string\)$/);
    await rejectsWithConfigError({ port: '9000' as unknown as number }, /^port must be an integer from 0 to 65535, got "9000" \(a string\)$/);
    await rejectsWithConfigError({ bootstrap: '127.0.0.1:1' as unknown as string[] }, /^bootstrap must be a list of host:port addresses, got "127.0.0.1:1" \(a string\)$/);
    await rejectsWithConfigError({ bootstrap: [42 as unknown as string] }, /^bootstrap\[0\] must be host:port or \{ host, port \}, got 42$/);
    await rejectsWithConfigError({ bootstrap: ['127.0.0.1:0'] }, /^bootstrap\[0\] port must be an integer from 1 to 65535, got 0$/);
    await rejectsWithConfigError({ bootstrap: [{ host: '127.0.0.1', port: 0 }] }, /^bootstrap\[0\] port must be an integer from 1 to 65535, got 0$/);
    await rejectsWithConfigError({ memoryMb: 64 } as unknown as NodeOptions, /^unknown option "memoryMb"$/);
    await rejectsWithConfigError({ hosts: { refreshIntervalMS: 5 } as unknown as NodeOptions['hosts'] }, /^unknown option "hosts.refreshIntervalMS" \(did you mean "hosts.refreshIntervalMs"\?\)$/);
    await rejectsWithConfigError({ discovery: { multicastGroup: '10.0.0.1' } }, /discovery.multicastGroup must be an IPv4 multicast address/);
    await rejectsWithConfigError({ hosts: { farShare: 0.9 } }, /^hosts.farShare must be a number from 0 to 0.5, got 0.9$/);
    await rejectsWithConfigError({ services: { storage: 'yes' } } as unknown as NodeOptions, /^service "storage" must be a factory/);
  });

  it('refuses bad transport options', async () => {
    await rejectsWithConfigError({ transport: { maxPayloadBytes: 0 } }, /transport\.maxPayloadBytes must be an integer of at least 1, got 0/);
    await rejectsWithConfigError({ transport: { idleTimeoutMs: 1.5 } }, /transport\.idleTimeoutMs must be an integer of at least 1, got 1.5/);
    await rejectsWithConfigError({ transport: { maxConnections: -3 } }, /transport\.maxConnections/);
    await rejectsWithConfigError({ transport: { maxFrameBytes: 1000, maxPayloadBytes: 900 } }, /maxFrameBytes must leave at least 256 bytes/);
    await rejectsWithConfigError({ transport: { maxPayloadByte: 10 } as NodeOptions['transport'] }, /unknown option "transport.maxPayloadByte" \(did you mean "transport.maxPayloadBytes"\?\)/);
  });

  it('refuses bad storage options when the factory is made', () => {
    const refuses = (options: Record<string, unknown>, message: RegExp) =>
      assert.throws(() => storage(options), (error: unknown) => error instanceof InvalidConfigError && message.test(error.message));
    refuses({ replicas: 0 }, /^storage.replicas must be an integer from 1 to 16, got 0$/);
    refuses({ durableTimeoutMs: -5 }, /^storage.durableTimeoutMs must be a number above 0, got -5$/);
    refuses({ maxWalkVisits: 0 }, /^storage.maxWalkVisits must be an integer of at least 1, got 0$/);
    refuses({ walkConcurrency: 0 }, /^storage.walkConcurrency must be an integer from 1 to 1000, got 0$/);
    refuses({ replicas: 5, maxReplicas: 4 }, /storage.maxReplicas \(4\) must be at least storage.replicas \(5\)/);
    refuses({ replica: 3 }, /unknown option "storage.replica" \(did you mean "storage.replicas"\?\)/);
  });

  it('derives the storage timeouts from the heartbeat interval unless given', async () => {
    const runtime = new Simulation({ seed: 1 }).createHost();
    const node = await createNode({ runtime, services: { storage: storage({ heartbeatIntervalMs: 1_000, shedAfterMs: 5_000 }) } });
    assert.equal(node.services.storage.options.failureTimeoutMs, 1_100);
    assert.equal(node.services.storage.options.recruitRetryMs, 750);
    assert.equal(node.services.storage.options.shedAfterMs, 5_000);
  });

  it('reports a host it cannot listen on as a configuration error, and the node can be spawned again', async () => {
    const node = await createNode({ host: 'no-such-host.invalid', services: {} });
    await assert.rejects(node.spawn(), (error: unknown) => error instanceof InvalidConfigError && /cannot listen on no-such-host.invalid/.test(error.message));
    assert.equal(node.isRunning, false);
  });
});

describe('node identity', () => {
  let dataRoot = '';
  before(async () => {
    dataRoot = await mkdtemp(join(os.tmpdir(), 'butter-identity-'));
  });
  after(async () => {
    await rm(dataRoot, { recursive: true, force: true });
  });

  it('keeps the identity in the data directory, readable by the owner only', async () => {
    const dataDir = join(dataRoot, 'nested', 'node');
    const first = await createNode({ dataDir });
    const second = await createNode({ dataDir });
    assert.equal(second.id, first.id);
    const file = join(dataDir, 'identity.pem');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.notEqual((await createNode({ dataDir: join(dataRoot, 'other') })).id, first.id);
    assert.notEqual((await createNode()).id, first.id, 'without a data directory every node is new');

    // The id is the SHA-256 of the raw Ed25519 public key kept in that file.
    const privateKey = createPrivateKey(await readFile(file, 'utf8'));
    assert.equal(privateKey.asymmetricKeyType, 'ed25519');
    const rawPublicKey = Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x as string, 'base64url');
    assert.equal(rawPublicKey.length, 32);
    assert.equal(first.id, createHash('sha256').update(rawPublicKey).digest('hex'));
  });

  it('reports a corrupt identity file as a configuration error', async () => {
    const dataDir = join(dataRoot, 'corrupt');
    await createNode({ dataDir });
    await writeFile(join(dataDir, 'identity.pem'), 'not a key');
    await rejectsWithConfigError({ dataDir }, /cannot use the identity in data directory .*corrupt/);
  });

  it('derives simulated identities from the seed', async () => {
    const idOn = async (seed: number): Promise<string> => (await createNode({ runtime: new Simulation({ seed }).createHost() })).id;
    assert.equal(await idOn(11), await idOn(11));
    assert.notEqual(await idOn(11), await idOn(12));
    assert.match(await idOn(11), /^[0-9a-f]{64}$/);
  });
});

describe('network ids', () => {
  it('keeps nodes of different networks apart', { timeout: 15_000 }, async () => {
    const alpha = await createNode({ host: '127.0.0.1', networkId: 'alpha' });
    const beta = await createNode({ host: '127.0.0.1', networkId: 'beta' });
    const alsoBeta = await createNode({ host: '127.0.0.1', networkId: 'beta' });
    try {
      for (const node of [alpha, beta, alsoBeta]) {
        node.route('echo', (_node, payload) => payload);
        await node.spawn();
      }
      await assert.rejects(within(alpha.request(beta.address, 'echo', bytes('x')), 'refusal'), (error: unknown) => {
        assert.ok(error instanceof PeerUnreachableError, String(error));
        assert.match(error.message, /network id "(alpha|beta)" is not "(alpha|beta)"/);
        return true;
      });
      await assert.rejects(within(beta.request(alpha.address, 'echo', bytes('x')), 'refusal'), PeerUnreachableError);
      assert.equal(text(await within(alsoBeta.request(beta.address, 'echo', bytes('same network')), 'reply')), 'same network');
    } finally {
      await Promise.all([alpha, beta, alsoBeta].map((node) => node.stop({ graceful: false })));
    }
  });
});

describe('memory plan', () => {
  it('splits every allocation into a bounded known-host list, an eighth each for inbound and outbound buffers and the rest for storage', () => {
    const machineBytes = 24 * 1024 * mebibyte;
    let previousCapacity = 0;
    fc.assert(
      fc.property(fc.integer({ min: minimumMemoryMB, max: 24 * 1024 }), (memoryMB) => {
        const plan = planMemory(memoryMB, machineBytes);
        assert.equal(plan.totalBytes, memoryMB * mebibyte);
        assert.equal(plan.knownHostsBytes + plan.inboundBufferBytes + plan.outboundBufferBytes + plan.storageBytes, plan.totalBytes);
        assert.equal(plan.inboundBufferBytes, Math.floor(plan.totalBytes / 8));
        assert.equal(plan.outboundBufferBytes, Math.floor(plan.totalBytes / 8));
        assert.equal(plan.knownHostsBytes, plan.knownHostsCapacity * bytesPerKnownHost);
        assert.ok(plan.knownHostsCapacity >= 4 && plan.knownHostsCapacity <= 256, `capacity ${plan.knownHostsCapacity}`);
        assert.ok(plan.storageBytes > plan.totalBytes / 2, 'storage gets most of the allocation');
      }),
      { numRuns: 300 },
    );
    for (const memoryMB of [16, 64, 512, 2048, 24 * 1024]) {
      const capacity = planMemory(memoryMB, machineBytes).knownHostsCapacity;
      assert.ok(capacity >= previousCapacity, 'a larger allocation never knows fewer hosts');
      previousCapacity = capacity;
    }
    assert.equal(planMemory(512, machineBytes, 100).knownHostsCapacity, 100);
    assert.throws(() => planMemory(16, machineBytes, 4096), /leaves too little of 16 MB for storage/);
    assert.throws(() => planMemory(64, machineBytes, 2.5), InvalidConfigError);
  });

  it('gives the node the planned budget and a known-host list of that size', async () => {
    const node = await createNode({ runtime: new Simulation({ seed: 3 }).createHost(), memoryMB: 128 });
    assert.deepEqual(node.memory, planMemory(128, 24 * 1024 * mebibyte));
    assert.equal(node.knownHosts.capacity, node.memory.knownHostsCapacity);
  });
});
