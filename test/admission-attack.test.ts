import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import type { Address } from '../src/runtime/types.js';
import type { AttackMode } from './support/attacker.js';
import { startProgram, stopProgram, type Program } from './support/program.js';
import { bytes, within } from './support/world.js';

const nodeScript = fileURLToPath(new URL('./fixtures/attacked-node.js', import.meta.url));
const attackerScript = fileURLToPath(new URL('./fixtures/attacker-process.js', import.meta.url));
const mebibyte = 1024 * 1024;
const allocationMB = 64;
/**
 * What a 64 MB node's process may hold beyond its allocation: Node itself, the code, TLS
 * state of the connections it admits, socket buffers (docs/SECURITY.md, "Admission").
 */
const runtimeOverheadMB = 96;
/** The bound: a real peer is answered within this, throughout an attack (see assertServed). */
const servedWithinMs = 1_000;
const attackingConnections = 1_100;

interface NodeStats {
  host: string;
  port: number;
  id: string;
  rssBytes: number;
  peakRssBytes: number;
  connections: number;
}

/** The attacked node's process and the latest line it printed; `mostConnections` is the highest count seen. */
async function startAttackedNode(): Promise<{ program: Program; address: Address; id: string; latest(): NodeStats; mostConnections(): number }> {
  const program = startProgram(nodeScript, []);
  let latest: NodeStats | undefined;
  let mostConnections = 0;
  let partial = '';
  program.child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      latest = JSON.parse(line) as NodeStats;
      mostConnections = Math.max(mostConnections, latest.connections);
    }
  });
  await program.waitFor(/"port"/, 'the attacked node to report', 15_000);
  const first = latest as NodeStats;
  return { program, address: { host: first.host, port: first.port }, id: first.id, latest: () => latest as NodeStats, mostConnections: () => mostConnections };
}

function realPeer(bootstrap: Address[] = []): Promise<ButterNode> {
  return createNode({ host: '127.0.0.1', memoryMB: 16, discovery: { enabled: false }, bootstrap, services: {} });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, what: string, ms: number): Promise<void> {
  for (const startedAt = Date.now(); !condition(); await pause(50)) {
    if (Date.now() - startedAt > ms) throw new Error(`timed out waiting for ${what}`);
  }
}

/** One echo request at a time while `running()` holds: the worst time any took to be answered, and how many failed. */
async function probe(peer: ButterNode, target: Address, running: () => boolean): Promise<{ worstMs: number; probes: number; failures: string[] }> {
  let worstMs = 0;
  let probes = 0;
  const failures: string[] = [];
  while (running()) {
    const startedAt = performance.now();
    try {
      await peer.request(target, 'echo', bytes('probe'), { timeoutMs: 5_000 });
    } catch (error) {
      failures.push((error as Error).message);
    }
    worstMs = Math.max(worstMs, performance.now() - startedAt);
    probes += 1;
    await pause(50);
  }
  return { worstMs, probes, failures };
}

interface AttackOutcome {
  /** The probe's connection, kept from before the attack. */
  steady: Awaited<ReturnType<typeof probe>>;
  /** Peers that first connect while the attack holds: strangers to the node, as the attackers are. */
  newcomersWorstMs: number;
  newcomerFailures: string[];
  /** Over the whole attack: connections the node took through TLS (reopenings included), attempts that failed before, those it closed, those open at the end. */
  attack: { opened: number; failedAttempts: number; closedByTarget: number; openNow: number };
  bootstrapOnlyPeersKnowTarget: boolean;
}

/**
 * Runs one attack against a fresh node process while a real peer probes it: the attack
 * opens its connections (opening again, after `reopenAfterMs`, any the node closes), holds
 * them for `holdMs` (past the 3 s HELLO deadline) while three newcomers connect one after
 * another, then lets go.
 */
async function underAttack(node: Awaited<ReturnType<typeof startAttackedNode>>, mode: AttackMode, holdMs: number, reopenAfterMs?: number): Promise<AttackOutcome> {
  const peers: ButterNode[] = [];
  const reopen = reopenAfterMs === undefined ? 'never' : String(reopenAfterMs);
  const attacker = startProgram(attackerScript, [node.address.host, String(node.address.port), mode, String(attackingConnections), reopen]);
  try {
    const prober = await realPeer();
    const bootstrapOnly = [await realPeer([node.address]), await realPeer([node.address])];
    const newcomers = [await realPeer(), await realPeer(), await realPeer()];
    peers.push(prober, ...bootstrapOnly, ...newcomers);
    await Promise.all(peers.map((peer) => peer.spawn()));
    const knowTarget = () => bootstrapOnly.every((peer) => peer.knownHosts.get(node.id) !== undefined);
    await waitFor(knowTarget, 'the bootstrap-only peers to know the node', 15_000);
    await prober.request(node.address, 'echo', bytes('before'));
    await attacker.waitFor(/^ready$/m, 'the attacker to mint its identities', 30_000);

    let attacking = true;
    const steady = probe(prober, node.address, () => attacking);
    await attacker.waitFor(/^opened /m, `${attackingConnections} attacking connections to open`, 60_000);
    let newcomersWorstMs = 0;
    const newcomerFailures: string[] = [];
    for (const newcomer of newcomers) {
      const startedAt = performance.now();
      await newcomer.request(node.address, 'echo', bytes('newcomer'), { timeoutMs: 5_000 }).catch((error: Error) => newcomerFailures.push(error.message));
      newcomersWorstMs = Math.max(newcomersWorstMs, performance.now() - startedAt);
      await pause(holdMs / newcomers.length);
    }
    attacker.child.stdin.end();
    const counts = await attacker.waitFor(/^stopped (\{.*\})$/m, 'the attacker to let go', 10_000);
    await within(attacker.exited, 'the attacker to exit', 10_000);
    await pause(500);
    attacking = false;
    const attack = JSON.parse(counts[1] as string) as AttackOutcome['attack'];
    return { steady: await steady, newcomersWorstMs, newcomerFailures, attack, bootstrapOnlyPeersKnowTarget: knowTarget() };
  } finally {
    await stopProgram(attacker, 'SIGKILL').catch(() => undefined);
    await Promise.all(peers.map((peer) => peer.stop({ graceful: false })));
  }
}

/**
 * The issue's bound holds for a real peer already connected: every probe answered within 1 s.
 * A newcomer must also be served (within its 5 s timeout), but it is not held to 1 s: its
 * connection waits in the kernel's accept queue behind the attackers' reconnections (libuv
 * accepts one per event-loop turn), which on a loaded machine takes seconds (docs/SECURITY.md,
 * "Not protected yet"); its worst time is printed.
 */
function assertServed(outcome: AttackOutcome): void {
  const { steady } = outcome;
  console.log(`probes: ${steady.probes}, worst ${Math.round(steady.worstMs)} ms; newcomers worst ${Math.round(outcome.newcomersWorstMs)} ms; attack ${JSON.stringify(outcome.attack)}`);
  assert.deepEqual(steady.failures, [], 'every probe was answered');
  assert.ok(steady.probes >= 10, `${steady.probes} probes`);
  assert.ok(steady.worstMs <= servedWithinMs, `worst probe answered after ${Math.round(steady.worstMs)} ms`);
  assert.deepEqual(outcome.newcomerFailures, [], 'every newcomer was answered');
  assert.ok(outcome.bootstrapOnlyPeersKnowTarget, 'the bootstrap-only peers still know the node');
}

describe(`admission control: a ${allocationMB} MB node in its own process under ${attackingConnections} hostile connections`, () => {
  const programs: Program[] = [];
  after(async () => {
    for (const program of programs) await stopProgram(program, 'SIGKILL').catch(() => undefined);
  });

  it('connections that never send HELLO do not lock real peers out', { timeout: 90_000 }, async () => {
    const node = await startAttackedNode();
    programs.push(node.program);
    // Reopened when closed: the connections fill the slots however short their deadline.
    const outcome = await underAttack(node, 'silent', 4_500, 1_000);
    assert.ok(outcome.attack.opened >= attackingConnections, `${outcome.attack.opened} attacking connections got through TLS`);
    assertServed(outcome);
  });

  it('connections that send a HELLO with a fresh key and listen port 0, then idle, do not lock real peers out', { timeout: 90_000 }, async () => {
    const node = await startAttackedNode();
    programs.push(node.program);
    const outcome = await underAttack(node, 'idle-hello', 4_500, 1_000);
    assert.ok(outcome.attack.opened >= attackingConnections, `${outcome.attack.opened} attacking connections got through TLS`);
    assert.ok(node.mostConnections() >= 1_000, `the attack filled the slots (${node.mostConnections()} connections at most)`);
    assertServed(outcome);
  });

  it(`connections each holding a partial 1 MiB frame keep RSS within ${allocationMB} + ${runtimeOverheadMB} MiB`, { timeout: 90_000 }, async () => {
    const node = await startAttackedNode();
    programs.push(node.program);
    const outcome = await underAttack(node, 'partial-frame', 1_500);
    assert.ok(outcome.attack.opened >= attackingConnections, `${outcome.attack.opened} attacking connections got through TLS`);
    assertServed(outcome);
    const boundBytes = (allocationMB + runtimeOverheadMB) * mebibyte;
    await pause(1_000);
    const stats = node.latest();
    console.log(`partial-frame attack: peak RSS ${(stats.peakRssBytes / mebibyte).toFixed(0)} MiB, after ${(stats.rssBytes / mebibyte).toFixed(0)} MiB`);
    assert.ok(stats.peakRssBytes <= boundBytes, `peak RSS ${(stats.peakRssBytes / mebibyte).toFixed(0)} MiB`);
    assert.ok(stats.rssBytes <= boundBytes, `RSS after the attack ${(stats.rssBytes / mebibyte).toFixed(0)} MiB`);
  });
});
