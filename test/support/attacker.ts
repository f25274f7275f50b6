import type tls from 'node:tls';
import { type Identity } from '../../src/node/identity.js';
import type { Address } from '../../src/runtime/types.js';
import { encodeEnvelopeFrame } from '../../src/transport/envelope.js';
import { frameHeaderBytes } from '../../src/transport/frames.js';
import { connectTls, credentialsContext, freshIdentity } from './channel.js';

/**
 * What each attacking connection does once TLS is up: nothing at all; a HELLO with its own
 * fresh key and listen port 0, then nothing; or that HELLO and then all but the last byte
 * of a 1 MiB frame, held.
 */
export type AttackMode = 'silent' | 'idle-hello' | 'partial-frame';

export interface AttackOptions {
  target: Address;
  mode: AttackMode;
  connections: number;
  /** Connections from one source address (127.0.x.y, all on lo): below the node's per-address caps, so those are not what is tested. */
  perSourceAddress: number;
  /** Connections opened at once: what the listen backlog takes without dropping SYNs. */
  batchSize: number;
  /**
   * A connection the node closes (or refuses) is opened again after this pause while the
   * attack runs, so the attack holds its connections past any deadline; undefined: never.
   */
  reopenAfterMs: number | undefined;
}

/** A connection attempt gives up after this, so a node that never answers cannot stall the attack. */
const attemptTimeoutMs = 2_000;
const partialFrameBodyBytes = 1024 * 1024;

/** The `index`-th source address on loopback: 127.0.1.1, 127.0.1.2, … 127.0.1.250, 127.0.2.1, … */
export function loopbackSource(index: number): string {
  return `127.0.${1 + Math.floor(index / 250)}.${1 + (index % 250)}`;
}

/** A HELLO as a stranger sends it: its own key, the node's network id, no listen address. */
function helloFrame(identity: Identity): Uint8Array {
  return encodeEnvelopeFrame({ kind: 'hello', nodeId: identity.nodeId, publicKey: identity.publicKey, networkId: 'butter', listenAddresses: [], observed: undefined });
}

/** A frame header announcing a 1 MiB body, and that body short of its last byte: the frame never completes. */
function partialFrame(): Uint8Array {
  const bytes = new Uint8Array(frameHeaderBytes + partialFrameBodyBytes - 1);
  new DataView(bytes.buffer).setUint32(0, partialFrameBodyBytes);
  return bytes;
}

/**
 * Many hostile connections to one node, each a TLS client with a fresh Ed25519 identity of
 * its own (minted up front: minting during the attack would slow the attacker, not the node).
 */
export class Attacker {
  private readonly sockets = new Set<tls.TLSSocket>();
  private readonly identities: Array<{ identity: Identity; secureContext: tls.SecureContext }>;
  private readonly frame = partialFrame();
  private running = true;
  /** Connections the node accepted (TLS done), in all, reopenings included. */
  opened = 0;
  /** Attempts that failed or timed out before TLS was done. */
  failedAttempts = 0;
  /** Connections the node closed after TLS. */
  closedByTarget = 0;

  constructor(private readonly options: AttackOptions) {
    this.identities = Array.from({ length: options.connections }, () => {
      const identity = freshIdentity();
      return { identity, secureContext: credentialsContext(identity) };
    });
  }

  get openNow(): number {
    return this.sockets.size;
  }

  /** Opens every connection, a batch at a time; resolves once each has been tried once (and its bytes sent). */
  async start(): Promise<void> {
    const { connections, batchSize } = this.options;
    for (let first = 0; first < connections && this.running; first += batchSize) {
      const slots = Array.from({ length: Math.min(batchSize, connections - first) }, (_, offset) => first + offset);
      await Promise.all(slots.map((slot) => this.open(slot)));
    }
  }

  /** Closes every connection (and stops opening more). */
  stop(): void {
    this.running = false;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private async open(slot: number): Promise<void> {
    const { identity, secureContext } = this.identities[slot] as { identity: Identity; secureContext: tls.SecureContext };
    let socket: tls.TLSSocket;
    try {
      const localAddress = loopbackSource(Math.floor(slot / this.options.perSourceAddress));
      ({ socket } = await connectTls(this.options.target, { identity, timeoutMs: attemptTimeoutMs, tls: { localAddress, secureContext } as tls.ConnectionOptions }));
    } catch {
      this.failedAttempts += 1;
      this.reopenLater(slot);
      return;
    }
    if (!this.running) {
      socket.destroy();
      return;
    }
    this.opened += 1;
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    // Whatever the node says is read and dropped: only what it keeps of ours matters.
    socket.resume();
    const closed = new Promise<void>((resolve) => socket.once('close', resolve));
    void closed.then(() => {
      if (!this.sockets.delete(socket)) return;
      this.closedByTarget += 1;
      this.reopenLater(slot);
    });
    if (this.options.mode === 'silent') return;
    socket.write(helloFrame(identity));
    if (this.options.mode === 'partial-frame') {
      // Sent in full or cut off by the node: either way the batch moves on.
      const flushed = new Promise<void>((resolve) => socket.write(this.frame, () => resolve()));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([flushed, closed, new Promise((resolve) => (timer = setTimeout(resolve, attemptTimeoutMs)))]);
      clearTimeout(timer);
    }
  }

  private reopenLater(slot: number): void {
    const { reopenAfterMs } = this.options;
    if (!this.running || reopenAfterMs === undefined) return;
    setTimeout(() => {
      if (this.running) void this.open(slot);
    }, reopenAfterMs);
  }
}
