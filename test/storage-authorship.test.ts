import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ButterError, ContentDeletedError, SignatureError, StaleVersionError } from '../src/errors.js';
import { authorKeyword, authorshipRoutes, maxNameLength, signNameRecord, signTombstone, type Signer } from '../src/storage/authorship.js';
import { challengeRoute, maxChallengeItems } from '../src/storage/challenges.js';
import { encodeValue } from '../src/transport/codec.js';
import { blockKeyOf } from '../src/storage/block.js';
import { createIdentity, signerOf } from '../src/node/identity.js';
import { storageOf, StorageCluster, type StorageNode } from './storage-groups-cluster.js';

const fast = { heartbeatIntervalMs: 1_000 };

function holdersOf(cluster: StorageCluster, contentId: string): StorageNode[] {
  return cluster.alive().filter((node) => storageOf(node).has(blockKeyOf(contentId, 0)));
}

/** A key pair of its own, from the simulation's seeded randomness. */
function outsider(cluster: StorageCluster): Signer {
  return signerOf(createIdentity(cluster.simulation.createHost({}).random));
}

describe('update and delete by the author, on the simulator', () => {
  it('update publishes a new version; a reader resolves the newest verified one', async () => {
    const cluster = new StorageCluster(71);
    const [author, reader] = (await cluster.addMany(6, fast)) as [StorageNode, StorageNode];
    const first = await cluster.settle(storageOf(author).update('wiki/home', new TextEncoder().encode('version one'), { durable: true }));
    const second = await cluster.settle(storageOf(author).update('wiki/home', new TextEncoder().encode('version two'), { durable: true }));
    assert.deepEqual([first.sequence, second.sequence], [1, 2]);
    assert.notEqual(first.contentId, second.contentId);
    const read = await cluster.settle(storageOf(reader).readName(storageOf(author).authorKey, 'wiki/home'));
    assert.equal(read?.record.sequence, 2);
    assert.equal(new TextDecoder().decode(read?.data), 'version two');
    // A fresh reader with no record of its own asks the hosts it knows.
    const late = await cluster.add(fast);
    await cluster.run(500);
    assert.equal((await cluster.settle(storageOf(late).resolveName(storageOf(author).authorKey, 'wiki/home')))?.sequence, 2);
  });

  it('a forged update (wrong key, tampered, stale or replayed) is refused with a typed error', async () => {
    const cluster = new StorageCluster(72);
    const [author, reader] = (await cluster.addMany(4, fast)) as [StorageNode, StorageNode];
    const first = await cluster.settle(storageOf(author).update('notes', new Uint8Array([1])));
    const second = await cluster.settle(storageOf(author).update('notes', new Uint8Array([2])));
    const readerStorage = storageOf(reader);
    assert.equal((await cluster.settle(readerStorage.resolveName(storageOf(author).authorKey, 'notes')))?.sequence, 2);

    // Signed by another key but claiming the author's: the signature does not verify against the author.
    const forger = outsider(cluster);
    const byForger = signNameRecord(forger, { name: 'notes', sequence: 99, contentId: first.contentId });
    assert.throws(() => readerStorage.acceptNameRecord({ ...byForger, author: storageOf(author).authorKey }), SignatureError);
    // The author's signature, another content id.
    assert.throws(() => readerStorage.acceptNameRecord({ ...second, sequence: 3 }), SignatureError);
    // A replay of the newest, and the older version: stale.
    assert.throws(() => readerStorage.acceptNameRecord(second), StaleVersionError);
    assert.throws(() => readerStorage.acceptNameRecord(first), StaleVersionError);
    // Over the wire the peer refuses alike.
    await assert.rejects(cluster.settle(storageOf(author).publishTo(reader.address, { record: first })), StaleVersionError);
    await assert.rejects(cluster.settle(storageOf(author).publishTo(reader.address, { record: { ...byForger, author: storageOf(author).authorKey } })), SignatureError);
    assert.equal((await cluster.settle(readerStorage.resolveName(storageOf(author).authorKey, 'notes')))?.contentId, second.contentId);
  });

  it('delete drops every copy, and storing that content again is refused while the tombstone lives', async () => {
    const cluster = new StorageCluster(73);
    const [author, other] = (await cluster.addMany(7, { ...fast, contentTombstoneLifetimeMs: 60_000 })) as [StorageNode, StorageNode];
    const data = new Uint8Array(9_000).map((_, index) => index % 13);
    const { contentId } = await cluster.settle(storageOf(author).update('photo', data, { durable: true }));
    await cluster.run(2_000);
    assert.ok(holdersOf(cluster, contentId).length >= 3);

    await cluster.settle(storageOf(author).delete(contentId));
    await cluster.run(5_000);
    assert.deepEqual(holdersOf(cluster, contentId), [], 'no node holds a block of deleted content');
    assert.ok(cluster.alive().every((node) => storageOf(node).groups().every((group) => !group.key.startsWith(contentId))));

    const keywords = [authorKeyword(storageOf(author).authorKey)];
    await assert.rejects(cluster.settle(storageOf(author).store(data, { keywords })), ContentDeletedError);
    await assert.rejects(cluster.settle(storageOf(other).store(data, { keywords })), ContentDeletedError);
    assert.equal(await cluster.settle(storageOf(other).findContent(contentId)), undefined);

    // Once the tombstone has lived its lifetime the content may be stored again.
    await cluster.run(60_000);
    assert.equal(await cluster.settle(storageOf(other).store(data, { keywords })), contentId);
  });

  it('a holder cut off during the delete learns the tombstone from the first host it tries to recruit, and drops its copy', async () => {
    const cluster = new StorageCluster(75);
    const [author] = (await cluster.addMany(7, fast)) as [StorageNode];
    const { contentId } = await cluster.settle(storageOf(author).update('draft', new Uint8Array(3_000).fill(3), { durable: true }));
    await cluster.run(2_000);
    const missed = holdersOf(cluster, contentId).find((node) => node !== author) as StorageNode;
    const others = cluster.alive().filter((node) => node !== missed);
    cluster.simulation.partition([missed.runtime as never], others.map((node) => node.runtime as never));
    await cluster.settle(storageOf(author).delete(contentId));
    await cluster.run(3_000);
    assert.deepEqual(holdersOf(cluster, contentId), [missed], 'only the cut-off holder still has it');
    cluster.simulation.heal();
    // Hosts whose requests failed during the partition are not offered anything for a minute.
    await cluster.run(70_000);
    assert.deepEqual(holdersOf(cluster, contentId), [], 'its recruitment met the tombstone');
  });

  it('a node restarted on its data directory keeps its name records and tombstones', async () => {
    const directory = '/var/butter';
    const cluster = new StorageCluster(76);
    const [author] = (await cluster.addMany(4, fast)) as [StorageNode];
    const durableNode = await cluster.add(fast, { dataDir: directory });
    await cluster.run(500);
    const data = new Uint8Array(2_000).fill(9);
    const first = await cluster.settle(storageOf(author).update('kept', data, { durable: true }));
    const contentId = first.contentId;
    await cluster.settle(storageOf(author).update('kept', new Uint8Array([1, 2, 3])));
    const tombstone = await cluster.settle(storageOf(author).delete(contentId));
    await cluster.run(1_000);
    await cluster.settle(durableNode.stop({ graceful: false }));
    const restarted = await cluster.add(fast, { dataDir: directory, runtime: durableNode.runtime });
    // Its own tables, not the network's: it still holds version 2 and the tombstone.
    assert.throws(() => storageOf(restarted).acceptNameRecord(first), StaleVersionError);
    assert.throws(() => storageOf(restarted).acceptTombstone(tombstone), StaleVersionError);
    const keywords = [authorKeyword(storageOf(author).authorKey)];
    await assert.rejects(cluster.settle(storageOf(restarted).store(data, { keywords })), ContentDeletedError);
    await cluster.settle(restarted.stop());
  });

  it('a forged delete (another key, tampered, replayed) is refused and the content stays', async () => {
    const cluster = new StorageCluster(74);
    const [author] = (await cluster.addMany(6, fast)) as [StorageNode];
    const { contentId } = await cluster.settle(storageOf(author).update('doc', new Uint8Array(5_000).fill(7), { durable: true }));
    await cluster.run(2_000);
    const holders = holdersOf(cluster, contentId);
    const holder = holders.find((node) => node !== author) as StorageNode;

    const forger = outsider(cluster);
    const byForger = signTombstone(forger, contentId);
    // Signed by a key that did not author the content, whether or not it claims the author's key.
    assert.throws(() => storageOf(holder).acceptTombstone(byForger), SignatureError);
    assert.throws(() => storageOf(holder).acceptTombstone({ ...byForger, author: storageOf(author).authorKey }), SignatureError);
    await assert.rejects(cluster.settle(storageOf(author).publishTo(holder.address, { tombstone: byForger })), SignatureError);
    // Another node cannot delete it through its own API either.
    await assert.rejects(cluster.settle(storageOf(holder).delete(contentId)), SignatureError);
    await cluster.run(3_000);
    assert.deepEqual(holdersOf(cluster, contentId).length, holders.length, 'every copy stays');

    // The author's own tombstone is taken once; a replay is refused as stale.
    const tombstone = await cluster.settle(storageOf(author).delete(contentId));
    await cluster.run(2_000);
    assert.throws(() => storageOf(holder).acceptTombstone(tombstone), StaleVersionError);
  });

  it('malformed authorship and challenge messages are refused and the node carries on', async () => {
    const cluster = new StorageCluster(77);
    const [target, sender] = (await cluster.addMany(3, fast)) as [StorageNode, StorageNode];
    const garbage = new Uint8Array([0xc1, 0x00, 0xff]);
    const refused = (error: unknown) => error instanceof ButterError && /malformed|invalid/.test(error.message);
    for (const route of [...Object.values(authorshipRoutes), challengeRoute]) await assert.rejects(cluster.settle(sender.request(target.address, route, garbage)), refused, route);
    // Over the limits: a name too long, a key of the wrong size, too many challenge items.
    const author = storageOf(sender).authorKey;
    const items = Array.from({ length: maxChallengeItems + 1 }, () => ({ key: `${'ab'.repeat(32)}.1:0`, part: 0, offset: 0, length: 1 }));
    const oversized: Array<[string, unknown]> = [
      [authorshipRoutes.resolveName, { author, name: 'n'.repeat(maxNameLength + 1) }],
      [authorshipRoutes.resolveName, { author: author.subarray(0, 31), name: 'x' }],
      [challengeRoute, { nonce: new Uint8Array(16), items }],
    ];
    for (const [route, message] of oversized) await assert.rejects(cluster.settle(sender.request(target.address, route, encodeValue(message))), refused, route);
    assert.equal(await cluster.settle(storageOf(sender).resolveName(author, 'x')), undefined);
    assert.ok(target.isRunning);
  });
});
