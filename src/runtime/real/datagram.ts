import dgram from 'node:dgram';
import type { Address, DatagramOptions, DatagramSocket } from '../types.js';

/**
 * A UDP socket joined to a multicast group. Address reuse lets several nodes
 * on one machine share the group port; loopback lets them hear each other;
 * TTL 1 keeps announcements on the local network. Without a group, a socket of
 * its own for unicast, bound to the interface when one is given.
 */
export function openDatagramSocket(options: DatagramOptions): Promise<DatagramSocket> {
  const { port, multicastGroup, multicastInterface } = options;
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: multicastGroup !== undefined });
    let closed = false;
    let handler: ((data: Uint8Array, from: Address) => void) | undefined;
    const close = (): void => {
      if (closed) return;
      closed = true;
      try {
        socket.close();
      } catch {
        // Already closed by node (e.g. after a failed bind).
      }
    };
    const ignore = (): void => {};

    // Before binding, an error (e.g. EADDRINUSE, EACCES) fails the open.
    const failed = (error: Error): void => {
      close();
      reject(error);
    };
    socket.once('error', failed);
    socket.on('message', (message, info) => handler?.(message, { host: info.address, port: info.port }));

    const afterBind = (): void => {
      socket.off('error', failed);
      // From now on socket errors (send failures and the like) are dropped: discovery is best effort.
      socket.on('error', ignore);
      try {
        if (multicastGroup !== undefined) {
          socket.addMembership(multicastGroup, multicastInterface);
          socket.setMulticastLoopback(true);
          socket.setMulticastTTL(1);
          if (multicastInterface !== undefined) socket.setMulticastInterface(multicastInterface);
        }
      } catch (error) {
        close();
        const where = multicastInterface === undefined ? '' : ` on interface ${multicastInterface}`;
        reject(new Error(`cannot join multicast group ${multicastGroup}${where}: ${(error as Error).message}`, { cause: error }));
        return;
      }
      const bound = socket.address();
      const send = (data: Uint8Array, to: Address): void => {
        if (closed) return;
        try {
          // The callback receives send errors instead of an 'error' event.
          socket.send(data, to.port, to.host, ignore);
        } catch {
          // Bad addresses throw synchronously; a datagram to one is simply lost.
        }
      };
      resolve({
        localAddress: { host: bound.address, port: bound.port },
        onMessage(next) {
          handler = next;
        },
        sendToGroup: (data) => {
          if (multicastGroup === undefined) throw new TypeError('this datagram socket has no multicast group');
          send(data, { host: multicastGroup, port: bound.port });
        },
        send,
        close,
      });
    };
    try {
      // Group members bind every interface (the group's datagrams are addressed to the group); a unicast socket only its own.
      socket.bind({ port, address: multicastGroup === undefined ? (multicastInterface ?? '0.0.0.0') : '0.0.0.0' }, afterBind);
    } catch (error) {
      failed(error as Error);
    }
  });
}
