import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { Disk } from '../runtime/disk.js';
import type { Random } from '../runtime/types.js';

/** A node's Ed25519 key pair; its id is the SHA-256 of the raw public key, in hex. */
export interface Identity {
  readonly nodeId: string;
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

// A JWK needs an `x` (public key) member, but Node derives the public half of a private OKP key from `d` alone.
const unusedPublicKeyMember = Buffer.alloc(32).toString('base64url');
const identityFileName = 'identity.pem';

export function nodeIdFromPublicKey(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

/** Creates a key pair from 32 bytes of the runtime's randomness (a CSPRNG on the real runtime, seeded in the simulator). */
export function createIdentity(random: Random): Identity {
  const seed = Buffer.from(random.bytes(32)).toString('base64url');
  // Importing the raw seed as a JWK is about ten times cheaper than as PKCS#8 DER (OpenSSL 3's decoders),
  // which counts when the testbed creates tens of thousands of simulated nodes.
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed, x: unusedPublicKeyMember }, format: 'jwk' });
  return identityFromPrivateKey(privateKey);
}

/** Loads the identity kept in `dataDirectory` on `disk`, creating and saving one on first use. */
export async function loadOrCreateIdentity(dataDirectory: string, disk: Disk, random: Random): Promise<Identity> {
  const path = join(dataDirectory, identityFileName);
  const saved = await disk.readFile(path);
  if (saved !== undefined) return identityFromPrivateKey(createPrivateKey(new TextDecoder().decode(saved)));
  const identity = createIdentity(random);
  const pem = identity.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  await disk.makeDirectory(dataDirectory);
  // Exclusive: two nodes starting on one folder cannot both write a key; readable by the owner only.
  await disk.createFile(path, new TextEncoder().encode(pem), { mode: 0o600 });
  return identity;
}

/** Signs with the identity's key (Ed25519); what a service gets instead of the private key. */
export function signerOf(identity: Identity): { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array } {
  return { publicKey: identity.publicKey, sign: (message) => new Uint8Array(sign(null, message, identity.privateKey)) };
}

function identityFromPrivateKey(privateKey: KeyObject): Identity {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('identity key is not Ed25519');
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const publicKey = new Uint8Array(Buffer.from(jwk.x as string, 'base64url'));
  return { nodeId: nodeIdFromPublicKey(publicKey), publicKey, privateKey };
}
