import tls from 'node:tls';
import { createIdentity, type Identity } from '../../src/node/identity.js';
import { createRealRandom } from '../../src/runtime/real/random.js';
import { certificatePem, selfSignedCertificate } from '../../src/runtime/real/certificate.js';
import type { Address } from '../../src/runtime/types.js';

const random = createRealRandom();

/** A new Ed25519 identity, as a node would mint one. */
export function freshIdentity(): Identity {
  return createIdentity(random);
}

/** The key and self-signed certificate (PEM) a node presents for `identity`, for a hand-made TLS end. */
export function tlsCredentials(identity: Identity): { key: string; cert: string } {
  return {
    key: identity.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    cert: certificatePem(selfSignedCertificate(identity.privateKey)),
  };
}

/**
 * A raw TLS client to a node, presenting a certificate of its own fresh (or the
 * given) Ed25519 identity, as any stranger can: what tests that speak frames to
 * a node by hand connect with. Extra `tls` options let a test break the rules
 * (another TLS version, another certificate).
 */
export function connectTls(
  address: Address,
  options: { identity?: Identity; tls?: tls.ConnectionOptions } = {},
): Promise<{ socket: tls.TLSSocket; identity: Identity }> {
  const identity = options.identity ?? freshIdentity();
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: address.host,
      port: address.port,
      ...tlsCredentials(identity),
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false,
      ...options.tls,
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve({ socket, identity });
    });
  });
}
