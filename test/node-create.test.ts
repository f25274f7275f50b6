import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidConfigError, PeerUnreachableError } from '../src/errors.js';
import { createNode, type NodeOptions } from '../src/node/create.js';
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
    await rejectsWithConfigError({ memoryMB: Number.NaN }, /memory allocation/);
    const machineMB = Math.floor(os.totalmem() / mebibyte);
    await rejectsWithConfigError({ memoryMB: machineMB + 1024 }, new RegExp(`exceeds this machine's ${machineMB} MB`));
    // The simulator's hosts report the memory they were given.
    const host = new Simulation({ seed: 1 }).createHost({ totalMemoryBytes: 256 * mebibyte });
    await rejectsWithConfigError({ runtime: host, memoryMB: 512 }, /memory allocation of 512 MB exceeds this machine's 256 MB/);
    const fits = await createNode({ runtime: host, memoryMB: 256 });
    assert.equal(fits.memory.totalBytes, 256 * mebibyte);
  });

  it('refuses a bad port, network id, timeout or bootstrap address', async () => {
    for (const port of [-1, 65_536, 1.5, Number.NaN]) await rejectsWithConfigError({ port }, /port must be 0\.\.65535/);
    await rejectsWithConfigError({ port: '80' as unknown as number }, /port must be 0\.\.65535/);
    await rejectsWithConfigError({ networkId: '' }, /network id must be 1\.\.64 characters/);
    await rejectsWithConfigError({ networkId: 'n'.repeat(65) }, /network id must be 1\.\.64 characters/);
    await rejectsWithConfigError({ networkId: 42 as unknown as string }, /network id/);
    await rejectsWithConfigError({ requestTimeoutMs: 0 }, /requestTimeoutMs must be positive/);
    await rejectsWithConfigError({ bootstrap: ['no port here'] }, /bootstrap invalid address "no port here"/);
    await rejectsWithConfigError({ knownHostsCapacity: 0 }, /known-host capacity/);
  });

  it('refuses bad transport options', async () => {
    await rejectsWithConfigError({ transport: { maxPayloadBytes: 0 } }, /transport\.maxPayloadBytes must be a positive integer, got 0/);
    await rejectsWithConfigError({ transport: { idleTimeoutMs: 1.5 } }, /transport\.idleTimeoutMs must be a positive integer/);
    await rejectsWithConfigError({ transport: { maxConnections: -3 } }, /transport\.maxConnections/);
    await rejectsWithConfigError({ transport: { maxFrameBytes: 1000, maxPayloadBytes: 900 } }, /maxFrameBytes must leave at least 256 bytes/);
    await rejectsWithConfigError({ transport: { maxPayloadByte: 10 } as NodeOptions['transport'] }, /unknown transport option "maxPayloadByte"/);
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
        node.route('echo', (_overlay, payload) => payload);
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
  it('splits every allocation into a bounded known-host list and the rest for storage', () => {
    const machineBytes = 24 * 1024 * mebibyte;
    let previousCapacity = 0;
    fc.assert(
      fc.property(fc.integer({ min: minimumMemoryMB, max: 24 * 1024 }), (memoryMB) => {
        const plan = planMemory(memoryMB, machineBytes);
        assert.equal(plan.totalBytes, memoryMB * mebibyte);
        assert.equal(plan.knownHostsBytes + plan.storageBytes, plan.totalBytes);
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
