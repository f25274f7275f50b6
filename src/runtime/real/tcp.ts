import net from 'node:net';
import tls from 'node:tls';
import { defaultHandshakeAdmissionLimits, HandshakeAdmission } from '../handshake-admission.js';
import { certificatePem, ed25519KeyOf, selfSignedCertificate } from './certificate.js';
import {
  ConnectError,
  ListenError,
  formatAddress,
  type Address,
  type ChannelIdentity,
  type ConnectOptions,
  type ListenOptions,
  type Listener,
  type Stream,
  type StreamHandlers,
} from '../types.js';

/** Idle time before TCP keep-alive probes start, so dead peers are eventually noticed. */
const keepAliveDelayMs = 10_000;
/** After our side has flushed and sent FIN, how long to wait for the peer's FIN before destroying. */
const endLingerMs = 10_000;

/** An accepted connection that has not finished TLS by then is dropped (node's own default is 120 s). */
export const defaultTlsHandshakeTimeoutMs = 5_000;
/** The exporter label of the channel binding (RFC 8446 §7.5); the context is empty. */
const channelBindingLabel = 'EXPORTER-butter-channel-binding';
const channelBindingBytes = 32;
const noExporterContext = Buffer.alloc(0);

/** A key pair's TLS context (its key and certificate, for either side of a handshake), built once per key pair. */
const contexts = new WeakMap<ChannelIdentity, tls.SecureContext>();

export function contextOf(identity: ChannelIdentity): tls.SecureContext {
  let context = contexts.get(identity);
  if (!context) {
    const key = identity.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const cert = certificatePem(selfSignedCertificate(identity.privateKey));
    context = tls.createSecureContext({ key, cert, minVersion: 'TLSv1.3' });
    contexts.set(identity, context);
  }
  return context;
}

/**
 * The verified end of a finished TLS handshake: TLS 1.3 and an Ed25519 certificate signed by
 * its own key (whose possession CertificateVerify proved), else undefined.
 */
export function authenticatedPeer(socket: tls.TLSSocket): { publicKey: Uint8Array; channelBinding: Uint8Array } | undefined {
  if (socket.getProtocol() !== 'TLSv1.3') return undefined;
  const publicKey = ed25519KeyOf(socket.getPeerX509Certificate());
  if (!publicKey) return undefined;
  return { publicKey, channelBinding: new Uint8Array(socket.exportKeyingMaterial(channelBindingBytes, channelBindingLabel, noExporterContext)) };
}

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) becomes `1.2.3.4`. */
export function normalizeHost(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice('::ffff:'.length) : host;
}

/** A `Stream` over an authenticated TLS socket. */
export class SocketStream implements Stream {
  readonly localAddress: Address;
  readonly remoteAddress: Address;
  readonly remotePublicKey: Uint8Array;
  readonly channelBinding: Uint8Array;
  private handlers: StreamHandlers | undefined;
  private closed = false;
  private closeError: Error | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private corked = false;

  constructor(
    private readonly socket: tls.TLSSocket,
    local: Address,
    remote: Address,
    peer: { publicKey: Uint8Array; channelBinding: Uint8Array },
  ) {
    this.localAddress = local;
    this.remoteAddress = remote;
    this.remotePublicKey = peer.publicKey;
    this.channelBinding = peer.channelBinding;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, keepAliveDelayMs);
    // Listen for errors from the start: an unhandled 'error' event would crash the process.
    // 'close' always follows 'error', so onClose is reported from 'close' alone.
    socket.on('error', (error) => {
      this.closeError ??= error;
    });
    socket.once('close', () => this.finish());
  }

  start(handlers: StreamHandlers): void {
    if (this.handlers) throw new Error('Stream.start called twice');
    this.handlers = handlers;
    if (this.closed) {
      // Closed before anyone listened: report it asynchronously, as a live close would be.
      process.nextTick(() => handlers.onClose(this.closeError));
      return;
    }
    // Attaching 'data' switches the socket to flowing mode, so bytes buffered so far arrive now.
    this.socket.on('data', (chunk: Buffer) => handlers.onData(chunk));
  }

  write(chunk: Uint8Array): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    // Frames written in one tick leave in one writev system call instead of one write each:
    // the system call, not the encoding, dominates the cost of a small request.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(chunk);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  bufferedBytes(): number {
    return this.socket.writableLength;
  }

  end(): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    // A peer that never closes its half would keep the socket half-open for ever.
    this.socket.once('finish', () => {
      if (this.closed) return;
      this.lingerTimer = setTimeout(() => this.socket.destroy(), endLingerMs);
      this.lingerTimer.unref();
    });
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.handlers?.onClose(this.closeError);
  }
}

/** The socket's addresses, or undefined when it is already closed (node clears them). */
function socketAddresses(socket: net.Socket): { local: Address; remote: Address } | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (localAddress === undefined || localPort === undefined || remoteAddress === undefined || remotePort === undefined) {
    return undefined;
  }
  return {
    local: { host: normalizeHost(localAddress), port: localPort },
    remote: { host: normalizeHost(remoteAddress), port: remotePort },
  };
}

const listenReasons: Record<string, ListenError['reason']> = {
  EADDRINUSE: 'in-use',
  ENOTFOUND: 'unknown-host',
  EAI_AGAIN: 'unknown-host',
  EADDRNOTAVAIL: 'not-local',
  EACCES: 'denied',
};

const listenReasonText: Record<ListenError['reason'], string> = {
  'in-use': 'the port is already in use',
  'unknown-host': 'the host name does not resolve',
  'not-local': 'the address is not one of this machine\'s',
  denied: 'permission denied (ports below 1024 need privileges)',
};

function listenError(options: ListenOptions, error: NodeJS.ErrnoException): Error {
  const reason = error.code === undefined ? undefined : listenReasons[error.code];
  if (!reason) return error;
  return new ListenError(`cannot listen on ${options.host}:${options.port}: ${listenReasonText[reason]} (${error.code})`, reason);
}

/**
 * The server side of TLS for one listener: accepted sockets go through the handshake
 * admission (few handshakes at once, quiet addresses first, a bounded queue), each under a
 * deadline from its acceptance; then the peer's certificate is checked. The TLS socket is
 * made here rather than by a tls.Server so that a socket that waits, or is refused, costs
 * no OpenSSL state and no CPU.
 */
class TlsAcceptor {
  private readonly admission = new HandshakeAdmission<net.Socket>(defaultHandshakeAdmissionLimits, () => performance.now());
  /** What to destroy to end each admitted connection before its stream exists: the TLS socket once it is made, else the raw one. */
  private readonly pending = new Map<net.Socket, { current: net.Socket; deadline: NodeJS.Timeout; whileWaiting: { error(): void; close(): void } }>();
  private yieldTimer: NodeJS.Timeout | undefined;
  private yieldTimerAt = Infinity;

  constructor(
    private readonly context: tls.SecureContext,
    private readonly handshakeTimeoutMs: number,
    private readonly onStream: (stream: Stream) => void,
  ) {}

  accept(raw: net.Socket): void {
    const arrival = this.admission.arrive(raw, normalizeHost(raw.remoteAddress ?? ''));
    if (arrival.dropped) this.end(arrival.dropped);
    if (arrival.outcome === 'refused') {
      raw.destroy();
      return;
    }
    const deadline = setTimeout(() => this.end(raw), this.handshakeTimeoutMs);
    // While it waits nothing is read (the server pauses on connect); an error only ends it.
    const whileWaiting = { error: () => raw.destroy(), close: () => this.left(raw) };
    this.pending.set(raw, { current: raw, deadline, whileWaiting });
    raw.on('error', whileWaiting.error);
    raw.once('close', whileWaiting.close);
    if (arrival.outcome === 'start') this.startTls(raw);
    else this.armYield();
  }

  private end(raw: net.Socket): void {
    this.pending.get(raw)?.current.destroy();
  }

  /** The connection's handshake is over (a stream, a failure, a close): its slot goes to whoever waits. */
  private left(raw: net.Socket): void {
    const held = this.pending.get(raw);
    if (!held) return;
    this.pending.delete(raw);
    clearTimeout(held.deadline);
    for (const next of this.admission.leave(raw)) this.startTls(next);
    this.armYield();
  }

  /** While connections wait, a handshake stalled past its turn gives its slot up to one from a quieter address. */
  private armYield(): void {
    const at = this.admission.nextYieldAt();
    if (at === undefined || at >= this.yieldTimerAt) return;
    if (this.yieldTimer) clearTimeout(this.yieldTimer);
    this.yieldTimerAt = at;
    this.yieldTimer = setTimeout(() => {
      this.yieldTimer = undefined;
      this.yieldTimerAt = Infinity;
      const overdue = this.admission.overdue();
      if (overdue) this.end(overdue);
      this.armYield();
    }, Math.max(0, at - performance.now()));
    this.yieldTimer.unref();
  }

  private startTls(raw: net.Socket): void {
    const held = this.pending.get(raw);
    if (!held) return;
    raw.off('error', held.whileWaiting.error);
    raw.off('close', held.whileWaiting.close);
    // Each handshake flight must leave at once, not wait for an ACK (Nagle) of the one before.
    raw.setNoDelay(true);
    // Ask for the client's certificate and check it ourselves: no CA vouches for a node, the key
    // (pinned by the node id) is what is verified.
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: this.context, requestCert: true, rejectUnauthorized: false });
    held.current = socket;
    // A plaintext peer, an old TLS version, a reset: drop it, nobody is told.
    const failed = (): void => {
      socket.destroy();
    };
    socket.on('error', failed);
    socket.once('close', () => this.left(raw));
    socket.once('secure', () => {
      this.left(raw);
      const addresses = socketAddresses(socket);
      const peer = addresses && authenticatedPeer(socket);
      if (!addresses || !peer) {
        socket.destroy();
        return;
      }
      // The stream attaches its own error listener before ours is removed, so none is missed.
      const stream = new SocketStream(socket, addresses.local, addresses.remote, peer);
      socket.off('error', failed);
      this.onStream(stream);
    });
  }
}

export function listen(options: ListenOptions, onStream: (stream: Stream) => void): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const acceptor = new TlsAcceptor(contextOf(options.identity), options.handshakeTimeoutMs ?? defaultTlsHandshakeTimeoutMs, onStream);
    // Paused: a socket waiting for a handshake slot is not read, so it costs no CPU.
    const server = net.createServer({ pauseOnConnect: true }, (raw) => acceptor.accept(raw));
    const failed = (error: NodeJS.ErrnoException) => reject(listenError(options, error));
    server.once('error', failed);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', failed);
      // Accept failures (e.g. EMFILE) after this point must not crash the process.
      server.on('error', () => {});
      const bound = server.address() as net.AddressInfo;
      let closing: Promise<void> | undefined;
      resolve({
        address: { host: normalizeHost(bound.address), port: bound.port },
        close() {
          // server.close() stops accepting at once; its callback would also wait for every open
          // connection to end, and those belong to the node, so do not wait for them.
          closing ??= new Promise((done) => {
            server.close();
            setImmediate(done);
          });
          return closing;
        },
      });
    });
  });
}

function connectFailure(error: NodeJS.ErrnoException, address: Address): ConnectError {
  // With autoSelectFamily, node may report an AggregateError carrying the per-address errors.
  const inner = error instanceof AggregateError ? (error.errors[0] as NodeJS.ErrnoException | undefined) : undefined;
  const code = error.code ?? inner?.code;
  const reason = code === 'ECONNREFUSED' ? 'refused' : code === 'ETIMEDOUT' ? 'timeout' : 'unreachable';
  return new ConnectError(`cannot connect to ${formatAddress(address)}: ${code ?? error.message}`, reason);
}

export function connect(address: Address, options: ConnectOptions): Promise<Stream> {
  return new Promise((resolve, reject) => {
    let socket: tls.TLSSocket;
    try {
      socket = tls.connect({
        host: address.host,
        port: address.port,
        secureContext: contextOf(options.identity),
        minVersion: 'TLSv1.3',
        // The server's certificate is checked below, against no CA: its key is the identity.
        rejectUnauthorized: false,
      });
    } catch (error) {
      // Bad input (e.g. a port out of range) from a peer-supplied address: the peer is unreachable.
      reject(new ConnectError(`cannot connect to ${formatAddress(address)}: ${(error as Error).message}`, 'unreachable'));
      return;
    }
    // Each handshake flight must leave at once, not wait for an ACK (Nagle) of the one before.
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.off('error', failed);
      socket.on('error', () => {});
      socket.destroy();
      reject(new ConnectError(`connecting to ${formatAddress(address)} timed out after ${options.timeoutMs} ms`, 'timeout'));
    }, options.timeoutMs);
    function failed(error: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(connectFailure(error, address));
    }
    socket.on('error', failed);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const addresses = socketAddresses(socket);
      const peer = addresses && authenticatedPeer(socket);
      if (!addresses || !peer) {
        socket.off('error', failed);
        socket.on('error', () => {});
        socket.destroy();
        const why = addresses ? 'did not prove an Ed25519 key over TLS 1.3' : 'closed at once';
        reject(new ConnectError(`${formatAddress(address)} ${why}`, addresses ? 'unauthenticated' : 'unreachable'));
        return;
      }
      // The stream attaches its own error listener before ours is removed, so none is missed.
      const stream = new SocketStream(socket, addresses.local, addresses.remote, peer);
      socket.off('error', failed);
      resolve(stream);
    });
  });
}
