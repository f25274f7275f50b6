/**
 * The server half of bench/transport.ts, run in its own process (forked) so
 * that server and client do not share one event loop. `butter`: a Butter node
 * (TLS, on a private network) with an echo route; `raw`: a node:net
 * length-prefixed echo server writing each reply as it comes; `raw-grouped`:
 * the same, grouping the writes of one tick; `tls-grouped`: `raw-grouped` over
 * node:tls 1.3, asking clients for a certificate and presenting an Ed25519 one
 * as Butter does. Tells the parent its port, answers 'cpu' with its CPU time,
 * and exits when the parent disconnects.
 */
import net from 'node:net';
import tls from 'node:tls';
import { createNode } from '../src/index.js';
import { frameReader, groupedWriter, tlsOptions } from './raw-framing.js';

export type ServerMode = 'butter' | 'raw' | 'raw-grouped' | 'tls-grouped';
export type ServerMessage = { port: number } | { cpuMicros: number };

async function startButter(networkKey: string): Promise<number> {
  // The per-peer request rate limit (5,000 a second by default) is a bound against abuse; one
  // benchmark client goes far past it, so it is lifted here to measure the channel itself.
  const node = await createNode({ host: '127.0.0.1', port: 0, memoryMB: 32, networkKey, transport: { maxRequestsPerSecond: 1e9, requestBurst: 1e9 } });
  node.route('echo', (_overlay, payload) => payload);
  await node.spawn();
  return node.address.port;
}

function startRaw(grouped: boolean, overTls: boolean): Promise<number> {
  const echo = (socket: net.Socket): void => {
    socket.setNoDelay(true); // as Butter's sockets
    // The frame already carries the request id: the echo is the frame itself.
    const write = grouped ? groupedWriter(socket) : (frame: Uint8Array) => socket.write(frame);
    socket.on('data', frameReader(write));
    socket.on('error', () => socket.destroy());
  };
  const server = overTls
    ? tls.createServer({ ...tlsOptions(), requestCert: true, rejectUnauthorized: false }, echo).on('tlsClientError', (_error, socket) => socket.destroy())
    : net.createServer(echo);
  return new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve((server.address() as net.AddressInfo).port)));
}

const mode = process.argv[2] as ServerMode;
if (!process.send) throw new Error('transport-server must be forked by bench/transport.js');
const port =
  mode === 'butter'
    ? await startButter(process.argv[3] as string)
    : mode === 'raw' || mode === 'raw-grouped' || mode === 'tls-grouped'
      ? await startRaw(mode !== 'raw', mode === 'tls-grouped')
      : NaN;
if (Number.isNaN(port)) throw new Error(`unknown server mode ${mode}`);
process.on('message', (message) => {
  if (message !== 'cpu') return;
  const usage = process.cpuUsage();
  process.send?.({ cpuMicros: usage.user + usage.system } satisfies ServerMessage);
});
process.on('disconnect', () => process.exit(0));
process.send({ port } satisfies ServerMessage);
