import { ProtocolError } from '../errors.js';

/** Bytes of the big-endian length prefix in front of every frame. */
export const frameHeaderBytes = 4;

/** Prefixes `body` with its length. */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(frameHeaderBytes + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, frameHeaderBytes);
  return frame;
}

/**
 * Sans-IO decoder for length-prefixed frames. It holds at most one partial
 * frame (bounded by `maxFrameBytes`), so a peer cannot make it buffer more.
 * The first frame can have a lower bound of its own: it is the handshake, so a
 * peer that has not said who it is cannot make the node hold a large frame.
 * A length of zero or above the maximum is a protocol error: the stream is
 * out of step and the caller must close it.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private bufferedBytes = 0;
  private expectedBodyBytes = -1;
  private failed = false;
  private firstFrame = true;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly maxFirstFrameBytes = maxFrameBytes,
  ) {}

  /** Feeds received bytes; returns the complete frame bodies they finish, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw new ProtocolError('frame decoder already failed');
    const bodies: Uint8Array[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    while (true) {
      if (this.expectedBodyBytes < 0) {
        if (this.bufferedBytes < frameHeaderBytes) break;
        const header = this.take(frameHeaderBytes);
        const length = ((header[0] as number) * 0x1000000 + (((header[1] as number) << 16) | ((header[2] as number) << 8) | (header[3] as number))) >>> 0;
        const maxBytes = this.firstFrame ? Math.min(this.maxFirstFrameBytes, this.maxFrameBytes) : this.maxFrameBytes;
        if (length === 0 || length > maxBytes) {
          this.failed = true;
          throw new ProtocolError(`${this.firstFrame ? 'first ' : ''}frame length ${length} outside 1..${maxBytes}`);
        }
        this.firstFrame = false;
        this.expectedBodyBytes = length;
      }
      if (this.bufferedBytes < this.expectedBodyBytes) break;
      bodies.push(this.take(this.expectedBodyBytes));
      this.expectedBodyBytes = -1;
    }
    return bodies;
  }

  /** Bytes held for a frame not yet complete. */
  pendingBytes(): number {
    return this.bufferedBytes;
  }

  /** Removes `count` buffered bytes; copies only when they span several chunks. */
  private take(count: number): Uint8Array {
    const first = this.chunks[0] as Uint8Array;
    this.bufferedBytes -= count;
    if (first.length >= count) {
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const joined = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0] as Uint8Array;
      const used = Math.min(chunk.length, count - filled);
      joined.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return joined;
  }
}
