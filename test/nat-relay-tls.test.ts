import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ButterError, PeerUnreachableError } from '../src/errors.js';
import {
  circuitCloseCodec,
  circuitDataCodec,
  circuitIncomingCodec,
  circuitOpenAnswerCodec,
  circuitOpenRequestCodec,
  dialBackAnswerCodec,
  dialBackRequestCodec,
  natRoutes,
  observeAnswerCodec,
  registerAnswerCodec,
} from '../src/nat/messages.js';
import { relayedAddress } from '../src/nat/relay/relay-address.js';
import { nat, type NatService } from '../src/nat/service.js';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { createRealRuntime } from '../src/runtime/real.js';
import { ConnectError, type StreamHandlers } from '../src/runtime/types.js';
import { freshIdentity } from './support/channel.js';
import { until } from './support/world.js';

type NatNode = ButterNode<{ nat: NatService }>;

interface RelayBehaviour {
  /** Rewrites the chunks it carries from the caller to the hidden node (after the first `sparedMessages`). */
  tamper?: { sparedMessages: number };
  /** Ends the caller's circuits itself, with a key of its own, instead of reaching the hidden node. */
  impersonate?: boolean;
  /** Answers every dial-back "reachable" without dialling. */
  claimReachable?: boolean;
}

/**
 * A relay written by the test, not Butter's Ambassador: it grants every reservation and
 * forwards circuit messages as an Ambassador does, but may rewrite bytes or answer as the
 * far end. `front` is the node callers open circuits at, `back` the one the hidden node
 * registers with: one node, or two of different networks bridged by the relay's operator.
 */
class HostileRelay {
  /** Every chunk carried, both ways, to check what a relay sees. */
  readonly carried: Uint8Array[] = [];
  private readonly circuits = new Map<number, { source: string; target: string; toTarget: number; toSource: number; fake?: StreamHandlers }>();
  private nextCircuitId = 1;

  constructor(
    readonly front: ButterNode,
    readonly back: ButterNode,
    private readonly behaviour: RelayBehaviour,
  ) {
    back.route(natRoutes.observe, (_node, _payload, context) => observeAnswerCodec.encode([context.seenFrom.host, context.seenFrom.port]));
    back.route(natRoutes.dialBack, (_node, payload) => dialBackAnswerCodec.encode([dialBackRequestCodec.decode(payload)[1], behaviour.claimReachable === true]));
    back.route(natRoutes.register, () => registerAnswerCodec.encode([null, []]));
    front.route(natRoutes.circuitOpen, (_node, payload, context) => this.open(circuitOpenRequestCodec.decode(payload)[0], context.peer.id));
    for (const node of new Set([front, back])) {
      node.route(natRoutes.circuitData, (_node, payload, context) => this.carry(payload, context.peer.id));
      node.route(natRoutes.circuitClose, (_node, payload, context) => this.close(circuitCloseCodec.decode(payload)[0], context.peer.id));
    }
  }

  private async open(target: string, source: string): Promise<Uint8Array> {
    const id = this.nextCircuitId++;
    const circuit: { source: string; target: string; toTarget: number; toSource: number; fake?: StreamHandlers } = { source, target, toTarget: 0, toSource: 0 };
    this.circuits.set(id, circuit);
    if (this.behaviour.impersonate) void this.answerAsTarget(id, circuit);
    else await this.back.request(target, natRoutes.circuitIncoming, circuitIncomingCodec.encode([id, source]));
    return circuitOpenAnswerCodec.encode([null, id, this.front.id]);
  }

  /** TLS as the server of the circuit, with the relay's own key: what a man in the middle can do. */
  private async answerAsTarget(id: number, circuit: { source: string; toSource: number; fake?: StreamHandlers }): Promise<void> {
    const stream = await createRealRuntime().secure(
      {
        localAddress: this.front.address,
        remoteAddress: this.front.address,
        start: (handlers) => (circuit.fake = handlers),
        write: (chunk) => void this.front.notify(circuit.source, natRoutes.circuitDeliver, circuitDataCodec.encode([id, circuit.toSource++, chunk])).catch(() => undefined),
        bufferedBytes: () => 0,
        end: () => undefined,
        destroy: () => undefined,
      },
      { role: 'server', identity: freshIdentity(), timeoutMs: 5_000 },
    ).catch(() => undefined);
    stream?.destroy();
  }

  private carry(payload: Uint8Array, from: string): Uint8Array {
    const [id, , chunk] = circuitDataCodec.decode(payload);
    const circuit = this.circuits.get(id);
    if (!circuit) return new Uint8Array(0);
    this.carried.push(chunk);
    if (from === circuit.source) {
      if (circuit.fake) {
        circuit.fake.onData(chunk);
        return new Uint8Array(0);
      }
      const tamper = this.behaviour.tamper && circuit.toTarget >= this.behaviour.tamper.sparedMessages;
      const forwarded = tamper ? chunk.map((byte, index) => (index === chunk.length - 1 ? byte ^ 0x01 : byte)) : chunk;
      void this.back.notify(circuit.target, natRoutes.circuitDeliver, circuitDataCodec.encode([id, circuit.toTarget++, forwarded])).catch(() => undefined);
    } else if (from === circuit.target) {
      void this.front.notify(circuit.source, natRoutes.circuitDeliver, circuitDataCodec.encode([id, circuit.toSource++, chunk])).catch(() => undefined);
    }
    return new Uint8Array(0);
  }

  private close(id: number, from: string): Uint8Array {
    const circuit = this.circuits.get(id);
    if (!circuit) return new Uint8Array(0);
    this.circuits.delete(id);
    const other = from === circuit.source ? { node: this.back, id: circuit.target } : { node: this.front, id: circuit.source };
    void other.node.notify(other.id, natRoutes.circuitClosed, circuitCloseCodec.encode([id, null])).catch(() => undefined);
    return new Uint8Array(0);
  }
}

describe('end-to-end TLS over relay circuits (real, loopback)', () => {
  const nodes: ButterNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
  });

  async function spawn<N extends ButterNode>(make: () => Promise<N>): Promise<N> {
    const node = await make();
    nodes.push(node);
    return node;
  }

  /** A relay node: it announces itself an Ambassador but runs the test's relay, not Butter's. */
  function relayNode(networkKey?: Uint8Array): Promise<ButterNode> {
    return spawn(() => createNode({ host: '127.0.0.1', memoryMB: 16, ambassador: true, discovery: { enabled: false }, services: {}, ...(networkKey ? { networkKey } : {}) }));
  }

  async function endNode(host: string, relay: ButterNode, networkKey?: Uint8Array): Promise<NatNode> {
    const node = await spawn(() =>
      createNode({
        host,
        memoryMB: 16,
        bootstrap: [relay.address],
        discovery: { enabled: false },
        services: { nat: nat({ refreshIntervalMs: 3_600_000 }) },
        ...(networkKey ? { networkKey } : {}),
      }),
    );
    node.route('echo', (_node, payload) => payload);
    return node;
  }

  /** A hidden node holding a reservation with `back`, and a caller that knows `front`. */
  async function world(behaviour: RelayBehaviour, keys: { back?: Uint8Array; front?: Uint8Array } = {}) {
    const back = await relayNode(keys.back);
    const front = keys.front === keys.back ? back : await relayNode(keys.front);
    const relay = new HostileRelay(front, back, behaviour);
    await Promise.all([front.spawn(), back.spawn()].slice(0, front === back ? 1 : 2));
    const hidden = await endNode('127.0.0.3', back, keys.back);
    const caller = await endNode('127.0.0.1', front, keys.front);
    await Promise.all([hidden.spawn(), caller.spawn()]);
    await until(() => hidden.knownHosts.get(back.id)?.quality?.ambassador === true, 'the hidden node to know the relay');
    await hidden.services.nat.refresh();
    assert.deepEqual(hidden.services.nat.status().relays.map((held) => held.id), [back.id]);
    return { relay, hidden, caller, address: relayedAddress(hidden.id, front.address) };
  }

  it('an honest relay carries a working circuit and sees only ciphertext: not the payload, not the HELLO', { timeout: 30_000 }, async () => {
    const { relay, hidden, caller, address } = await world({});
    const payload = randomBytes(4_096);
    const answer = await caller.request({ id: hidden.id, address }, 'echo', payload);
    assert.equal(Buffer.compare(answer, payload), 0);
    const seen = Buffer.concat(relay.carried);
    assert.ok(seen.length > 2 * payload.length);
    assert.equal(seen.indexOf(payload.subarray(0, 32)), -1, 'the payload crossed the relay in clear');
    assert.equal(seen.indexOf(Buffer.from(hidden.id, 'hex').subarray(0, 16)), -1, 'an id crossed the relay in clear');
    assert.equal(seen.indexOf(Buffer.from(caller.networkId)), -1, 'the HELLO crossed the relay in clear');
  });

  it('an Ambassador that answers a dial-back "reachable" without reaching the node is not believed: the node still holds a reservation', { timeout: 30_000 }, async () => {
    const { hidden, caller, address } = await world({ claimReachable: true });
    assert.equal(hidden.services.nat.status().reachable, false);
    const answer = await caller.request({ id: hidden.id, address }, 'echo', Uint8Array.of(5));
    assert.deepEqual([...answer], [5]);
  });

  it('a relay that rewrites one byte breaks the circuit: the request fails, no altered byte is delivered', { timeout: 30_000 }, async () => {
    // The first two messages (the TLS client's two flights) pass: the rewrite hits a record of the session.
    const { hidden, caller, address } = await world({ tamper: { sparedMessages: 2 } });
    let served = 0;
    hidden.route('count', () => {
      served++;
      return new Uint8Array(0);
    });
    const error = await caller.request({ id: hidden.id, address }, 'count', new Uint8Array(64), { timeoutMs: 5_000 }).catch((error: unknown) => error);
    assert.ok(error instanceof ButterError, String(error));
    assert.equal(served, 0, 'the hidden node served a request the relay had altered');
  });

  it('a relay that answers as the far end with its own key is refused', { timeout: 30_000 }, async () => {
    const { hidden, caller, address } = await world({ impersonate: true });
    const error = await caller.request({ id: hidden.id, address }, 'echo', new Uint8Array(8), { timeoutMs: 5_000 }).catch((error: unknown) => error);
    assert.ok(error instanceof PeerUnreachableError, String(error));
    assert.ok(error.cause instanceof ConnectError, String(error.cause));
    assert.equal(error.cause.reason, 'unauthenticated');
  });

  it('across a relay that bridges two private networks, the ends\' network-key proof refuses the other key', { timeout: 30_000 }, async () => {
    const { hidden, caller, address } = await world({}, { back: randomBytes(32), front: randomBytes(32) });
    const error = await caller.request({ id: hidden.id, address }, 'echo', new Uint8Array(8), { timeoutMs: 5_000 }).catch((error: unknown) => error);
    assert.ok(error instanceof ButterError, String(error));
    await until(() => hidden.networkKeyRefusals + caller.networkKeyRefusals > 0, 'a network-key refusal at an end');
  });

  it('the same bridge between two nodes of one private network works: the key proof is the ends\' own', { timeout: 30_000 }, async () => {
    const key = randomBytes(32);
    const { hidden, caller, address } = await world({}, { back: key, front: key });
    const answer = await caller.request({ id: hidden.id, address }, 'echo', Uint8Array.of(7));
    assert.deepEqual([...answer], [7]);
  });
});
