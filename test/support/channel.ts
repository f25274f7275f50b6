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

/** The TLS context of `identity`'s credentials, made once for many connections (`tls: { secureContext }`). */
export function credentialsContext(identity: Identity): tls.SecureContext {
  return tls.createSecureContext({ ...tlsCredentials(identity), minVersion: 'TLSv1.3' });
}

/**
 * A raw TLS client to a node, presenting a certificate of its own fresh (or the
 * given) Ed25519 identity, as any stranger can: what tests that speak frames to
 * a node by hand connect with. Extra `tls` options let a test break the rules
 * (another TLS version, another certificate); with `timeoutMs` it gives up (and
 * destroys the socket) when the handshake has not finished by then.
 */
export function connectTls(
  address: Address,
  options: { identity?: Identity; tls?: tls.ConnectionOptions; timeoutMs?: number } = {},
): Promise<{ socket: tls.TLSSocket; identity: Identity }> {
  const identity = options.identity ?? freshIdentity();
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: address.host,
      port: address.port,
      // A context made beforehand (`credentialsContext`) saves making the certificate again.
      ...(options.tls?.secureContext ? {} : tlsCredentials(identity)),
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false,
      ...options.tls,
    });
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${options.timeoutMs} ms`)), options.timeoutMs);
    const failed = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', failed);
      resolve({ socket, identity });
    });
  });
}
