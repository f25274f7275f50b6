import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProgram, startProgram, stopProgram, type Program } from './support/program.js';
import { within } from './support/world.js';

// Tests run from dist/test; the sources sit two folders up, the built command next door.
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const butter = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** The README's shell session, word for word. */
function readmeSession(): string {
  const readme = readFileSync(join(repositoryRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A session from the shell'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the README has a shell session');
  return block;
}

describe("the README's shell session", () => {
  it('stores through the first node, fetches through the third, and again after the first left on SIGINT', { timeout: 90_000 }, async () => {
    const temporary = mkdtempSync(join(tmpdir(), 'butter-session-'));
    // Its own process group, so that the nodes it starts in the background go with it whatever happens.
    const shell = spawn('bash', ['-e', '-c', readmeSession()], { cwd: repositoryRoot, env: { ...process.env, TMPDIR: temporary }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    shell.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    shell.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    try {
      const code = await within(new Promise<number | null>((resolve) => shell.once('close', resolve)), 'the session to end', 80_000);
      assert.equal(code, 0, output);
      const sums = [...output.matchAll(/^([0-9a-f]{64}) {2}\S+\/(file|copy|again)$/gm)].map((match) => [match[2], match[1]]);
      assert.equal(sums.length, 3, output);
      assert.equal(new Set(sums.map(([, sum]) => sum)).size, 1, `the three checksums differ:\n${output}`);
      assert.match(output, /handing over 256 blocks… done/);
      assert.doesNotMatch(output, /^\s+at /m, 'no stack trace');
    } finally {
      try {
        process.kill(-(shell.pid as number), 'SIGKILL');
      } catch {
        // The group is gone already.
      }
      rmSync(temporary, { recursive: true, force: true });
    }
  });
});

interface Reply {
  status: number;
  body: string;
}

/** A raw request, so that the test sets every header (Host, Origin) itself. */
function call(url: string, options: { method?: string; path: string; headers?: Record<string, string | number>; body?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = request(new URL(options.path, url), { method: options.method ?? 'GET', headers: options.headers }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

describe('butter start, its API and its errors', () => {
  const temporary = mkdtempSync(join(tmpdir(), 'butter-cli-'));
  const dataDir = join(temporary, 'node');
  const networkId = `cli-test-${process.pid}`;
  let node: Program;
  let api: string;
  let token: string;
  let peerPort: string;
  let metricsUrl: string;

  before(async () => {
    // A lone 16 MB node of its own network: small enough to fill, and no stranger joins it.
    node = startProgram(butter, ['start', '--data-dir', dataDir, '--host', '127.0.0.1', '--memory', '16', '--no-discovery', '--network-id', networkId, '--metrics-port', '0']);
    const [, port] = await node.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 'the node address', 20_000);
    [, api, metricsUrl] = (await node.waitFor(/control API (http:\/\/127\.0\.0\.1:\d+) .*metrics (\S+);/, 'the API address')) as unknown as [string, string, string];
    peerPort = port as string;
    token = readFileSync(join(dataDir, 'api.token'), 'utf8').trim();
  });

  after(async () => {
    await stopProgram(node, 'SIGINT').catch(() => undefined);
    rmSync(temporary, { recursive: true, force: true });
  });

  const authorized = () => ({ authorization: `Bearer ${token}` });

  it('answers with the token, and refuses a missing or wrong token, a foreign Host and a foreign Origin', async () => {
    const status = await call(api, { path: '/v1/status', headers: authorized() });
    assert.equal(status.status, 200, status.body);
    assert.match(JSON.parse(status.body).nodeId, /^[0-9a-f]{64}$/);
    assert.equal((await call(api, { path: '/v1/status' })).status, 401);
    assert.equal((await call(api, { path: '/v1/status', headers: { authorization: `Bearer ${'0'.repeat(64)}` } })).status, 401);
    const rebound = await call(api, { path: '/v1/status', headers: { ...authorized(), host: 'evil.example:80' } });
    assert.equal(rebound.status, 403);
    assert.equal(JSON.parse(rebound.body).error.code, 'FORBIDDEN_HOST');
    const crossSite = await call(api, { path: '/v1/status', headers: { ...authorized(), origin: 'http://evil.example' } });
    assert.equal(crossSite.status, 403);
    assert.equal(JSON.parse(crossSite.body).error.code, 'FORBIDDEN_ORIGIN');
    assert.equal((await call(api, { path: '/v1/status', headers: { ...authorized(), origin: api } })).status, 200, 'its own origin is fine');
  });

  it('gives 4xx for bad JSON, oversized bodies, bad parameters and unknown endpoints', async () => {
    const json = { ...authorized(), 'content-type': 'application/json' };
    const badJson = await call(api, { method: 'POST', path: '/v1/stop', headers: json, body: '{"graceful": tru' });
    assert.equal(badJson.status, 400);
    assert.equal(JSON.parse(badJson.body).error.code, 'BAD_JSON');
    const wrongShape = await call(api, { method: 'POST', path: '/v1/stop', headers: json, body: '{"graceful": "yes"}' });
    assert.equal(wrongShape.status, 400);
    const hugeJson = await call(api, { method: 'POST', path: '/v1/stop', headers: json, body: `{"graceful": true, "pad": "${'x'.repeat(20_000)}"}` });
    assert.equal(hugeJson.status, 413);
    const hugeContent = await call(api, { method: 'POST', path: '/v1/content?replicas=1', headers: { ...authorized(), 'content-length': 64 * 1024 * 1024 } });
    assert.equal(hugeContent.status, 413);
    assert.equal((await call(api, { method: 'POST', path: '/v1/content?replicas=abc', headers: authorized(), body: 'x' })).status, 400);
    assert.equal((await call(api, { method: 'POST', path: '/v1/content?colour=red', headers: authorized(), body: 'x' })).status, 400);
    assert.equal((await call(api, { path: '/v1/content/not-an-id', headers: authorized() })).status, 400);
    assert.equal((await call(api, { path: '/v1/search', headers: authorized() })).status, 400);
    assert.equal((await call(api, { path: '/v1/search?word=lone&limit=0', headers: authorized() })).status, 400);
    assert.equal((await call(api, { path: `/v1/search?word=${'x'.repeat(100)}`, headers: authorized() })).status, 400);
    assert.equal((await call(api, { path: '/v1/nothing', headers: authorized() })).status, 404);
  });

  it('stores, searches and fetches through put, search and get, and says "not found" in one line with exit code 1', async () => {
    const file = join(temporary, 'small');
    writeFileSync(file, 'kept by a lone node');
    const put = await runProgram(butter, ['put', file, '--data-dir', dataDir, '--replicas', '1', '--keyword', 'lone', '--json']);
    assert.equal(put.code, 0, put.stderr);
    const { contentId } = JSON.parse(put.stdout) as { contentId: string };
    const get = await runProgram(butter, ['get', contentId, '--data-dir', dataDir]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'kept by a lone node');
    const found = await runProgram(butter, ['search', 'LONE', 'xy', '--data-dir', dataDir, '--json']);
    assert.equal(found.code, 0, found.stderr);
    const reply = JSON.parse(found.stdout) as { words: string[]; results: Array<{ contentId: string; matched: string[] }> };
    assert.deepEqual(reply.words, ['lone']);
    assert.deepEqual(reply.results.map(({ contentId: id, matched }) => [id, matched]), [[contentId, ['lone']]]);
    const plain = await runProgram(butter, ['search', 'nowhere', '--data-dir', dataDir, '--limit', '5']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, 'nothing found for nowhere\n');
    const tooShort = await runProgram(butter, ['search', 'ab', '--data-dir', dataDir]);
    assert.equal(tooShort.code, 2, tooShort.stderr);
    assert.match(tooShort.stderr, /^butter: .*at least 3 letters or digits/m);
    const missing = await runProgram(butter, ['get', `${'0'.repeat(64)}.1`, '--data-dir', dataDir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^butter: not found: no host in reach holds every part of 0{64}\.1 \(this node knows no other host\)\n$/);
  });

  it('update stores a new version of a name; after delete, putting it again is refused while the tombstone lives', async () => {
    const file = join(temporary, 'page');
    writeFileSync(file, 'a page by this node');
    const first = await runProgram(butter, ['update', 'wiki/page', file, '--data-dir', dataDir, '--replicas', '1', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const second = await runProgram(butter, ['update', 'wiki/page', file, '--data-dir', dataDir, '--replicas', '1', '--keyword', 'v2', '--json']);
    assert.equal(second.code, 0, second.stderr);
    const updated = JSON.parse(second.stdout) as { contentId: string; sequence: number; author: string };
    assert.equal(updated.sequence, 2);
    const deleted = await runProgram(butter, ['delete', updated.contentId, '--data-dir', dataDir]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `deleted ${updated.contentId}\n`);
    // (No `get` of it here: the metrics test below counts this node's not-found lookups.)
    const again = await runProgram(butter, ['put', file, '--data-dir', dataDir, '--replicas', '1', '--keyword', 'v2', '--keyword', `author:${updated.author}`]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^butter: content .* was deleted by its author\n$/);
    const notMine = await runProgram(butter, ['delete', `${'0'.repeat(64)}.1`, '--data-dir', dataDir]);
    assert.equal(notMine.code, 0, 'deleting content held nowhere only leaves a tombstone');
  });

  it('puts through a short-lived node, which joins, stores and leaves the blocks with the network', { timeout: 30_000 }, async () => {
    const file = join(temporary, 'handed-over');
    writeFileSync(file, 'stored by a node that is gone');
    const put = await runProgram(butter, [
      'put', file, '--replicas', '1', '--json',
      '--data-dir', join(temporary, 'short-lived'), '--host', '127.0.0.1', '--no-discovery', '--network-id', networkId, '--bootstrap', `127.0.0.1:${peerPort}`,
    ]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /handing over 1 block… done/);
    const { contentId } = JSON.parse(put.stdout) as { contentId: string };
    const get = await runProgram(butter, ['get', contentId, '--data-dir', dataDir]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'stored by a node that is gone');
  });

  it('serves Prometheus metrics', async () => {
    const metrics = await call(metricsUrl, { path: '/metrics' });
    assert.equal(metrics.status, 200);
    for (const line of [
      /^butter_known_hosts \d+$/m,
      /^butter_blocks_held [1-9]\d*$/m,
      /^butter_groups\{state="goldilocks"\} [1-9]\d*$/m,
      /^butter_bytes_sent_total\{label="response:storage\/offer"\} [1-9]\d*$/m,
      /^butter_content_queries_total\{outcome="found"\} [1-9]\d*$/m,
      /^butter_content_queries_total\{outcome="not_found"\} 1$/m,
      /^butter_content_query_duration_seconds_count\{outcome="found"\} [1-9]\d*$/m,
      /^butter_heartbeat_lag_seconds\{statistic="max"\} \d+(\.\d+)?$/m,
      /^# TYPE butter_handshake_failures_total counter$/m,
      /^butter_handshakes_in_progress \d+$/m,
      /^butter_inbound_buffer_bytes \d+$/m,
      /^butter_outbound_buffer_bytes \d+$/m,
      /^process_cpu_seconds_total /m,
    ]) {
      assert.match(metrics.body, line);
    }
  });

  /** One line on stderr, the exit code, and no stack trace unless --verbose. */
  async function fails(args: string[], code: number, message: RegExp): Promise<void> {
    const result = await runProgram(butter, args);
    assert.equal(result.code, code, `${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, `one line:\n${result.stderr}`);
  }

  it('reports a taken port, a locked data directory and a bad allocation in one line', async () => {
    const elsewhere = join(temporary, 'elsewhere');
    await fails(['start', '--data-dir', elsewhere, '--host', '127.0.0.1', '--port', peerPort, '--no-discovery'], 2, new RegExp(`^butter: cannot listen on 127\\.0\\.0\\.1:${peerPort}: the port is already in use \\(EADDRINUSE\\)`));
    await fails(['start', '--data-dir', dataDir, '--host', '127.0.0.1', '--no-discovery'], 2, /^butter: data directory .* is locked by another node \(process \d+\)/);
    await fails(['start', '--data-dir', elsewhere, '--memory', '1', '--no-discovery'], 2, /^butter: memory allocation of 1 MB is below the minimum of 16 MB/);
    await fails(['start', '--data-dir', elsewhere, '--memory', '100000000', '--no-discovery'], 2, /^butter: memory allocation of 100000000 MB exceeds this machine's \d+ MB/);
    const verbose = await runProgram(butter, ['start', '--data-dir', elsewhere, '--memory', '1', '--no-discovery', '--verbose']);
    assert.match(verbose.stderr, /^\s+at /m, '--verbose adds the stack trace');
  });

  it('reports no peers with the multicast and bootstrap hint', async () => {
    const file = join(temporary, 'alone');
    writeFileSync(file, 'nobody to hold this');
    await fails(
      ['put', file, '--data-dir', join(temporary, 'transient'), '--host', '127.0.0.1', '--no-discovery', '--join-timeout', '1'],
      1,
      /^butter: no peers found within 1 s .*multicast.*--bootstrap host:port/,
    );
  });

  it('refuses a network key file of the wrong size or missing, and says when peers refuse the key', async () => {
    const shortKey = join(temporary, 'short.key');
    const key = join(temporary, 'network.key');
    writeFileSync(shortKey, Buffer.alloc(5));
    writeFileSync(key, Buffer.alloc(32, 7));
    const elsewhere = join(temporary, 'keyed');
    await fails(['start', '--data-dir', elsewhere, '--network-key', shortKey], 2, /^butter: network key file .* must hold exactly 32 bytes, it holds 5/);
    await fails(['start', '--data-dir', elsewhere, '--network-key', join(temporary, 'absent.key')], 2, /^butter: cannot read network key file .*: ENOENT/);
    // The running node has no key: a keyed short-lived node is refused by it, and says why.
    const file = join(temporary, 'keyed-content');
    writeFileSync(file, 'for a private network');
    await fails(
      ['put', file, '--data-dir', join(temporary, 'keyed-transient'), '--host', '127.0.0.1', '--no-discovery', '--network-id', networkId, '--bootstrap', `127.0.0.1:${peerPort}`, '--network-key', key, '--join-timeout', '2'],
      2,
      /^butter: no peers within 2 s, and \d+ connections? (was|were) refused over the network key: check --network-key/,
    );
    // The unkeyed node refused the keyed one too, and counts it.
    const metrics = await call(metricsUrl, { path: '/metrics' });
    assert.match(metrics.body, /^butter_network_key_refusals_total [1-9]\d*$/m);
  });

  it('reports a full network when no host has room', { timeout: 60_000 }, async () => {
    // 11.5 MiB of content fits the lone 16 MB node's storage share (12 MiB: an eighth each goes
    // to inbound and outbound buffers), but not once every block carries its proof.
    const file = join(temporary, 'large');
    writeFileSync(file, Buffer.alloc(11.5 * 1024 * 1024, 1));
    await fails(['put', file, '--data-dir', dataDir, '--replicas', '1'], 1, /^butter: network full: durable store of [0-9a-f]{64}\.\d+ rolled back: no host in reach has room for segment [0-9a-f]{64}\.\d+:\d+$/m);
  });

  it('stops on butter stop, handing its blocks over', { timeout: 30_000 }, async () => {
    const stop = await runProgram(butter, ['stop', '--data-dir', dataDir]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /^node \(process \d+\) stopped\n$/);
    assert.deepEqual(await node.exited, { code: 0, signal: null });
    assert.match(node.output(), /handing over \d+ blocks… done/);
    await fails(['status', '--data-dir', dataDir], 3, /^butter: no node is running on data directory/);
  });
});
