import type { Socket } from 'node:net';
import type tls from 'node:tls';
import { createIdentity } from '../src/node/identity.js';
import { certificatePem, selfSignedCertificate } from '../src/runtime/real/certificate.js';
import { createRealRandom } from '../src/runtime/real/random.js';

/**
 * The raw node:net baseline's wire format: every message is a 4-byte big-endian
 * body length, then the body: a 4-byte big-endian request id and the payload.
 * Kept as small as possible, since it is the ceiling Butter is compared with.
 */
export const lengthBytes = 4;
export const requestIdBytes = 4;

/** Returns a 'data' handler that calls `onFrame` with each whole frame (length prefix included). */
export function frameReader(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    // Copies only when a frame was split across chunks.
    const buffer = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    while (buffer.length - offset >= lengthBytes) {
      const frameBytes = lengthBytes + buffer.readUInt32BE(offset);
      if (buffer.length - offset < frameBytes) break;
      onFrame(buffer.subarray(offset, offset + frameBytes));
      offset += frameBytes;
    }
    pending = buffer.subarray(offset);
  };
}

/**
 * Writes to `socket`, grouping every write of one tick into one writev system
 * call, the same technique Butter's real runtime uses, so the baseline stays a ceiling.
 */
export function groupedWriter(socket: Socket): (frame: Uint8Array) => void {
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return (frame) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    socket.write(frame);
  };
}

/** Builds a frame carrying `requestId` and `payload`. */
export function encodeRawFrame(requestId: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(lengthBytes + requestIdBytes + payload.length);
  frame.writeUInt32BE(requestIdBytes + payload.length, 0);
  frame.writeUInt32BE(requestId, lengthBytes);
  frame.set(payload, lengthBytes + requestIdBytes);
  return frame;
}

/** TLS 1.3 with a fresh Ed25519 key and the certificate shape Butter presents, for the raw TLS baseline's either end. */
export function tlsOptions(): tls.SecureContextOptions {
  const { privateKey } = createIdentity(createRealRandom());
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    cert: certificatePem(selfSignedCertificate(privateKey)),
    minVersion: 'TLSv1.3',
  };
}
