import { createHash } from 'node:crypto';
import { ConnectError, type ByteCarrier, type SecureOptions, type Stream, type StreamHandlers, type TimerHandle } from '../types.js';

/**
 * What the simulator's channel handshake over a carrier sends each way: a ticket the
 * network issued to this end's identity, padded to about half of what TLS 1.3 with two
 * Ed25519 certificates sends (measured on the real runtime: 645 bytes from the client,
 * 1,568 from the server with its session tickets), so a circuit's byte cap is spent about
 * as on the real runtime.
 */
export const simulatedHandshakeBytes = 1_100;
const magic = Uint8Array.of(0x42, 0x53, 0x48, 0x01); // "BSH", version 1
const ticketBytes = 16;

interface Ticket {
  readonly publicKey: Uint8Array;
  readonly secret: Uint8Array;
}

/**
 * The simulator's stand-in for TLS certificates over a carrier: the network (trusted
 * code, which protocol code cannot reach) hands each end a single-use ticket bound to
 * its identity and a secret. The other end redeems the ticket for the key and the secret,
 * so the key a stream reports is the far end's own, whatever carried the bytes, and the
 * binding (a hash of the two secrets) is known to the two ends only. A carrier that
 * replays or invents a ticket gets nothing; one that answers with its own ticket is seen
 * with its own key, as a TLS man in the middle would be. Integrity of later bytes is not
 * modelled: the simulator runs honest carriers only.
 */
export class ChannelTickets {
  private readonly tickets = new Map<string, Ticket>();

  constructor(private readonly draw: (length: number) => Uint8Array) {}

  get size(): number {
    return this.tickets.size;
  }

  issue(publicKey: Uint8Array): { ticket: Uint8Array; secret: Uint8Array } {
    const ticket = this.draw(ticketBytes);
    const secret = this.draw(32);
    this.tickets.set(hex(ticket), { publicKey, secret });
    return { ticket, secret };
  }

  /** The identity and secret of a ticket, once; undefined for an unknown or spent one. */
  redeem(ticket: Uint8Array): Ticket | undefined {
    const key = hex(ticket);
    const found = this.tickets.get(key);
    this.tickets.delete(key);
    return found;
  }

  forget(ticket: Uint8Array): void {
    this.tickets.delete(hex(ticket));
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The secured stream: the carrier's bytes after the handshake, with the redeemed key and binding. */
class SimSecuredStream implements Stream {
  private handlers: StreamHandlers | undefined;
  private readonly early: Uint8Array[] = [];
  private closedWith: { error: Error | undefined } | undefined;

  constructor(
    private readonly carrier: ByteCarrier,
    readonly remotePublicKey: Uint8Array,
    readonly channelBinding: Uint8Array,
    private readonly onFinished: () => void,
  ) {}

  get localAddress() {
    return this.carrier.localAddress;
  }

  get remoteAddress() {
    return this.carrier.remoteAddress;
  }

  start(handlers: StreamHandlers): void {
    if (this.handlers) throw new Error('stream already started');
    this.handlers = handlers;
    for (const chunk of this.early.splice(0)) handlers.onData(chunk);
    if (this.closedWith) handlers.onClose(this.closedWith.error);
  }

  /** Bytes from the carrier; held until `start` (the carrier's own caps bound them). */
  received(chunk: Uint8Array): void {
    if (this.closedWith) return;
    if (this.handlers) this.handlers.onData(chunk);
    else this.early.push(chunk);
  }

  closed(error: Error | undefined): void {
    if (this.closedWith) return;
    this.closedWith = { error };
    this.onFinished();
    this.handlers?.onClose(error);
  }

  write(chunk: Uint8Array): void {
    this.carrier.write(chunk);
  }

  bufferedBytes(): number {
    return this.carrier.bufferedBytes();
  }

  end(): void {
    this.carrier.end();
  }

  destroy(): void {
    this.carrier.destroy();
    this.closed(undefined);
  }
}

/**
 * The simulator's `Runtime.secure`: each end sends its ticket, redeems the other's, and
 * the carrier becomes a stream whose key is the far end's own (see `ChannelTickets`).
 */
export function secureCarrier(tickets: ChannelTickets, setTimer: (delayMs: number, callback: () => void) => TimerHandle, carrier: ByteCarrier, options: SecureOptions): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const own = tickets.issue(options.identity.publicKey);
    let hello = new Uint8Array(0);
    let stream: SimSecuredStream | undefined;
    let failed = false;
    const fail = (error: ConnectError): void => {
      if (failed || stream) return;
      failed = true;
      timer.cancel();
      tickets.forget(own.ticket);
      carrier.destroy();
      reject(error);
    };
    const timer = setTimer(options.timeoutMs, () => fail(new ConnectError(`the channel handshake over the carrier did not finish within ${options.timeoutMs} ms`, 'timeout')));
    const handshake = (chunk: Uint8Array): void => {
      const needed = simulatedHandshakeBytes - hello.length;
      hello = Buffer.concat([hello, chunk.subarray(0, needed)]);
      if (hello.length < simulatedHandshakeBytes) return;
      const peer = Buffer.compare(hello.subarray(0, magic.length), magic) === 0 ? tickets.redeem(hello.subarray(magic.length, magic.length + ticketBytes)) : undefined;
      if (!peer) return fail(new ConnectError('the other end did not prove a key the network issued', 'unauthenticated'));
      timer.cancel();
      const [clientSecret, serverSecret] = options.role === 'client' ? [own.secret, peer.secret] : [peer.secret, own.secret];
      const binding = new Uint8Array(createHash('sha256').update(clientSecret).update(serverSecret).digest());
      stream = new SimSecuredStream(carrier, peer.publicKey, binding, () => tickets.forget(own.ticket));
      if (chunk.length > needed) stream.received(chunk.subarray(needed));
      resolve(stream);
    };
    carrier.start({
      onData: (chunk) => (stream ? stream.received(chunk) : handshake(chunk)),
      onClose: (error) => (stream ? stream.closed(error) : fail(new ConnectError('the carrier closed during the channel handshake', 'unreachable'))),
    });
    const sent = new Uint8Array(simulatedHandshakeBytes);
    sent.set(magic);
    sent.set(own.ticket, magic.length);
    carrier.write(sent);
  });
}
