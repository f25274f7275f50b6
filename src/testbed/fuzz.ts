/**
 * Fuzz drivers: seeded random and mutated input pushed through the decoders a
 * peer reaches before anything checks who it is (frames, envelopes, the HELLO
 * handshake of a live simulated node) and through the discovery core. Every
 * inbound byte is untrusted: the only acceptable outcomes are a typed
 * `ButterError` or a dropped datagram; any other throw is a crash, counted and
 * kept as an example. `bench/fuzz.ts` runs millions; a test runs a short version.
 */
import { DiscoveryCore, defaultDiscoveryOptions } from '../discovery/core.js';
import { discoveryDatagramCodec, type DiscoveryDatagram } from '../discovery/messages.js';
import { ButterError } from '../errors.js';
import type { HostQuality } from '../hosts/known-hosts.js';
import { createIdentity } from '../node/identity.js';
import { createNode } from '../node/create.js';
import { SeededRandom, Simulation } from '../runtime/sim/index.js';
import type { Random, Stream } from '../runtime/types.js';
import { decodeEnvelope, encodeEnvelopeFrame, maxHelloFrameBytes, type Envelope } from '../transport/envelope.js';
import { FrameDecoder } from '../transport/frames.js';
import { defaultTransportOptions } from '../transport/options.js';

export interface FuzzOutcome {
  inputs: number;
  /** Inputs refused with a typed error or dropped, as they should be. */
  refused: number;
  /** Throws that were not a `ButterError`: each one is a bug. */
  crashes: number;
  firstCrash: string | undefined;
}

const quality: HostQuality = { uptimeMs: 1_000, availableStorageBytes: 1_000_000, knownHosts: 3, ambassador: false };

/** Flips bits, overwrites, truncates, duplicates or splices bytes of a valid input; sometimes pure noise. */
function mutate(valid: Uint8Array, random: Random): Uint8Array {
  const choice = random.int(6);
  if (choice === 0) return random.bytes(random.int(64));
  const bytes = Uint8Array.from(valid);
  if (choice === 1) return bytes.subarray(0, random.int(bytes.length + 1));
  if (choice === 2) {
    const joined = new Uint8Array(bytes.length * 2);
    joined.set(bytes);
    joined.set(bytes, bytes.length);
    return joined;
  }
  const edits = 1 + random.int(4);
  for (let edit = 0; edit < edits && bytes.length > 0; edit += 1) {
    const at = random.int(bytes.length);
    bytes[at] = choice === 3 ? (bytes[at] as number) ^ (1 << random.int(8)) : random.int(256);
  }
  return bytes;
}

function validEnvelope(random: Random, identity: { nodeId: string; publicKey: Uint8Array }): Envelope {
  const payload = random.bytes(random.int(48));
  switch (random.int(5)) {
    case 0:
      return { kind: 'hello', nodeId: identity.nodeId, publicKey: identity.publicKey, networkId: 'butter', listenAddresses: [{ transport: 'tcp', host: '127.0.0.1', port: 1 + random.int(65535) }], observed: undefined };
    case 1:
      return { kind: 'request', requestId: 1 + random.int(1_000), route: 'echo', payload };
    case 2:
      return { kind: 'response', requestId: 1 + random.int(1_000), payload };
    case 3:
      return { kind: 'error', requestId: random.int(1_000), code: 'HANDLER_FAILED', message: 'no' };
    default:
      return { kind: 'notify', route: 'storage/heartbeat', payload };
  }
}

class Tally implements FuzzOutcome {
  inputs = 0;
  refused = 0;
  crashes = 0;
  firstCrash: string | undefined;

  run(body: () => void): void {
    this.inputs += 1;
    try {
      body();
    } catch (error) {
      if (error instanceof ButterError) this.refused += 1;
      else this.crash(error);
    }
  }

  crash(error: unknown): void {
    this.crashes += 1;
    this.firstCrash ??= error instanceof Error ? (error.stack ?? error.message) : String(error);
  }
}

/**
 * `count` frames, valid and mutated, cut into streams of 1–8 frames, each
 * stream through a fresh frame decoder (HELLO bound first, as on a real
 * connection) and every body through the envelope decoder. Also checks the
 * decoder never holds more than one frame's worth of bytes.
 */
export function fuzzFrames(count: number, seed: number): FuzzOutcome {
  const random = new SeededRandom(seed).fork('frames');
  const identity = createIdentity(random.fork('identity'));
  const tally = new Tally();
  const maxFrameBytes = defaultTransportOptions.maxFrameBytes;
  while (tally.inputs < count) {
    const decoder = new FrameDecoder(maxFrameBytes, maxHelloFrameBytes);
    const frames = 1 + random.int(8);
    for (let frame = 0; frame < frames && tally.inputs < count; frame += 1) {
      const valid = encodeEnvelopeFrame(validEnvelope(random, identity));
      const input = random.int(4) === 0 ? valid : mutate(valid, random);
      let failed = false;
      tally.run(() => {
        try {
          for (const body of decoder.push(input)) decodeEnvelope(body);
        } catch (error) {
          failed = true;
          throw error;
        }
      });
      if (decoder.pendingBytes() > maxFrameBytes + 4) tally.crash(new Error(`decoder holds ${decoder.pendingBytes()} bytes`));
      if (failed) break; // a real connection closes on a framing error
    }
  }
  return tally;
}

function validDatagram(random: Random, ids: readonly string[]): DiscoveryDatagram {
  const id = ids[random.int(ids.length)] as string;
  const common = { networkId: random.int(8) === 0 ? 'other' : 'butter', id, port: 1 + random.int(65535), quality };
  switch (random.int(3)) {
    case 0:
      return { type: 'ping', ...common, replyPort: 1 + random.int(65535) };
    case 1:
      return { type: 'pong', ...common, to: ids[0] as string, hosts: random.bytes(random.int(32)) };
    default:
      return { type: 'answered', networkId: 'butter', id };
  }
}

/**
 * `count` datagrams, valid and mutated, into one discovery core, 5 simulated
 * ms apart (under its rate limit, so they are all read), draining what it
 * wants to send and what it discovered. Checks that its output stays bounded.
 */
export function fuzzDatagrams(count: number, seed: number): FuzzOutcome & { maxOutgoing: number } {
  const random = new SeededRandom(seed).fork('datagrams');
  const identityRandom = random.fork('identities');
  const ids = Array.from({ length: 16 }, () => createIdentity(identityRandom).nodeId);
  const local = {
    id: ids[0] as string,
    networkId: 'butter',
    listenAddress: () => ({ host: '10.0.0.1', port: 4000 }),
    knowsAnyone: () => false,
    quality: () => quality,
    sample: () => [],
    lanPeers: () => 1,
  };
  let now = 0;
  const core = new DiscoveryCore(local, defaultDiscoveryOptions, random.fork('core'), now, 40_000);
  const tally = new Tally();
  let maxOutgoing = 0;
  for (let index = 0; index < count; index += 1) {
    const valid = discoveryDatagramCodec.encode(validDatagram(random, ids));
    const input = random.int(4) === 0 ? valid : mutate(valid, random);
    now += 5;
    tally.run(() => {
      core.receive(input, { host: '10.0.0.2', port: 47_477 }, now);
      core.tick(now);
    });
    maxOutgoing = Math.max(maxOutgoing, core.takeOutgoing().length);
    core.takeDiscovered();
  }
  tally.refused = core.stats.malformed + core.stats.oversized + core.stats.foreignNetwork + core.stats.stray + core.stats.rateLimited;
  return { ...tally, maxOutgoing };
}

/**
 * `connections` raw connections to a live node on the simulator, each writing
 * a few valid or mutated frames (often no valid HELLO first), through the real
 * transport's handshake; then an ordinary peer must still be answered.
 */
export async function fuzzHandshakes(connections: number, seed: number): Promise<FuzzOutcome & { stillServing: boolean }> {
  const simulation = new Simulation({ seed });
  const random = new SeededRandom(seed).fork('handshakes');
  const identity = createIdentity(random.fork('identity'));
  const target = await createNode({ runtime: simulation.createHost({}), memoryMB: 16, services: {}, discovery: { enabled: false } });
  target.route('echo', (_node, payload) => payload);
  const settle = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    void promise.finally(() => (done = true)).catch(() => undefined);
    while (!done) await simulation.runFor(5);
    return promise;
  };
  await settle(target.spawn());
  const tally = new Tally();
  const attacker = simulation.createHost({});
  for (let index = 0; index < connections; index += 1) {
    tally.inputs += 1;
    try {
      const stream: Stream = await settle(attacker.connect(target.address, { timeoutMs: 1_000, identity }));
      stream.start({ onData: () => undefined, onClose: () => undefined });
      const frames = 1 + random.int(4);
      for (let frame = 0; frame < frames; frame += 1) {
        const valid = encodeEnvelopeFrame(validEnvelope(random, identity));
        stream.write(random.int(3) === 0 ? valid : mutate(valid, random));
      }
      if (random.int(2) === 0) stream.destroy();
      else stream.end();
      tally.refused += 1;
    } catch (error) {
      tally.crash(error);
    }
    if (index % 64 === 63) await simulation.runFor(50);
  }
  await simulation.runFor(6_000); // handshake timeouts close whatever is left
  const client = await createNode({ runtime: simulation.createHost({}), memoryMB: 16, services: {}, discovery: { enabled: false } });
  await settle(client.spawn());
  const reply = await settle(client.request(target.address, 'echo', new Uint8Array([1, 2, 3]))).catch(() => undefined);
  return { ...tally, stillServing: reply !== undefined && reply.length === 3 };
}
