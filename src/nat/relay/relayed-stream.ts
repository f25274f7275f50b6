import type { Address, ByteCarrier, StreamHandlers } from '../../runtime/types.js';
import { maxCircuitChunkBytes } from '../messages.js';

/** How a relayed stream's end sends: one chunk at a time, in order, to the relay. */
export interface CircuitLink {
  send(sequence: number, chunk: Uint8Array): void;
  /** Tells the relay (and so the other end) the circuit is closed. */
  close(): void;
}

/**
 * One end of a circuit through an Ambassador, as a `ByteCarrier`: the two ends
 * run TLS over it (`Runtime.secure`), and the node's connection (network-key
 * proof, HELLO, requests) runs inside that, so the relay carries ciphertext.
 */
export class RelayedStream implements ByteCarrier {
  private handlers: StreamHandlers | undefined;
  private readonly early: Uint8Array[] = [];
  private earlyBytes = 0;
  private nextSendSequence = 0;
  private nextReceiveSequence = 0;
  private closed = false;

  constructor(
    readonly localAddress: Address,
    readonly remoteAddress: Address,
    private readonly link: CircuitLink,
    /** Bytes held for a stream not yet started; the circuit's own byte cap bounds it too. */
    private readonly maxEarlyBytes: number,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    for (const chunk of this.early.splice(0)) handlers.onData(chunk);
    this.earlyBytes = 0;
    if (this.closed) handlers.onClose();
  }

  write(chunk: Uint8Array): void {
    if (this.closed) return;
    for (let offset = 0; offset < chunk.length; offset += maxCircuitChunkBytes) {
      this.link.send(this.nextSendSequence++, chunk.subarray(offset, offset + maxCircuitChunkBytes));
    }
  }

  bufferedBytes(): number {
    return 0; // handed straight to the connection to the relay, which has its own bound
  }

  end(): void {
    this.destroy();
  }

  destroy(): void {
    if (this.closed) return;
    this.link.close();
    this.closedByPeer();
  }

  /** Bytes the relay forwarded from the other end; a gap in the sequence breaks the circuit. */
  received(sequence: number, chunk: Uint8Array): void {
    if (this.closed) return;
    if (sequence !== this.nextReceiveSequence) return this.fail(new Error(`circuit message ${sequence} arrived, expected ${this.nextReceiveSequence}`));
    this.nextReceiveSequence++;
    if (this.handlers) return this.handlers.onData(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes > this.maxEarlyBytes) return this.fail(new Error('circuit buffered too much before the stream started'));
    this.early.push(chunk);
  }

  /** The relay or the other end closed the circuit. */
  closedByPeer(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.onClose(error);
  }

  private fail(error: Error): void {
    this.link.close();
    this.closedByPeer(error);
  }
}
