import net from 'node:net';
import {
  ConnectError,
  ListenError,
  formatAddress,
  type Address,
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

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) becomes `1.2.3.4`. */
export function normalizeHost(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice('::ffff:'.length) : host;
}

/** A `Stream` over a connected net.Socket. */
class SocketStream implements Stream {
  readonly localAddress: Address;
  readonly remoteAddress: Address;
  private handlers: StreamHandlers | undefined;
  private closed = false;
  private closeError: Error | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private corked = false;

  constructor(
    private readonly socket: net.Socket,
    local: Address,
    remote: Address,
  ) {
    this.localAddress = local;
    this.remoteAddress = remote;
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

export function listen(options: ListenOptions, onStream: (stream: Stream) => void): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      const addresses = socketAddresses(socket);
      if (!addresses) {
        socket.destroy();
        return;
      }
      onStream(new SocketStream(socket, addresses.local, addresses.remote));
    });
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
    let socket: net.Socket;
    try {
      socket = net.connect({ host: address.host, port: address.port, noDelay: true });
    } catch (error) {
      // Bad input (e.g. a port out of range) from a peer-supplied address: the peer is unreachable.
      reject(new ConnectError(`cannot connect to ${formatAddress(address)}: ${(error as Error).message}`, 'unreachable'));
      return;
    }
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
    socket.once('connect', () => {
      clearTimeout(timer);
      const addresses = socketAddresses(socket);
      if (!addresses) {
        socket.destroy();
        reject(new ConnectError(`connection to ${formatAddress(address)} closed at once`, 'unreachable'));
        return;
      }
      // The stream attaches its own error listener before ours is removed, so none is missed.
      const stream = new SocketStream(socket, addresses.local, addresses.remote);
      socket.off('error', failed);
      resolve(stream);
    });
  });
}
