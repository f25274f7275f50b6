import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ContentDeletedError, SignatureError } from '../src/errors.js';
import { authorKeyword, signTombstone } from '../src/storage/authorship.js';
import { blockKeyOf } from '../src/storage/block.js';
import { startRealStorageNodes, type StorageNode } from './storage-groups-cluster.js';

describe('update and delete by the author on real TLS (loopback)', () => {
  const nodes: StorageNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
  });

  it('a reader gets the newest version; a forged delete is refused; the author deletes and the content is refused again', { timeout: 30_000 }, async () => {
    await startRealStorageNodes(nodes, 3);
    const [author, reader, third] = nodes as [StorageNode, StorageNode, StorageNode];
    const authorKey = author.services.storage.authorKey;
    await author.services.storage.update('page', new TextEncoder().encode('first'), { replicas: 3, durable: true });
    const newest = await author.services.storage.update('page', new TextEncoder().encode('second'), { replicas: 3, durable: true });
    const read = await reader.services.storage.readName(authorKey, 'page');
    assert.equal(read?.record.sequence, 2);
    assert.equal(new TextDecoder().decode(read?.data), 'second');

    // The reader signs a tombstone for the author's content: the holders refuse it.
    const forged = signTombstone({ publicKey: reader.services.storage.authorKey, sign: () => new Uint8Array(64) }, newest.contentId);
    await assert.rejects(reader.services.storage.publishTo(third.address, { tombstone: forged }), SignatureError);
    assert.ok(third.services.storage.has(blockKeyOf(newest.contentId, 0)));

    await author.services.storage.delete(newest.contentId);
    assert.ok(nodes.every((node) => !node.services.storage.has(blockKeyOf(newest.contentId, 0))));
    await assert.rejects(third.services.storage.store(new TextEncoder().encode('second'), { keywords: [authorKeyword(authorKey)] }), ContentDeletedError);
  });
});
