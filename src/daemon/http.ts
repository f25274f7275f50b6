import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidConfigError } from '../errors.js';

/** Listens on 127.0.0.1 only; a taken port is a configuration error that names what wanted it. */
export async function listenOnLoopback(server: Server, port: number, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new InvalidConfigError(`cannot listen on 127.0.0.1:${port} for the ${what}: the port is already in use (EADDRINUSE)`)
          : error,
      );
    };
    server.once('error', failed);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', failed);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting, then ends every connection (an upload in flight included). */
export function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}
