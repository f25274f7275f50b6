/**
 * Store throughput on real loopback sockets: `--nodes` (4) nodes, one of which stores
 * `--mib` (100) MiB durably at `r = 3`, with progress reported per segment; beside it, in
 * the same run, raw `node:net` copying the same bytes three times (three connections at
 * once, 64 KiB writes), the floor any protocol on this machine stands on.
 *
 *   node dist/bench/storage-throughput.js [--nodes 4] [--mib 100] [--rounds 2]
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createNode } from '../src/node/create.js';
import { storage, type StoreProgress } from '../src/storage/service.js';
import { bytesPerMebibyte, numberOption, report, round, type StorageNode } from './common.js';

const args = process.argv.slice(2);
const nodeCount = numberOption(args, 'nodes', 4);
const mebibytes = numberOption(args, 'mib', 100);
const rounds = numberOption(args, 'rounds', 2);
const replicas = 3;
const contentBytes = mebibytes * bytesPerMebibyte;

/** Sends `data` over `copies` loopback connections at once; resolves with the seconds until every byte arrived. */
async function rawCopies(data: Uint8Array, copies: number): Promise<number> {
  let received = 0;
  let finish: () => void = () => undefined;
  const allArrived = new Promise<void>((resolve) => (finish = resolve));
  const server = createServer((socket) =>
    socket.on('data', (chunk) => {
      received += chunk.length;
      if (received === data.length * copies) finish();
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const started = performance.now();
  const sockets = Array.from({ length: copies }, () => connect(port, '127.0.0.1'));
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          let offset = 0;
          const writeMore = () => {
            while (offset < data.length) {
              const chunk = data.subarray(offset, offset + 65_536);
              offset += chunk.length;
              if (!socket.write(chunk)) return void socket.once('drain', writeMore);
            }
            resolve();
          };
          socket.once('connect', writeMore);
        }),
    ),
  );
  await allArrived;
  const seconds = (performance.now() - started) / 1000;
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return seconds;
}

async function butterStore(data: Uint8Array): Promise<{ seconds: number; progressEvents: number; cpuSeconds: number }> {
  const nodes: StorageNode[] = [];
  try {
    for (let index = 0; index < nodeCount; index += 1) {
      const bootstrap = nodes.map((earlier) => earlier.address);
      // Room for a replica of everything, and its overhead, on every node.
      const memoryMB = 64 + Math.ceil((mebibytes * 1.3 * bytesPerMebibyte) / 1e6);
      const node = await createNode({ host: '127.0.0.1', memoryMB, bootstrap, services: { storage: storage() } });
      await node.spawn();
      nodes.push(node);
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // introductions and announcements
    const [writer] = nodes as [StorageNode];
    let progressEvents = 0;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await writer.services.storage.store(data, { durable: true, replicas, onProgress: (_progress: StoreProgress) => (progressEvents += 1) });
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return { seconds, progressEvents, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
  }
}

const runs: Array<{ raw: number; butter: Awaited<ReturnType<typeof butterStore>> }> = [];
for (let round_ = 0; round_ < rounds; round_ += 1) {
  const data = randomBytes(contentBytes);
  const raw = await rawCopies(data, replicas);
  const butter = await butterStore(data);
  runs.push({ raw, butter });
  console.error(`round ${round_ + 1}: raw ${raw.toFixed(2)} s, butter ${butter.seconds.toFixed(2)} s (${butter.progressEvents} progress events, ${butter.cpuSeconds.toFixed(1)} CPU s)`);
}
const best = (values: number[]) => Math.min(...values);
const megabytes = contentBytes / 1e6;
const rawSeconds = best(runs.map((run) => run.raw));
const butterSeconds = best(runs.map((run) => run.butter.seconds));
const butterMBps = round(megabytes / butterSeconds, 1);
const rows: Array<Record<string, string>> = [
  { case: `raw node:net, ${mebibytes} MiB × ${replicas} copies at once`, seconds: String(round(rawSeconds, 2)), 'MB/s of content': String(round(megabytes / rawSeconds, 1)) },
  {
    case: `Butter durable store, ${mebibytes} MiB, r = ${replicas}, ${nodeCount} nodes (all in this process)`,
    seconds: String(round(butterSeconds, 2)),
    'MB/s of content': String(butterMBps),
    'CPU s (all nodes)': String(round(best(runs.map((run) => run.butter.cpuSeconds)), 1)),
    'progress events': String(runs[0]?.butter.progressEvents ?? 0),
  },
];
await report({
  name: 'storage-throughput',
  rows,
  targets: [{ name: `a durable ${mebibytes} MiB store at r = ${replicas} on loopback`, target: '≥ 30 MB/s', actual: `${butterMBps} MB/s (best of ${rounds})`, met: butterMBps >= 30 }],
  metrics: { nodeCount, mebibytes, replicas, rounds, runs },
});
