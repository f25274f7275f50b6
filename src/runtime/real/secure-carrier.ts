import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ConnectError, type ByteCarrier, type SecureOptions, type Stream } from '../types.js';
import { authenticatedPeer, contextOf, SocketStream } from './tcp.js';

/** A carrier as the node:stream Duplex node:tls runs over. */
class CarrierDuplex extends Duplex {
  /** TLS records written in this tick, handed to the carrier together. */
  private pending: Buffer[] = [];

  constructor(private readonly carrier: ByteCarrier) {
    // node:tls takes this from the socket it wraps: the carrier's end must end the TLS socket too.
    super({ allowHalfOpen: false });
    carrier.start({
      onData: (chunk) => {
        // No way to pause a carrier: what it delivers is bounded by its own caps (a circuit's bytes).
        this.push(chunk);
      },
      onClose: (error) => {
        if (error) this.destroy(error);
        else this.push(null);
      },
    });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    // node:tls writes each record of up to 16 KiB on its own; one carrier write for a tick's
    // records makes one relay message of up to 64 KiB instead of one per record.
    if (this.pending.length === 0) process.nextTick(this.flush);
    this.pending.push(chunk);
    done();
  }

  private readonly flush = (): void => {
    const records = this.pending;
    this.pending = [];
    if (records.length > 0) this.carrier.write(records.length === 1 ? (records[0] as Buffer) : Buffer.concat(records));
  };

  override _final(done: (error?: Error | null) => void): void {
    this.flush();
    this.carrier.end();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.carrier.destroy();
    done(error);
  }
}

/**
 * TLS 1.3 over a carrier, with exactly the checks of a direct connection (tcp.ts): mutual
 * authentication with the two ends' own self-signed Ed25519 certificates, TLS 1.3 only, the
 * channel binding exported from this session. The carrier sees only TLS records.
 */
export function secure(carrier: ByteCarrier, options: SecureOptions): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const duplex = new CarrierDuplex(carrier);
    const secureContext = contextOf(options.identity);
    const socket =
      options.role === 'server'
        ? new tls.TLSSocket(duplex, { isServer: true, secureContext, requestCert: true, rejectUnauthorized: false })
        : tls.connect({ socket: duplex, secureContext, minVersion: 'TLSv1.3', rejectUnauthorized: false });
    let settled = false;
    const fail = (error: ConnectError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', failed);
      socket.on('error', () => {});
      socket.destroy();
      duplex.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new ConnectError(`the channel handshake over the carrier did not finish within ${options.timeoutMs} ms`, 'timeout')), options.timeoutMs);
    function failed(error: Error): void {
      fail(new ConnectError(`the channel handshake over the carrier failed: ${error.message}`, 'unreachable'));
    }
    socket.on('error', failed);
    // A carrier that ends before the handshake did.
    const closedEarly = (): void => fail(new ConnectError('the carrier closed during the channel handshake', 'unreachable'));
    socket.once('close', closedEarly);
    socket.once(options.role === 'server' ? 'secure' : 'secureConnect', () => {
      const peer = authenticatedPeer(socket);
      if (!peer) return fail(new ConnectError('the other end did not prove an Ed25519 key over TLS 1.3', 'unauthenticated'));
      settled = true;
      clearTimeout(timer);
      socket.off('close', closedEarly);
      // The stream attaches its own error listener before ours is removed, so none is missed.
      const stream = new SocketStream(socket, carrier.localAddress, carrier.remoteAddress, peer);
      socket.off('error', failed);
      resolve(stream);
    });
  });
}
