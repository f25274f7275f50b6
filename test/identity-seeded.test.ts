import assert from 'node:assert/strict';
import { createPublicKey, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { createIdentity, nodeIdFromPublicKey } from '../src/node/identity.js';
import { SeededRandom } from '../src/runtime/sim/index.js';

describe('identity from seeded randomness', () => {
  it('gives the same key pair for the same seed, a working one, and another for another seed', () => {
    const first = createIdentity(new SeededRandom(5));
    const again = createIdentity(new SeededRandom(5));
    const other = createIdentity(new SeededRandom(6));
    assert.equal(again.nodeId, first.nodeId);
    assert.notEqual(other.nodeId, first.nodeId);
    assert.equal(first.nodeId, nodeIdFromPublicKey(first.publicKey));
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(first.publicKey).toString('base64url') }, format: 'jwk' });
    const message = Buffer.from('butter');
    assert.ok(verify(null, message, publicKey, sign(null, message, first.privateKey)));
    assert.ok(!verify(null, message, publicKey, sign(null, message, other.privateKey)));
  });
});
