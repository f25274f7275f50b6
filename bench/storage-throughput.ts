/**
 * Store throughput on real loopback sockets: `--nodes` (4) nodes, each in its own process,
 * one of which (this one) stores `--mib` (100) MiB durably at `r = 3`, with progress
 * reported per segment; beside it, in the same run, raw `node:net` copying the same bytes
 * three times (three connections at once, 64 KiB writes, to a sink in another process):
 * the floor any protocol on this machine stands on.
 *
 *   node dist/bench/storage-throughput.js [--nodes 4] [--mib 100] [--rounds 2]
 *
 * Reports medians over the rounds, the load average at each, and the CPU time of the writer
 * and of the holders during the store (that figure does not depend on the machine's load).
 *
 * Forked by itself with `holder <memoryMB> <host:port>` (a storage node bootstrapped from
 * the writer) or `sink` (counts the bytes it receives); each tells the parent its port.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createNode } from '../src/node/create.js';
import { storage } from '../src/storage/service.js';
import { bytesPerMebibyte, median, numberOption, report, round, type StorageNode } from './common.js';

type ChildMessage = { port: number } | { received: number } | { cpuSeconds: number };

function cpuSecondsSince(before?: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / 1e6;
}

async function runHolder(memoryMB: number, bootstrap: string): Promise<void> {
  const [host, port] = bootstrap.split(':') as [string, string];
  const node = await createNode({ host: '127.0.0.1', memoryMB, bootstrap: [{ host, port: Number(port) }], services: { storage: storage() } });
  await node.spawn();
  process.send?.({ port: node.address.port } satisfies ChildMessage);
  // Asked once the store is done: this holder's CPU time since it started (the store is most of it).
  process.on('message', () => process.send?.({ cpuSeconds: cpuSecondsSince() } satisfies ChildMessage));
  // Exits rather than dies on the parent's kill, so that `node --cpu-prof` writes this holder's profile too.
  process.once('SIGTERM', () => process.exit(0));
}

async function runSink(): Promise<void> {
  let received = 0;
  const server = createServer((socket) => {
    socket.on('data', (chunk) => {
      received += chunk.length;
      process.send?.({ received } satisfies ChildMessage);
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.send?.({ port: (server.address() as AddressInfo).port } satisfies ChildMessage);
}

const script = fileURLToPath(import.meta.url);

function forkChild(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(script, args, { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`child ${args[0]} exited with ${code}`)));
    child.once('message', (message: ChildMessage) => ('port' in message ? resolve({ child, port: message.port }) : reject(new Error('expected a port'))));
  });
}

/** Sends `data` over `copies` loopback connections at once to a sink process; the seconds until it has every byte. */
async function rawCopies(data: Uint8Array, copies: number): Promise<number> {
  const { child, port } = await forkChild(['sink']);
  try {
    const total = data.length * copies;
    const arrived = new Promise<void>((resolve) => child.on('message', (message: ChildMessage) => 'received' in message && message.received === total && resolve()));
    const started = performance.now();
    const sockets = Array.from({ length: copies }, () => connect(port, '127.0.0.1'));
    for (const socket of sockets) {
      socket.once('connect', function writeMore(this: typeof socket) {
        let offset = 0;
        const more = () => {
          while (offset < data.length) {
            const chunk = data.subarray(offset, offset + 65_536);
            offset += chunk.length;
            if (!socket.write(chunk)) return void socket.once('drain', more);
          }
        };
        more();
      });
    }
    await arrived;
    const seconds = (performance.now() - started) / 1000;
    for (const socket of sockets) socket.destroy();
    return seconds;
  } finally {
    child.removeAllListeners('exit');
    child.kill();
  }
}

/** What the writer has sent as storage heartbeats: part of a store's cost, since every join and admission beats at once. */
function writerHeartbeats(writer: StorageNode): { messages: number; bytes: number } {
  return writer.traffic.byLabel()['notify:storage/heartbeat'] ?? { messages: 0, bytes: 0 };
}

/** The CPU seconds a holder has used since it started. */
function holderCpuSeconds(holder: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const listener = (message: ChildMessage) => {
      if (!('cpuSeconds' in message)) return;
      holder.off('message', listener);
      resolve(message.cpuSeconds);
    };
    holder.on('message', listener);
    holder.send('cpu');
  });
}

async function butterStore(
  data: Uint8Array,
  nodeCount: number,
  replicas: number,
  mebibytes: number,
): Promise<{ seconds: number; progressEvents: number; writerCpuSeconds: number; holdersCpuSeconds: number[]; writerHeartbeats: { messages: number; bytes: number } }> {
  // Room for a replica of everything, and its overhead, on every node.
  const memoryMB = 64 + Math.ceil((mebibytes * 1.3 * bytesPerMebibyte) / 1e6);
  const writer: StorageNode = await createNode({ host: '127.0.0.1', memoryMB, services: { storage: storage() } });
  await writer.spawn();
  const holders: ChildProcess[] = [];
  try {
    for (let index = 1; index < nodeCount; index += 1) holders.push((await forkChild(['holder', String(memoryMB), `127.0.0.1:${writer.address.port}`])).child);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // introductions and announcements
    let progressEvents = 0;
    const heartbeatsBefore = writerHeartbeats(writer);
    const cpuBefore = process.cpuUsage();
    const holdersCpuBefore = await Promise.all(holders.map(holderCpuSeconds));
    const started = performance.now();
    await writer.services.storage.store(data, { durable: true, replicas, onProgress: () => { progressEvents += 1; if (process.env.TRACE) console.error(`segment at ${(performance.now() - started).toFixed(0)} ms`); } });
    const seconds = (performance.now() - started) / 1000;
    const writerCpuSeconds = cpuSecondsSince(cpuBefore);
    const holdersCpuAfter = await Promise.all(holders.map(holderCpuSeconds));
    const heartbeatsAfter = writerHeartbeats(writer);
    return {
      seconds,
      progressEvents,
      writerCpuSeconds,
      holdersCpuSeconds: holdersCpuAfter.map((after, index) => after - (holdersCpuBefore[index] ?? 0)),
      writerHeartbeats: { messages: heartbeatsAfter.messages - heartbeatsBefore.messages, bytes: heartbeatsAfter.bytes - heartbeatsBefore.bytes },
    };
  } finally {
    for (const holder of holders) {
      holder.removeAllListeners('exit');
      holder.kill();
    }
    await writer.stop({ graceful: false });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const nodeCount = numberOption(args, 'nodes', 4);
  const mebibytes = numberOption(args, 'mib', 100);
  const rounds = numberOption(args, 'rounds', 2);
  const replicas = 3;
  const contentBytes = mebibytes * bytesPerMebibyte;
  const runs: Array<{ loadAverage: number; rawSeconds: number; butter: Awaited<ReturnType<typeof butterStore>> }> = [];
  for (let index = 0; index < rounds; index += 1) {
    const data = randomBytes(contentBytes);
    const loadAverage = round(loadavg()[0] ?? 0, 1);
    const rawSeconds = await rawCopies(data, replicas);
    const butter = await butterStore(data, nodeCount, replicas, mebibytes);
    runs.push({ loadAverage, rawSeconds, butter });
    const holders = butter.holdersCpuSeconds.map((seconds) => seconds.toFixed(1)).join(' + ');
    console.error(`round ${index + 1} (load ${loadAverage}): raw ${rawSeconds.toFixed(2)} s, butter ${butter.seconds.toFixed(2)} s (${butter.progressEvents} progress events; CPU s: writer ${butter.writerCpuSeconds.toFixed(1)}, holders ${holders}; writer sent ${butter.writerHeartbeats.messages} heartbeats, ${(butter.writerHeartbeats.bytes / 1e6).toFixed(2)} MB)`);
  }
  const megabytes = contentBytes / 1e6;
  const spread = (values: number[], digits: number) => `${round(median(values), digits)} (${round(Math.min(...values), digits)}–${round(Math.max(...values), digits)})`;
  const rawSeconds = runs.map((run) => run.rawSeconds);
  const butterSeconds = runs.map((run) => run.butter.seconds);
  const butterMBps = round(megabytes / median(butterSeconds), 1);
  const rows: Array<Record<string, string>> = [
    { case: `raw node:net, ${mebibytes} MiB × ${replicas} copies at once`, 'seconds, median (range)': spread(rawSeconds, 2), 'MB/s of content, median': String(round(megabytes / median(rawSeconds), 1)) },
    {
      case: `durable store, ${mebibytes} MiB, r = ${replicas}, ${nodeCount} nodes (a process each)`,
      'seconds, median (range)': spread(butterSeconds, 2),
      'MB/s of content, median': String(butterMBps),
      'CPU s, writer': spread(runs.map((run) => run.butter.writerCpuSeconds), 1),
      'CPU s, all holders': spread(runs.map((run) => run.butter.holdersCpuSeconds.reduce((sum, seconds) => sum + seconds, 0)), 1),
      'progress events': String(runs[0]?.butter.progressEvents ?? 0),
    },
  ];
  await report({
    name: 'storage-throughput',
    rows,
    targets: [{ name: `a durable ${mebibytes} MiB store at r = ${replicas} on loopback`, target: '≥ 30 MB/s', actual: `${butterMBps} MB/s (median of ${rounds}; load average ${spread(runs.map((run) => run.loadAverage), 1)})`, met: butterMBps >= 30 }],
    metrics: { nodeCount, mebibytes, replicas, rounds, runs },
  });
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'holder') await runHolder(Number(rest[0]), String(rest[1]));
else if (mode === 'sink') await runSink();
else await main();
