/**
 * The `butter` command end to end, over real processes on loopback: three
 * `butter start` nodes, `put` of `--megabytes` (1 and 16 MiB by default)
 * through the first, `get` through the third and through a short-lived node,
 * and the graceful `stop` of each node (the hand-over of its blocks). Wall
 * times include each command's process start (about 0.3 s of Node and imports).
 *
 *   node dist/bench/cli.js [--megabytes 16] [--repeats 3]
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { numberOption, report, round } from './common.js';

const args = process.argv.slice(2);
const largeMegabytes = numberOption(args, 'megabytes', 16);
const repeats = numberOption(args, 'repeats', 3);
const butter = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const folder = mkdtempSync(join(tmpdir(), 'butter-bench-cli-'));

/** Runs one command to its end and returns its wall time in seconds and its stdout. */
function timed(command: string[]): Promise<{ seconds: number; stdout: string }> {
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [butter, ...command], { maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command.join(' ')}: ${stderr}`));
      else resolve({ seconds: (performance.now() - startedAt) / 1000, stdout });
    });
  });
}

const nodes: ChildProcess[] = [];
const rows: Array<Record<string, string>> = [];
const metrics: Record<string, unknown> = { megabytes: [1, largeMegabytes], repeats };
try {
  const ports = [7401, 7402, 7403];
  for (const [index, port] of ports.entries()) {
    const bootstrap = index === 0 ? [] : ['--bootstrap', `127.0.0.1:${ports[0]}`];
    nodes.push(spawn(process.execPath, [butter, 'start', '--data-dir', join(folder, `node${index}`), '--host', '127.0.0.1', '--port', String(port), '--no-discovery', ...bootstrap], { stdio: 'ignore' }));
  }
  for (const index of [0, 2]) await timed(['status', '--data-dir', join(folder, `node${index}`), '--wait', '30']);
  for (const megabytes of [1, largeMegabytes]) {
    const file = join(folder, `content-${megabytes}`);
    const samples = { put: [] as number[], get: [] as number[], shortLivedGet: [] as number[] };
    for (let repeat = 0; repeat < (megabytes === 1 ? repeats : 1); repeat += 1) {
      const content = randomBytes(megabytes * 1024 * 1024);
      writeFileSync(file, content);
      const put = await timed(['put', file, '--data-dir', join(folder, 'node0')]);
      samples.put.push(put.seconds);
      const id = put.stdout.trim();
      const copy = join(folder, 'copy');
      samples.get.push((await timed(['get', id, '-o', copy, '--data-dir', join(folder, 'node2')])).seconds);
      if (!readFileSync(copy).equals(content)) throw new Error('the copy differs');
      rmSync(join(folder, 'short-lived'), { recursive: true, force: true });
      const shortLived = ['get', id, '-o', copy, '--data-dir', join(folder, 'short-lived'), '--host', '127.0.0.1', '--no-discovery', '--bootstrap', `127.0.0.1:${ports[0]}`];
      samples.shortLivedGet.push((await timed(shortLived)).seconds);
      if (!readFileSync(copy).equals(content)) throw new Error('the short-lived copy differs');
    }
    metrics[`${megabytes}MiB`] = samples;
    const summary = (values: number[]) => `${round(values.reduce((sum, value) => sum + value, 0) / values.length, 2)} s (worst ${round(Math.max(...values), 2)})`;
    rows.push({ content: `${megabytes} MiB`, 'put (3 replicas, durable)': summary(samples.put), 'get via a group member': summary(samples.get), 'get via a short-lived node': summary(samples.shortLivedGet) });
  }
  const stops: number[] = [];
  for (const index of [0, 1, 2]) stops.push((await timed(['stop', '--data-dir', join(folder, `node${index}`)])).seconds);
  metrics.stopSeconds = stops;
  rows.push({ content: 'stop (graceful, hands every block over)', 'put (3 replicas, durable)': stops.map((seconds) => `${round(seconds, 2)} s`).join(', '), 'get via a group member': '', 'get via a short-lived node': '' });
} finally {
  for (const node of nodes) node.kill('SIGKILL');
  rmSync(folder, { recursive: true, force: true });
}
await report({ name: 'cli', rows, targets: [], metrics });
