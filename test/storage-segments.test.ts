import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ButterError, DurableStoreError, TimeoutError } from '../src/errors.js';
import { blockKey, blockKeyOf, splitContent, verifyBlock, type Block, type PackedRun } from '../src/storage/block.js';
import { offerCodec, routes, withdrawCodec } from '../src/storage/group-messages.js';
import { packSegment, parseSegmentKey, segmentBlockKeys, segmentBlocks, segmentKeyOf, segmentKeyOfBlockKey, segmentsOf, unpackSegment } from '../src/storage/segment.js';
import type { StoreProgress } from '../src/storage/service.js';
import { storageOf, StorageCluster } from './storage-groups-cluster.js';

const fast = { heartbeatIntervalMs: 1_000 };

describe('content segments', () => {
  it('cuts content into segments of segmentBlocks and names every block of each', () => {
    const { contentId, blocks } = splitContent(new Uint8Array((2 * segmentBlocks + 5) * 4096), ['s']);
    const segments = segmentsOf(contentId, blocks);
    assert.deepEqual(
      segments.map((segment) => segment.blocks.length),
      [segmentBlocks, segmentBlocks, 5],
    );
    for (const [index, segment] of segments.entries()) {
      assert.equal(segment.key, segmentKeyOf(contentId, index));
      assert.equal(unpackSegment(packSegment(segment.blocks))?.key, segment.key);
      assert.deepEqual(segmentBlockKeys(segment.key), segment.blocks.map((block) => blockKeyOf(contentId, block.part)));
      for (const block of segment.blocks) assert.equal(segmentKeyOfBlockKey(blockKeyOf(contentId, block.part)), segment.key);
    }
    assert.equal(parseSegmentKey(segmentKeyOf(contentId, 3)), undefined, 'beyond the content');
    assert.equal(parseSegmentKey(`${contentId}/0`), undefined, 'a block key is not a segment key');
    // Not a whole segment: a part missing, two out of order, or a run that does not start at a segment's first part.
    const first = segments[0]!.blocks;
    assert.equal(unpackSegment(packSegment(first.slice(1))), undefined);
    assert.equal(unpackSegment(packSegment([first[1]!, first[0]!, ...first.slice(2)])), undefined);
    assert.equal(unpackSegment(packSegment(first.slice(0, -1))), undefined);
  });

  it('unpacks a packed segment into the very blocks it was packed from, and nothing that was changed', () => {
    const wireForm = (block: Block) => ({ key: blockKey(block), proof: block.proof.map((hash) => Buffer.from(hash).toString('hex')), data: Buffer.from(block.data).toString('hex'), keywords: [...block.keywords] });
    const flipped = (bytes: Uint8Array) => bytes.map((byte, at) => (at === 0 ? byte ^ 1 : byte));
    const empty = splitContent(new Uint8Array(0), []);
    assert.equal(unpackSegment(packSegment(empty.blocks))?.blocks[0]?.data.byteLength, 0, 'the empty content');
    // 64 and 65 parts: subtrees of height 6 and 7 (the segment's), 129: a last segment of one part.
    for (const parts of [1, 2, 5, 64, 65, segmentBlocks, segmentBlocks + 1, 2 * segmentBlocks + 37]) {
      const { contentId, blocks } = splitContent(new Uint8Array(parts * 4096 - 7).map((_, index) => index % 253), ['k']);
      for (const segment of segmentsOf(contentId, blocks)) {
        const unpacked = unpackSegment(packSegment(segment.blocks));
        assert.equal(unpacked?.key, segment.key, `${parts} parts`);
        assert.deepEqual(unpacked.blocks.map(wireForm), segment.blocks.map(wireForm), `${parts} parts, ${segment.key}`);
        assert.ok(unpacked.blocks.every((block) => verifyBlock(block, contentId)));
      }
      const packed = packSegment(segmentsOf(contentId, blocks).at(-1)!.blocks);
      const changed = (change: Partial<PackedRun>) => unpackSegment({ ...packed, ...change });
      assert.equal(changed({ data: flipped(packed.data) }), undefined, 'data');
      assert.equal(changed({ data: packed.data.subarray(1) }), undefined, 'a byte short');
      assert.equal(changed({ data: new Uint8Array([...packed.data, 0]) }), undefined, 'a byte long');
      assert.equal(changed({ keywords: ['other'] }), undefined, 'keywords');
      assert.equal(changed({ contentHash: flipped(packed.contentHash) }), undefined, 'content hash');
      assert.equal(changed({ parts: parts + 1 }), undefined, 'parts');
      assert.equal(changed({ upperProof: [...packed.upperProof, new Uint8Array(32)] }), undefined, 'a proof hash too many');
      for (let depth = 0; depth < packed.upperProof.length; depth += 1) {
        assert.equal(changed({ upperProof: packed.upperProof.map((hash, at) => (at === depth ? flipped(hash) : hash)) }), undefined, `${parts} parts: proof hash ${depth}`);
      }
    }
  });

  it('a durable store of several segments places each whole on r hosts and reports progress', async () => {
    const cluster = new StorageCluster(21);
    const [writer] = await cluster.addMany(6, fast);
    const data = writer!.runtime.random.bytes((2 * segmentBlocks + 40) * 4096);
    const progress: StoreProgress[] = [];
    const contentId = await cluster.settle(storageOf(writer!).store(data, { durable: true, onProgress: (step) => progress.push(step) }));
    assert.deepEqual(
      progress.map((step) => step.segmentsPlaced),
      [1, 2, 3],
    );
    assert.equal(progress.at(-1)?.blocksPlaced, 2 * segmentBlocks + 40);
    assert.ok(progress.every((step) => step.contentId === contentId && step.blocks === 2 * segmentBlocks + 40 && step.segments === 3));
    await cluster.run(3_000);
    for (let segment = 0; segment < 3; segment += 1) {
      const key = segmentKeyOf(contentId, segment);
      // holders() counts only nodes holding every block of the segment.
      assert.equal(cluster.holders(key).length, 3, key);
      assert.deepEqual(cluster.states(key), ['goldilocks', 'goldilocks', 'goldilocks']);
    }
    const reader = cluster.alive().find((node) => node !== writer)!;
    assert.deepEqual(await cluster.settle(storageOf(reader).findContent(contentId)), data);
  });

  it('a durable store that cannot reach its replicas rolls back everywhere and names the content and the replicas reached', async () => {
    const cluster = new StorageCluster(22);
    const options = { ...fast, durableTimeoutMs: 3_000 };
    const [writer, other] = await cluster.addMany(2, options);
    const data = writer!.runtime.random.bytes((segmentBlocks + 10) * 4096);
    const { contentId } = splitContent(data, []);
    const failure = await cluster.settle(storageOf(writer!).store(data, { durable: true })).then(
      () => assert.fail('only 2 hosts: the store cannot reach 3 replicas'),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof DurableStoreError, String(failure));
    assert.ok(failure instanceof ButterError && failure.code === 'DURABLE_STORE_FAILED');
    assert.equal(failure.contentId, contentId);
    assert.equal(failure.replicas, 3);
    assert.equal(failure.replicasReached, 2);
    assert.ok(failure.cause instanceof TimeoutError);
    await cluster.run(2_000);
    for (const node of [writer!, other!]) {
      assert.equal(storageOf(node).blocks.size, 0, 'no stray block');
      assert.deepEqual(
        storageOf(node).groups().map((group) => group.key),
        [],
        'no group left',
      );
    }
  });

  it('a failed durable store rolls back only what it placed: content held before stays', async () => {
    const cluster = new StorageCluster(24);
    const options = { ...fast, durableTimeoutMs: 3_000 };
    const [writer] = await cluster.addMany(4, options);
    const data = writer!.runtime.random.bytes(5_000);
    const contentId = await cluster.settle(storageOf(writer!).store(data, { durable: true }));
    const key = segmentKeyOf(contentId, 0);
    await cluster.run(2_000);
    assert.equal(cluster.holders(key).length, 3);
    // The same content again, asking for more replicas than there are hosts.
    await assert.rejects(cluster.settle(storageOf(writer!).store(data, { durable: true, replicas: 5 })), DurableStoreError);
    // At once (before any repair could put a copy back): the writer kept its copy and its membership.
    assert.ok(storageOf(writer!).has(blockKeyOf(contentId, 0)), 'the writer keeps its copy');
    assert.ok(cluster.holders(key).includes(writer!), 'and stays a member');
    await cluster.run(2_000);
    assert.ok(cluster.holders(key).length >= 3, 'the earlier copies stay');
  });

  it('refuses an offer that is not one whole segment, and a withdraw from a host that did not place the segment', async () => {
    const cluster = new StorageCluster(23);
    const [writer] = await cluster.addMany(5, fast);
    const contentId = await cluster.settle(storageOf(writer!).store(writer!.runtime.random.bytes(5_000), { durable: true }));
    const key = segmentKeyOf(contentId, 0);
    const holders = cluster.holders(key);
    const stranger = cluster.alive().find((node) => !holders.includes(node))!;
    const refused = (error: unknown) => error instanceof ButterError && /one whole segment/.test(error.message);
    const { blocks } = splitContent(new Uint8Array(3 * 4096).fill(5), []);
    for (const partial of [blocks.slice(1), blocks.slice(0, 2)]) {
      await assert.rejects(cluster.settle(stranger.request(holders[0]!.address, routes.offer, offerCodec.encode({ ...packSegment(partial), replicas: 3, view: [] }))), refused);
    }
    assert.ok(!storageOf(holders[0]!).has(blockKeyOf(splitContent(new Uint8Array(3 * 4096).fill(5), []).contentId, 1)));
    // Within the rollback window, but from a host that neither placed the segment nor belongs to its group: ignored.
    for (const holder of holders) await cluster.settle(stranger.request(holder.address, routes.withdraw, withdrawCodec.encode({ key })));
    await cluster.run(2_000);
    assert.ok(cluster.holders(key).length >= 3, 'still held');
  });
});
