import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Random } from '../runtime/types.js';

/** A node's Ed25519 key pair; its id is the SHA-256 of the raw public key, in hex. */
export interface Identity {
  readonly nodeId: string;
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410), so keys can come from the runtime's randomness.
const ed25519Pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
const identityFileName = 'identity.pem';

export function nodeIdFromPublicKey(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

/** Creates a key pair from 32 bytes of the runtime's randomness (a CSPRNG on the real runtime, seeded in the simulator). */
export function createIdentity(random: Random): Identity {
  const seed = random.bytes(32);
  return identityFromPrivateKey(createPrivateKey({ key: Buffer.concat([ed25519Pkcs8Prefix, seed]), format: 'der', type: 'pkcs8' }));
}

/** Loads the identity kept in `dataDirectory`, creating and saving one on first use. */
export async function loadOrCreateIdentity(dataDirectory: string, random: Random): Promise<Identity> {
  const path = join(dataDirectory, identityFileName);
  let pem: string | undefined;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (pem !== undefined) return identityFromPrivateKey(createPrivateKey(pem));
  const identity = createIdentity(random);
  await mkdir(dataDirectory, { recursive: true });
  await writeFile(path, identity.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  return identity;
}

function identityFromPrivateKey(privateKey: KeyObject): Identity {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('identity key is not Ed25519');
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const publicKey = new Uint8Array(Buffer.from(jwk.x as string, 'base64url'));
  return { nodeId: nodeIdFromPublicKey(publicKey), publicKey, privateKey };
}
