/**
 * Relay throughput against a direct connection, in the same run, on real TLS
 * over loopback: an Ambassador (127.0.0.1), a node it cannot dial back
 * (listening on 127.0.0.3, connecting out from 127.0.0.1, so it holds a relay
 * reservation) and a caller. The caller echoes `--kib` (256) KiB payloads
 * `--rounds` (20) times to the hidden node, once over a direct connection and
 * once through the relay, then times `--pings` (200) one-byte requests each way.
 * The three nodes share this one process (and its core), so the relay's cost
 * shows as it would on one machine: the relay path does three TLS hops of work.
 * The circuit byte cap is raised for the run (its default, 1 MiB, is a few block requests).
 *
 *   node dist/bench/relay.js [--kib 256] [--rounds 20] [--pings 200]
 */
import { performance } from 'node:perf_hooks';
import { relayedAddress } from '../src/nat/relay/relay-address.js';
import { defaultNatOptions, nat, type NatService } from '../src/nat/service.js';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import type { Address } from '../src/runtime/types.js';
import { bytesPerMebibyte, numberOption, report, Reservoir, round } from './common.js';

type NatNode = ButterNode<{ nat: NatService }>;

const args = process.argv.slice(2);
const kib = numberOption(args, 'kib', 256);
const rounds = numberOption(args, 'rounds', 20);
const pings = numberOption(args, 'pings', 200);

const relay = { ...defaultNatOptions.ambassador.relay, maxCircuitBytes: 1024 ** 4, maxCircuitDurationMs: 3_600_000 };

async function spawn(host: string, ambassador: boolean, bootstrap: NatNode[]): Promise<NatNode> {
  const node = await createNode({
    host,
    memoryMB: 64,
    ambassador,
    bootstrap: bootstrap.map((other) => other.address),
    discovery: { enabled: false },
    services: { nat: nat({ refreshIntervalMs: 3_600_000, ambassador: { ...defaultNatOptions.ambassador, relay } }) },
  });
  node.route('echo', (_node, payload) => payload);
  await node.spawn();
  return node;
}

async function measure(caller: NatNode, peer: { id: string; address: Address }): Promise<{ mibPerSecond: number; p50Ms: number; p99Ms: number }> {
  const payload = new Uint8Array(kib * 1024).map((_, index) => index % 251);
  await caller.request(peer, 'echo', payload, { timeoutMs: 30_000 }); // connection set up outside the timing
  const started = performance.now();
  for (let index = 0; index < rounds; index++) await caller.request(peer, 'echo', payload, { timeoutMs: 30_000 });
  const seconds = (performance.now() - started) / 1000;
  const latencies = new Reservoir(pings);
  const one = new Uint8Array(1);
  for (let index = 0; index < pings; index++) {
    const sent = performance.now();
    await caller.request(peer, 'echo', one);
    latencies.add(performance.now() - sent);
  }
  const [p50Ms, p99Ms] = latencies.percentiles([50, 99]) as [number, number];
  return { mibPerSecond: (2 * rounds * payload.length) / bytesPerMebibyte / seconds, p50Ms, p99Ms };
}

const ambassador = await spawn('127.0.0.1', true, []);
const hidden = await spawn('127.0.0.3', false, [ambassador]);
const caller = await spawn('127.0.0.1', false, [ambassador]);
for (let attempt = 0; attempt < 100 && hidden.knownHosts.get(ambassador.id)?.quality?.ambassador !== true; attempt++) await hidden.sleep(50);
await hidden.services.nat.refresh();
if (hidden.services.nat.status().relays.length !== 1) throw new Error('the hidden node holds no reservation');

// The relayed circuit is a second connection to the same peer id; measure it first, then the direct one.
caller.disconnectIfSilent(hidden.id, 0); // in case host management met it directly already
const relayedBytes = () => ambassador.services.nat.ambassador?.relayedBytes ?? 0;
const relayedBefore = relayedBytes();
const relayed = await measure(caller, { id: hidden.id, address: relayedAddress(hidden.id, ambassador.address) });
const carried = relayedBytes() - relayedBefore;
if (carried < 2 * rounds * kib * 1024) throw new Error(`the relay carried ${carried} bytes: the relayed run went another way`);
caller.disconnectIfSilent(hidden.id, 0);
const directBefore = relayedBytes();
const direct = await measure(caller, { id: hidden.id, address: hidden.address });
if (relayedBytes() - directBefore > 2 * kib * 1024) throw new Error('the direct run went through the relay');
await Promise.all([caller, hidden, ambassador].map((node) => node.stop({ graceful: false })));

const row = (path: string, result: typeof direct) => ({
  path,
  'MiB/s (echo, both ways)': String(round(result.mibPerSecond, 1)),
  'p50 ms (1 B)': String(round(result.p50Ms, 2)),
  'p99 ms (1 B)': String(round(result.p99Ms, 2)),
});
await report({
  name: 'relay',
  rows: [row('direct', direct), row('relayed', relayed)],
  targets: [],
  metrics: { kib, rounds, pings, direct, relayed, relayedOverDirect: relayed.mibPerSecond / direct.mibPerSecond, relayCarriedBytes: carried },
});
