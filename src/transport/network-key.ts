import { createHmac, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from '../errors.js';

/**
 * Private networks: every node of one holds the same 32-byte key, and each end
 * of a stream proves it holds it before any HELLO is sent or read. The proof is
 * bound to the stream (its channel binding, from the TLS session) and to the
 * prover's verified public key, so it can be neither replayed on another
 * stream nor reflected back to its sender. Public networks (no key) skip it.
 */

export const networkKeyBytes = 32;
/** "BKP" and a version, in front of the MAC: an unkeyed peer reads it as an oversized frame and hangs up. */
const proofMagic = Uint8Array.from([0x42, 0x4b, 0x50, 0x01]);
const macBytes = 32;

/** Whether a stream's first bytes are a key proof: how an unkeyed node tells a keyed peer from garbage. */
export function startsWithNetworkKeyProof(firstBytes: Uint8Array): boolean {
  return firstBytes.length >= proofMagic.length && proofMagic.every((byte, index) => firstBytes[index] === byte);
}
/** Bytes each keyed end sends first: magic, then HMAC-SHA256. */
export const networkKeyProofBytes = proofMagic.length + macBytes;
const proofLabel = new TextEncoder().encode('butter network key proof v1');

/** A network key from 32 bytes or 64 hex digits (surrounding whitespace allowed); a TypeError otherwise. */
export function parseNetworkKey(value: Uint8Array | string): Uint8Array {
  if (typeof value === 'string') {
    const hex = value.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new TypeError(`a network key must be ${networkKeyBytes} bytes or ${networkKeyBytes * 2} hex digits`);
    return new Uint8Array(Buffer.from(hex, 'hex'));
  }
  if (!(value instanceof Uint8Array) || value.length !== networkKeyBytes) {
    throw new TypeError(`a network key must be ${networkKeyBytes} bytes or ${networkKeyBytes * 2} hex digits`);
  }
  return new Uint8Array(value);
}

function mac(networkKey: Uint8Array, channelBinding: Uint8Array, proverPublicKey: Uint8Array): Buffer {
  return createHmac('sha256', networkKey).update(proofLabel).update(channelBinding).update(proverPublicKey).digest();
}

/** What this end sends first on a stream of a private network. */
export function networkKeyProof(networkKey: Uint8Array, channelBinding: Uint8Array, ownPublicKey: Uint8Array): Uint8Array {
  const proof = new Uint8Array(networkKeyProofBytes);
  proof.set(proofMagic);
  proof.set(mac(networkKey, channelBinding, ownPublicKey), proofMagic.length);
  return proof;
}

/**
 * Sans-IO check of the peer's proof at the front of its byte stream. It holds
 * at most `networkKeyProofBytes`; anything else than the right proof (another
 * key, no key, garbage) is a ProtocolError and the stream must be closed.
 */
export class NetworkKeyCheck {
  private readonly received = new Uint8Array(networkKeyProofBytes);
  private receivedBytes = 0;

  constructor(
    private readonly networkKey: Uint8Array,
    private readonly channelBinding: Uint8Array,
    private readonly peerPublicKey: Uint8Array,
  ) {}

  /** Feeds bytes; undefined while the proof is incomplete, else the bytes that follow it (maybe none). */
  push(chunk: Uint8Array): Uint8Array | undefined {
    const used = Math.min(chunk.length, networkKeyProofBytes - this.receivedBytes);
    this.received.set(chunk.subarray(0, used), this.receivedBytes);
    this.receivedBytes += used;
    const magicSeen = Math.min(this.receivedBytes, proofMagic.length);
    for (let index = 0; index < magicSeen; index += 1) {
      if (this.received[index] !== proofMagic[index]) throw new ProtocolError('peer sent no network key proof (it is not on this private network)');
    }
    if (this.receivedBytes < networkKeyProofBytes) return undefined;
    const expected = mac(this.networkKey, this.channelBinding, this.peerPublicKey);
    if (!timingSafeEqual(this.received.subarray(proofMagic.length), expected)) {
      throw new ProtocolError('network key proof does not match: the peer holds another network key');
    }
    return chunk.subarray(used);
  }
}
