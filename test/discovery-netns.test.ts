/**
 * Real multicast discovery between separate hosts: network namespaces joined
 * by a bridge, private addresses inside them only (10.231.0.0/24), one node
 * process per namespace. Needs root and iproute2, as CI has; never skipped.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const nodeScript = fileURLToPath(new URL('./fixtures/discovery-node.js', import.meta.url));
const namespaceCount = 3;
/** Short and unique per run: interface names are limited to 15 characters. */
const tag = `bd${process.pid.toString(36)}`;
const bridge = `${tag}br`;
const namespaceName = (index: number) => `${tag}ns${index}`;
const hostEnd = (index: number) => `${tag}h${index}`;
const namespaceEnd = (index: number) => `${tag}n${index}`;
const addressOf = (index: number) => `10.231.0.${index + 1}`;
const networkId = `netns-test-${tag}`;
/** The namespace of each node process: the last two share one, as several nodes on one machine do. */
const placements = [0, 1, 2, 2];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

function ipInNamespace(index: number, ...args: string[]): void {
  ip('netns', 'exec', namespaceName(index), 'ip', ...args);
}

function tryRun(action: () => void): void {
  try {
    action();
  } catch {
    // Already gone.
  }
}

/** Removes what this run created; deleting a namespace also destroys the veth pair inside it. */
function tearDown(): void {
  for (let index = 0; index < namespaceCount; index += 1) {
    tryRun(() => ip('netns', 'delete', namespaceName(index)));
    tryRun(() => ip('link', 'delete', hostEnd(index)));
  }
  tryRun(() => ip('link', 'delete', bridge));
}

function setUp(): void {
  tearDown();
  // Snooping off: with no IGMP querier on this bridge, plain flooding is what a small LAN does.
  ip('link', 'add', bridge, 'type', 'bridge', 'mcast_snooping', '0');
  ip('link', 'set', bridge, 'up');
  for (let index = 0; index < namespaceCount; index += 1) {
    ip('netns', 'add', namespaceName(index));
    ip('link', 'add', hostEnd(index), 'type', 'veth', 'peer', 'name', namespaceEnd(index));
    ip('link', 'set', namespaceEnd(index), 'netns', namespaceName(index));
    ip('link', 'set', hostEnd(index), 'master', bridge);
    ip('link', 'set', hostEnd(index), 'up');
    ipInNamespace(index, 'link', 'set', 'lo', 'up');
    ipInNamespace(index, 'addr', 'add', `${addressOf(index)}/24`, 'dev', namespaceEnd(index));
    ipInNamespace(index, 'link', 'set', namespaceEnd(index), 'up');
    ipInNamespace(index, 'route', 'add', '224.0.0.0/4', 'dev', namespaceEnd(index));
  }
}

interface NodeProcess {
  child: ChildProcess;
  id: string | undefined;
  known: Set<string>;
  stderr: string;
}

function startNode(index: number, dataDir: string): NodeProcess {
  const child = spawn('ip', ['netns', 'exec', namespaceName(index), process.execPath, nodeScript, networkId, addressOf(index), dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node: NodeProcess = { child, id: undefined, known: new Set(), stderr: '' };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      const report = JSON.parse(line) as { id: string; known: string[] };
      node.id = report.id;
      node.known = new Set(report.known);
    } catch {
      // Not a report line.
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    if (node.stderr.length < 10_000) node.stderr += chunk.toString();
  });
  return node;
}

function stopNode(node: NodeProcess): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => node.child.once('exit', () => resolve()));
  node.child.kill('SIGKILL');
  return exited;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number, describeState: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms; state: ${describeState()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('multicast discovery between network namespaces', () => {
  const nodes: NodeProcess[] = [];
  const dataDirs: string[] = [];

  before(() => {
    assert.equal(process.getuid?.(), 0, 'this test creates network namespaces and must run as root (CI does); run it with sudo');
    try {
      execFileSync('ip', ['-V'], { stdio: 'ignore' });
    } catch {
      assert.fail('iproute2 (the `ip` command) is missing: run scripts/setup.sh');
    }
    setUp();
    for (let index = 0; index < placements.length; index += 1) dataDirs.push(mkdtempSync(path.join(os.tmpdir(), `butter-${tag}-${index}-`)));
  });

  after(async () => {
    await Promise.all(nodes.map(stopNode));
    tearDown();
    for (const dataDir of dataDirs) rmSync(dataDir, { recursive: true, force: true });
  });

  it('every node finds every other (two share a namespace), a killed node disappears, a restarted one is found again', { timeout: 90_000 }, async () => {
    placements.forEach((namespace, index) => nodes.push(startNode(namespace, dataDirs[index] as string)));
    const state = () => JSON.stringify(nodes.map((node) => ({ id: node.id?.slice(0, 8), known: [...node.known].map((id) => id.slice(0, 8)), stderr: node.stderr.slice(0, 500) })));
    const everyoneKnowsEveryone = (group: NodeProcess[]) =>
      group.every((node) => node.id !== undefined && group.every((other) => other === node || node.known.has(other.id as string)));

    await waitFor('every node knows every other', () => everyoneKnowsEveryone(nodes), 20_000, state);

    const victim = nodes[0] as NodeProcess;
    const victimId = victim.id as string;
    await stopNode(victim);
    const survivors = nodes.slice(1);
    await waitFor('the killed node disappears from the others', () => survivors.every((node) => !node.known.has(victimId)), 20_000, state);

    // The same data directory keeps the identity: the restarted node is the same node.
    const restarted = startNode(placements[0] as number, dataDirs[0] as string);
    nodes[0] = restarted;
    await waitFor('the restarted node is found again', () => restarted.id === victimId && everyoneKnowsEveryone(nodes), 20_000, state);
  });
});
