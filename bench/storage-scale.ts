/**
 * How storage costs grow with the data it holds (SPEC §5):
 *
 *  (a) the membership core alone, one node in `--groups` (1,000) groups of four shared with
 *      the same 3 peers: the cost of a poll when nothing is due (a wake-up for another
 *      reason), and of a poll when one peer's beat is due;
 *  (b) for each size of `--sizes` (1,1000,10000,100000 blocks held per node), `--nodes` (4)
 *      simulated nodes, each storing a third of that durably at `r = 3` (so that each holds
 *      about that many): CPU to store it, then steady maintenance for `--seconds` (30)
 *      simulated seconds: process CPU, CPU inside the core's `poll` and `receiveHeartbeat`,
 *      wake-ups, and storage messages and bytes per node per second. With `--disk`, the nodes
 *      keep their blocks in the disk store (simulated disk): only an index on the heap.
 *
 *   node --max-old-space-size=8000 dist/bench/storage-scale.js [--groups 1000] [--nodes 4] [--sizes 1,1000] [--seconds 30] [--disk]
 */
import { performance } from 'node:perf_hooks';
import { SeededRandom } from '../src/runtime/sim/index.js';
import type { HeartbeatMessage } from '../src/storage/group-messages.js';
import { GroupMembership, membershipOptions } from '../src/storage/membership.js';
import { numberOption, report, round, settledStorageNetwork, type TargetCheck } from './common.js';

const args = process.argv.slice(2);
const groupCount = numberOption(args, 'groups', 1000);
const nodeCount = numberOption(args, 'nodes', 4);
const sizesIndex = args.indexOf('--sizes');
const sizes = (sizesIndex < 0 ? '1,1000,10000,100000' : String(args[sizesIndex + 1])).split(',').map(Number);
if (sizes.some((size) => !(size >= 1))) throw new Error('--sizes needs positive numbers, e.g. 1,1000');
/** `--disk`: every node keeps its blocks in the disk store (on its simulated host's disk), as a node with a data directory does. */
const onDisk = args.includes('--disk');
const seconds = numberOption(args, 'seconds', 30);

const idOf = (letter: string) => letter.repeat(64);
const peers = ['b', 'c', 'd'].map(idOf);
const keyOf = (index: number) => `${'e'.repeat(64)}.${groupCount}:${index}`;

/** What a peer beats: every shared group, naming this node alive at its incarnation. */
function beatFrom(core: GroupMembership): HeartbeatMessage {
  const groups = Array.from({ length: groupCount }, (_, index) => ({
    key: keyOf(index),
    replicas: 4,
    wanted: 4,
    view: [[-1, 1, 0] as [number, number, 0], [0, core.incarnation, 0] as [number, number, 0]],
  }));
  return { incarnation: 1, members: [{ id: core.selfId, host: 'a.sim', port: 1000 }], groups };
}

/** Visits reported by the core when it counts them (`pollVisits`), else undefined. */
function visitsOf(core: GroupMembership): number | undefined {
  const counted = (core as unknown as { pollVisits?: number }).pollVisits;
  return typeof counted === 'number' ? counted : undefined;
}

function coreAlone() {
  const core = new GroupMembership(idOf('a'), new SeededRandom(1), membershipOptions(), 0);
  const view = peers.map((id) => ({ id, host: `${id.slice(0, 1)}.sim`, port: 1000, incarnation: 1 }));
  for (let index = 0; index < groupCount; index += 1) core.join(keyOf(index), 4, view, 0);
  const beat = beatFrom(core);
  const deliver = (nowMs: number) => {
    for (const peer of peers) core.receiveHeartbeat(peer, { host: `${peer.slice(0, 1)}.sim`, port: 1000 }, beat, nowMs);
  };
  deliver(0);
  let nowMs = 0;
  let next = core.poll(nowMs).nextDeadlineMs;
  const idle = { polls: 0, ms: 0, visits: 0 };
  const due = { polls: 0, ms: 0, visits: 0, heartbeats: 0 };
  const received = { beats: 0, ms: 0 };
  for (let step = 0; step < 200; step += 1) {
    // Every peer beats just before each deadline, so only this node's own beats fall due.
    nowMs = Math.max(nowMs + 1, next);
    const receivedAt = performance.now();
    deliver(nowMs);
    received.ms += performance.now() - receivedAt;
    received.beats += peers.length;
    const visitsBefore = visitsOf(core);
    let started = performance.now();
    const result = core.poll(nowMs);
    const elapsed = performance.now() - started;
    if (result.heartbeats.length > 0) {
      due.polls += 1;
      due.ms += elapsed;
      due.heartbeats += result.heartbeats.length;
      due.visits += (visitsOf(core) ?? 0) - (visitsBefore ?? 0);
    }
    next = result.nextDeadlineMs;
    // Wake-ups at the same instant: nothing is due any more.
    for (let repeat = 0; repeat < 5; repeat += 1) {
      const idleBefore = visitsOf(core);
      started = performance.now();
      core.poll(nowMs);
      idle.ms += performance.now() - started;
      idle.polls += 1;
      idle.visits += (visitsOf(core) ?? 0) - (idleBefore ?? 0);
    }
  }
  const counted = visitsOf(core) !== undefined;
  return {
    idleMicrosecondsPerPoll: round((idle.ms * 1000) / idle.polls, 1),
    idleVisitsPerPoll: counted ? round(idle.visits / idle.polls, 2) : undefined,
    duePolls: due.polls,
    dueMicrosecondsPerPoll: round((due.ms * 1000) / Math.max(1, due.polls), 1),
    dueVisitsPerPoll: counted ? round(due.visits / Math.max(1, due.polls), 1) : undefined,
    heartbeatsPerDuePoll: round(due.heartbeats / Math.max(1, due.polls), 2),
    receiveMicrosecondsPerBeat: round((received.ms * 1000) / received.beats, 1),
  };
}

/** Times every call of one method of the core's prototype. */
function timeMethod(name: 'poll' | 'receiveHeartbeat') {
  const prototype = GroupMembership.prototype as unknown as Record<string, (...parameters: unknown[]) => unknown>;
  const original = prototype[name] as (...parameters: unknown[]) => unknown;
  const totals = { calls: 0, ms: 0 };
  prototype[name] = function (this: unknown, ...parameters: unknown[]) {
    const started = performance.now();
    try {
      return original.apply(this, parameters);
    } finally {
      totals.ms += performance.now() - started;
      totals.calls += 1;
    }
  };
  return totals;
}

const polls = timeMethod('poll');
const receives = timeMethod('receiveHeartbeat');

async function simulatedNetwork(heldPerNode: number) {
  const storedPerNode = Math.ceil(heldPerNode / 3);
  const storeCpuBefore = process.cpuUsage();
  // Room for what each node holds (4 KiB and its overhead per block), on top of the 64 MiB the other benchmarks give a node.
  const memoryMB = 64 + Math.ceil((heldPerNode * 2 * 5_000) / 2 ** 20);
  const { simulation, nodes } = await settledStorageNetwork(nodeCount, storedPerNode, 3, memoryMB, onDisk ? '/var/butter' : undefined);
  const storeCpu = process.cpuUsage(storeCpuBefore);
  const traffic = () => {
    let messages = 0;
    let bytes = 0;
    for (const node of nodes) {
      for (const [label, entry] of Object.entries(node.traffic.byLabel())) {
        if (!label.includes('storage/')) continue;
        messages += entry.messages;
        bytes += entry.bytes;
      }
    }
    return { messages, bytes };
  };
  polls.calls = 0;
  polls.ms = 0;
  receives.calls = 0;
  receives.ms = 0;
  const trafficBefore = traffic();
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await simulation.runFor(seconds * 1000);
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = performance.now() - wallBefore;
  const groups = nodes.reduce((sum, node) => sum + node.services.storage.groups().length, 0);
  const held = nodes.reduce((sum, node) => sum + node.services.storage.blocks.size, 0);
  const trafficAfter = traffic();
  // Not stopped: stopping needs simulated time; the whole simulation is garbage once this returns.
  return {
    heldPerNode,
    storedPerNode,
    blocksHeldPerNode: round(held / nodeCount),
    groupsPerNode: round(groups / nodeCount),
    storeCpuMs: round((storeCpu.user + storeCpu.system) / 1000),
    processCpuMs: round((cpu.user + cpu.system) / 1000),
    wallMs: round(wallMs),
    pollCalls: polls.calls,
    pollMs: round(polls.ms, 1),
    pollMicrosecondsPerCall: round((polls.ms * 1000) / Math.max(1, polls.calls), 1),
    receiveHeartbeatCalls: receives.calls,
    receiveHeartbeatMs: round(receives.ms, 1),
    cpuPercentOfCorePerNode: round(((cpu.user + cpu.system) / 1000 / nodeCount / (seconds * 1000)) * 100, 3),
    messagesPerNodePerSecond: round((trafficAfter.messages - trafficBefore.messages) / nodeCount / seconds, 2),
    bytesPerNodePerSecond: round((trafficAfter.bytes - trafficBefore.bytes) / nodeCount / seconds),
  };
}

const alone = coreAlone();
console.error(`core alone (${groupCount} groups, 3 peers): ${JSON.stringify(alone)}`);
const networks: Array<Awaited<ReturnType<typeof simulatedNetwork>>> = [];
for (const size of sizes) {
  const network = await simulatedNetwork(size);
  networks.push(network);
  console.error(`${nodeCount} nodes × ${size} blocks held, ${seconds} s steady: ${JSON.stringify(network)}`);
}

const rows: Array<Record<string, string>> = [
  {
    case: `core, ${groupCount} groups × 3 peers, nothing due`,
    'µs/poll': String(alone.idleMicrosecondsPerPoll),
    'visits/poll': String(alone.idleVisitsPerPoll ?? 'n/a'),
  },
  {
    case: `core, ${groupCount} groups × 3 peers, one beat due`,
    'µs/poll': String(alone.dueMicrosecondsPerPoll),
    'visits/poll': String(alone.dueVisitsPerPoll ?? 'n/a'),
  },
  {
    case: `core, receiving one beat of ${groupCount} groups`,
    'µs/receive': String(alone.receiveMicrosecondsPerBeat),
  },
  ...networks.map((network) => ({
    case: `${nodeCount} nodes × ${network.heldPerNode} blocks held${onDisk ? " on disk" : ""} (${network.groupsPerNode} groups), ${seconds} s steady`,
    'store CPU ms': String(network.storeCpuMs),
    'µs/poll': String(network.pollMicrosecondsPerCall),
    'process CPU ms': String(network.processCpuMs),
    '% core/node': String(network.cpuPercentOfCorePerNode),
    'poll ms': String(network.pollMs),
    'receive ms': String(network.receiveHeartbeatMs),
    'msg/node/s': String(network.messagesPerNodePerSecond),
    'bytes/node/s': String(network.bytesPerNodePerSecond),
  })),
];
const targets: TargetCheck[] = [
  {
    name: 'a poll with nothing due costs no per-group work (the heads of its deadline queues)',
    target: '≤ 8 visits',
    actual: String(alone.idleVisitsPerPoll ?? 'not counted'),
    met: alone.idleVisitsPerPoll !== undefined && alone.idleVisitsPerPoll <= 8,
  },
];
const smallest = networks[0];
const largest = networks[networks.length - 1];
if (smallest && largest && largest !== smallest) {
  type Network = (typeof networks)[number];
  const growth = (of: (network: Network) => number) => round(of(largest) / Math.max(1e-9, of(smallest)), 2);
  const cpuGrowth = growth((network) => network.processCpuMs);
  const messageGrowth = growth((network) => network.messagesPerNodePerSecond);
  targets.push({
    name: `steady CPU and messages per node grow at most 1.5 × from ${smallest.heldPerNode} to ${largest.heldPerNode} blocks held`,
    target: '≤ 1.5 ×',
    actual: `CPU ${cpuGrowth} ×, messages ${messageGrowth} ×, bytes ${growth((network) => network.bytesPerNodePerSecond)} ×`,
    met: cpuGrowth <= 1.5 && messageGrowth <= 1.5,
  });
}
await report({ name: 'storage-scale', rows, targets, metrics: { groupCount, nodeCount, sizes, seconds, onDisk, coreAlone: alone, networks } });
