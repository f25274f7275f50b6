/**
 * 1 KiB request/response over loopback with 64 requests in flight: Butter's
 * transport (two nodes on the real runtime: TLS 1.3, a private network) against
 * a raw node:tls length-prefixed echo with grouped writes, the ceiling for an
 * authenticated channel on this machine, and against raw node:net (ungrouped
 * and grouped), which shows what TLS itself costs. Then connection set-up:
 * Butter's authenticated connections (TLS, network key proof, HELLO) per second
 * against raw mutual TLS 1.3 handshakes with the same certificates. Each server
 * runs in a forked process so that it does not share an event loop with its client.
 *
 *   node dist/bench/transport.js [--seconds 10] [--warmup-seconds 1] [--rounds 1] [--handshake-seconds 5]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createNode } from '../src/index.js';
import { createIdentity } from '../src/node/identity.js';
import { createRealRuntime } from '../src/runtime/real.js';
import { numberOption, report, Reservoir, round } from './common.js';
import { encodeRawFrame, frameReader, groupedWriter, lengthBytes, requestIdBytes, tlsOptions } from './raw-framing.js';
import type { ServerMessage, ServerMode } from './transport-server.js';

const loopback = '127.0.0.1';
const concurrency = 64;
const payloadBytes = 1024;
const targetRatio = 0.6;
/** Connections being set up at once in the handshake measurement. */
const handshakeConcurrency = 8;
/** Butter's server and clients share this private network's key. */
const networkKey = randomBytes(32).toString('hex');

/** What one subject (Butter or raw) adds up over its rounds. */
class Totals {
  readonly latencies = new Reservoir();
  completed = 0;
  measuredMs = 0;
  clientCpuMicros = 0;
  serverCpuMicros = 0;
  cpuElapsedMicros = 0;
}

/** One round's window: requests sent and answered inside it are counted. */
class Measurement {
  readonly measureFromMs: number;
  readonly measureUntilMs: number;
  completed = 0;

  constructor(
    private readonly totals: Totals,
    warmupMs: number,
    durationMs: number,
  ) {
    this.measureFromMs = performance.now() + warmupMs;
    this.measureUntilMs = this.measureFromMs + durationMs;
  }

  /** Whether another request may start. */
  get running(): boolean {
    return performance.now() < this.measureUntilMs;
  }

  record(startedAtMs: number, endedAtMs: number): void {
    if (startedAtMs < this.measureFromMs || endedAtMs > this.measureUntilMs) return;
    this.completed += 1;
    this.totals.latencies.add(endedAtMs - startedAtMs);
  }
}

interface ServerProcess {
  port: number;
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

function startServer(mode: ServerMode): Promise<ServerProcess> {
  const child = fork(fileURLToPath(new URL('./transport-server.js', import.meta.url)), [mode, networkKey], { stdio: 'inherit' });
  const nextMessage = (): Promise<ServerMessage> =>
    new Promise((resolve, reject) => {
      const exited = (code: number | null): void => reject(new Error(`${mode} server exited with code ${code}`));
      child.once('exit', exited);
      child.once('message', (message) => {
        child.off('exit', exited);
        resolve(message as ServerMessage);
      });
    });
  return nextMessage().then((ready) => {
    if (!('port' in ready)) throw new Error(`${mode} server sent no port`);
    return {
      port: ready.port,
      async cpuMicros() {
        const reply = nextMessage();
        child.send('cpu');
        const message = await reply;
        if (!('cpuMicros' in message)) throw new Error(`${mode} server sent no CPU time`);
        return message.cpuMicros;
      },
      stop: () => stopChild(child),
    };
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.disconnect();
  return exited;
}

function clientCpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Adds the CPU time client and server spend during the measured window to `totals`. */
async function measureCpu(server: ServerProcess, measurement: Measurement, totals: Totals): Promise<void> {
  const waitUntil = (timeMs: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, timeMs - performance.now())));
  await waitUntil(measurement.measureFromMs);
  const [clientStart, serverStart, startedAtMs] = [clientCpuMicros(), await server.cpuMicros(), performance.now()];
  await waitUntil(measurement.measureUntilMs);
  const [clientEnd, serverEnd, endedAtMs] = [clientCpuMicros(), await server.cpuMicros(), performance.now()];
  totals.clientCpuMicros += clientEnd - clientStart;
  totals.serverCpuMicros += serverEnd - serverStart;
  totals.cpuElapsedMicros += (endedAtMs - startedAtMs) * 1000;
}

/** Two Butter nodes: this process is the client, keeping `concurrency` requests outstanding. */
async function loadButter(port: number, payload: Uint8Array, openWindow: () => Measurement): Promise<Measurement> {
  const client = await createNode({ host: loopback, port: 0, memoryMB: 32, networkKey });
  await client.spawn();
  const server = { host: loopback, port };
  await client.request(server, 'echo', payload); // connect and handshake outside the clock
  const window = openWindow();
  const worker = async (): Promise<void> => {
    while (window.running) {
      const startedAtMs = performance.now();
      const reply = await client.request(server, 'echo', payload);
      if (reply.length !== payload.length) throw new Error(`echo returned ${reply.length} bytes`);
      window.record(startedAtMs, performance.now());
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await client.stop();
  return window;
}

/** A raw TLS 1.3 client with an Ed25519 certificate, connected. */
async function connectTls(port: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: loopback, port, ...options, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  socket.setNoDelay(true);
  return socket;
}

/** A raw node:net or node:tls client keeping `concurrency` requests outstanding, matched by request id. */
async function loadRaw(port: number, payload: Uint8Array, openWindow: () => Measurement, grouped: boolean, overTls: boolean): Promise<Measurement> {
  let socket: net.Socket;
  if (overTls) {
    socket = await connectTls(port, tlsOptions());
  } else {
    socket = net.connect({ host: loopback, port, noDelay: true });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  }
  const window = openWindow();
  const startedAt = new Map<number, number>();
  let nextRequestId = 0;
  const write = grouped ? groupedWriter(socket) : (frame: Uint8Array) => socket.write(frame);
  const send = (): void => {
    const requestId = (nextRequestId = (nextRequestId + 1) >>> 0);
    startedAt.set(requestId, performance.now());
    write(encodeRawFrame(requestId, payload));
  };
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on(
      'data',
      frameReader((frame) => {
        const requestId = frame.readUInt32BE(lengthBytes);
        const startedAtMs = startedAt.get(requestId);
        if (startedAtMs === undefined) return reject(new Error(`reply to unknown request ${requestId}`));
        if (frame.length !== lengthBytes + requestIdBytes + payload.length) return reject(new Error(`echo returned ${frame.length} bytes`));
        startedAt.delete(requestId);
        window.record(startedAtMs, performance.now());
        if (window.running) send();
        else if (startedAt.size === 0) resolve();
      }),
    );
    for (let index = 0; index < concurrency; index++) send();
  });
  socket.destroy();
  return window;
}

/** Runs one round against a fresh server process; returns its requests per second. */
async function measureRound(mode: ServerMode, totals: Totals, warmupMs: number, durationMs: number): Promise<number> {
  const payload = new Uint8Array(payloadBytes).map((_, index) => index);
  const server = await startServer(mode);
  try {
    let cpu!: Promise<void>;
    // The window opens once connected, so connection set-up is not measured; CPU sampling follows it.
    const openWindow = (): Measurement => {
      const window = new Measurement(totals, warmupMs, durationMs);
      cpu = measureCpu(server, window, totals);
      return window;
    };
    const window =
      mode === 'butter'
        ? await loadButter(server.port, payload, openWindow)
        : await loadRaw(server.port, payload, openWindow, mode !== 'raw', mode === 'tls-grouped');
    await cpu;
    totals.completed += window.completed;
    totals.measuredMs += durationMs;
    return window.completed / (durationMs / 1000);
  } finally {
    await server.stop();
  }
}

/**
 * Connections set up per second against a fresh server, `handshakeConcurrency` at a time:
 * `butter`, Butter nodes connecting (TLS, key proof, both HELLOs) and closing the connection
 * again; `butter-tls`, the real runtime's TLS connect alone (certificate checked, channel
 * binding derived) to a Butter node, destroyed at once; `tls`, raw TLS clients finishing the
 * mutual handshake and destroying the socket.
 */
async function measureHandshakes(mode: 'butter' | 'butter-tls' | 'tls', durationMs: number): Promise<number> {
  const server = await startServer(mode === 'tls' ? 'tls-grouped' : 'butter');
  const address = { host: loopback, port: server.port };
  let completed = 0;
  try {
    if (mode === 'butter') {
      const clients = await Promise.all(
        Array.from({ length: handshakeConcurrency }, async () => {
          const client = await createNode({ host: loopback, port: 0, memoryMB: 16, networkKey, services: {}, discovery: { enabled: false } });
          await client.spawn();
          return client;
        }),
      );
      const stopAt = performance.now() + durationMs;
      await Promise.all(
        clients.map(async (client) => {
          while (performance.now() < stopAt) {
            const peer = await client.connect(address);
            client.disconnectIfSilent(peer.id, 0); // closes it: the next connect sets up a new one
            completed += 1;
          }
        }),
      );
      await Promise.all(clients.map((client) => client.stop({ graceful: false })));
    } else if (mode === 'butter-tls') {
      const runtime = createRealRuntime();
      const identity = createIdentity(runtime.random);
      const stopAt = performance.now() + durationMs;
      await Promise.all(
        Array.from({ length: handshakeConcurrency }, async () => {
          while (performance.now() < stopAt) {
            (await runtime.connect(address, { timeoutMs: 5_000, identity })).destroy();
            completed += 1;
          }
        }),
      );
    } else {
      // One context for every connection, as Butter keeps one per node.
      const options = { secureContext: tls.createSecureContext(tlsOptions()) };
      const stopAt = performance.now() + durationMs;
      await Promise.all(
        Array.from({ length: handshakeConcurrency }, async () => {
          while (performance.now() < stopAt) {
            (await connectTls(address.port, options)).destroy();
            completed += 1;
          }
        }),
      );
    }
    return completed / (durationMs / 1000);
  } finally {
    await server.stop();
  }
}

interface SubjectResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  /** CPU time per core-second of the window, in %: 100 means one core was busy throughout. */
  clientCpuPercent: number;
  serverCpuPercent: number;
  clientCpuMicrosPerRequest: number;
  serverCpuMicrosPerRequest: number;
}

function summarize(totals: Totals): SubjectResult {
  const [p50Ms, p99Ms] = totals.latencies.percentiles([50, 99]) as [number, number];
  return {
    requestsPerSecond: round(totals.completed / (totals.measuredMs / 1000)),
    p50Ms: round(p50Ms, 3),
    p99Ms: round(p99Ms, 3),
    completed: totals.completed,
    clientCpuPercent: round((100 * totals.clientCpuMicros) / totals.cpuElapsedMicros, 1),
    serverCpuPercent: round((100 * totals.serverCpuMicros) / totals.cpuElapsedMicros, 1),
    clientCpuMicrosPerRequest: round(totals.clientCpuMicros / totals.completed, 2),
    serverCpuMicrosPerRequest: round(totals.serverCpuMicros / totals.completed, 2),
  };
}

function row(label: string, result: SubjectResult): Record<string, string> {
  return {
    transport: label,
    'req/s': Math.round(result.requestsPerSecond).toLocaleString('en-US'),
    'p50 ms': result.p50Ms.toFixed(2),
    'p99 ms': result.p99Ms.toFixed(2),
    'CPU % client/server': `${result.clientCpuPercent.toFixed(0)} / ${result.serverCpuPercent.toFixed(0)}`,
    'CPU µs/req client/server': `${result.clientCpuMicrosPerRequest.toFixed(1)} / ${result.serverCpuMicrosPerRequest.toFixed(1)}`,
  };
}

const args = process.argv.slice(2);
const durationMs = numberOption(args, 'seconds', 10) * 1000;
const warmupMs = numberOption(args, 'warmup-seconds', 1) * 1000;
// Several rounds, alternating Butter and raw, spread the noise of a shared machine over both.
const rounds = numberOption(args, 'rounds', 1);

console.log(
  `transport: ${concurrency} in flight, ${payloadBytes} B payload, ${rounds} round(s) of ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s each`,
);
const handshakeMs = numberOption(args, 'handshake-seconds', 5) * 1000;
const subjects = ['butter', 'tls-grouped', 'raw', 'raw-grouped'] as const;
const totals = Object.fromEntries(subjects.map((mode) => [mode, new Totals()])) as Record<(typeof subjects)[number], Totals>;
const roundRatios: number[] = [];
for (let index = 1; index <= rounds; index++) {
  const rates: Record<string, number> = {};
  for (const mode of subjects) rates[mode] = await measureRound(mode, totals[mode], warmupMs, durationMs);
  const { butter: butterRate, 'tls-grouped': tlsRate, raw: rawRate, 'raw-grouped': groupedRate } = rates as Record<(typeof subjects)[number], number>;
  roundRatios.push(round(butterRate / tlsRate, 4));
  console.log(
    `  round ${index}: Butter ${Math.round(butterRate)} req/s, raw TLS grouped ${Math.round(tlsRate)} req/s (${((100 * butterRate) / tlsRate).toFixed(1)} %), ` +
      `raw net ${Math.round(rawRate)} req/s, raw net grouped ${Math.round(groupedRate)} req/s (TLS ${((100 * tlsRate) / groupedRate).toFixed(1)} % of it)`,
  );
}
const butter = summarize(totals.butter);
const rawTls = summarize(totals['tls-grouped']);
const raw = summarize(totals.raw);
const rawGrouped = summarize(totals['raw-grouped']);
const ratio = butter.requestsPerSecond / rawTls.requestsPerSecond;
const tlsCost = rawTls.requestsPerSecond / rawGrouped.requestsPerSecond;
const butterPerRawNet = butter.requestsPerSecond / rawGrouped.requestsPerSecond;
const butterHandshakes = round(await measureHandshakes('butter', handshakeMs));
const runtimeTlsHandshakes = round(await measureHandshakes('butter-tls', handshakeMs));
const tlsHandshakes = round(await measureHandshakes('tls', handshakeMs));
const handshakeRatio = butterHandshakes / tlsHandshakes;
console.log(
  `  handshakes: Butter ${butterHandshakes}/s, its TLS layer alone ${runtimeTlsHandshakes}/s, raw TLS ${tlsHandshakes}/s (${(100 * handshakeRatio).toFixed(1)} %)`,
);

await report({
  name: 'transport',
  rows: [
    row('Butter (TLS 1.3, private network)', butter),
    row('raw node:tls, grouped writes', rawTls),
    row('raw node:net', raw),
    row('raw node:net, grouped writes', rawGrouped),
    { transport: 'ratio Butter / raw TLS grouped', 'req/s': `${(ratio * 100).toFixed(1)} %` },
    { transport: 'ratio raw TLS / raw net (grouped)', 'req/s': `${(tlsCost * 100).toFixed(1)} %` },
    { transport: 'ratio Butter / raw net grouped', 'req/s': `${(butterPerRawNet * 100).toFixed(1)} %` },
    { transport: 'handshakes/s Butter (TLS + key proof + HELLO)', 'req/s': Math.round(butterHandshakes).toLocaleString('en-US') },
    { transport: 'handshakes/s Butter runtime TLS alone', 'req/s': Math.round(runtimeTlsHandshakes).toLocaleString('en-US') },
    { transport: 'handshakes/s raw mutual TLS 1.3', 'req/s': Math.round(tlsHandshakes).toLocaleString('en-US') },
    { transport: 'ratio handshakes Butter / raw TLS', 'req/s': `${(handshakeRatio * 100).toFixed(1)} %` },
  ],
  targets: [
    {
      name: 'Butter req/s ÷ raw TLS grouped-writes req/s',
      target: `≥ ${targetRatio * 100} %`,
      actual: `${(ratio * 100).toFixed(1)} %`,
      met: ratio >= targetRatio,
    },
  ],
  metrics: {
    durationSeconds: durationMs / 1000,
    warmupSeconds: warmupMs / 1000,
    rounds,
    concurrency,
    payloadBytes,
    butter,
    rawTls,
    raw,
    rawGrouped,
    ratio: round(ratio, 4),
    tlsCost: round(tlsCost, 4),
    butterPerRawNet: round(butterPerRawNet, 4),
    roundRatios,
    handshakeSeconds: handshakeMs / 1000,
    handshakeConcurrency,
    butterHandshakesPerSecond: butterHandshakes,
    runtimeTlsHandshakesPerSecond: runtimeTlsHandshakes,
    tlsHandshakesPerSecond: tlsHandshakes,
    handshakeRatio: round(handshakeRatio, 4),
  },
});
