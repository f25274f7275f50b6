import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PeerUnreachableError } from '../src/errors.js';
import { RelayRefusedError } from '../src/nat/relay/circuit-ends.js';
import { relayedAddress } from '../src/nat/relay/relay-address.js';
import { nat, type NatService } from '../src/nat/service.js';
import { createNode } from '../src/node/create.js';
import type { ButterNode } from '../src/node/node.js';
import { until } from './support/world.js';

type NatNode = ButterNode<{ nat: NatService }>;

describe('relay circuits on real TLS (loopback)', () => {
  const nodes: NatNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
  });

  async function spawn(host: string, ambassador: boolean, bootstrap: NatNode[]): Promise<NatNode> {
    const node = await createNode({
      host,
      memoryMB: 16,
      ambassador,
      bootstrap: bootstrap.map((other) => other.address),
      discovery: { enabled: false },
      // Rounds are driven by the test.
      services: { nat: nat({ refreshIntervalMs: 3_600_000 }) },
    });
    node.route('echo', (_node, payload) => payload);
    await node.spawn();
    nodes.push(node);
    return node;
  }

  it('a node the Ambassador cannot dial back holds a reservation; another reaches it through the circuit, TLS end to end inside TLS to the relay', { timeout: 30_000 }, async () => {
    const ambassador = await spawn('127.0.0.1', true, []);
    // Listens on 127.0.0.3 but connects out from 127.0.0.1: the dial-back to the observed IP fails, as behind a NAT.
    const hidden = await spawn('127.0.0.3', false, [ambassador]);
    const caller = await spawn('127.0.0.1', false, [ambassador]);
    await until(() => hidden.knownHosts.get(ambassador.id)?.quality?.ambassador === true, 'the hidden node to know the Ambassador');
    await hidden.services.nat.refresh();
    const status = hidden.services.nat.status();
    assert.equal(status.reachable, false);
    assert.deepEqual(status.relays.map((relay) => relay.id), [ambassador.id]);

    const address = relayedAddress(hidden.id, ambassador.address);
    const payload = new Uint8Array(200_000).map((_, index) => index % 251);
    const answer = await caller.request({ id: hidden.id, address }, 'echo', payload);
    assert.equal(Buffer.compare(answer, payload), 0);
    assert.ok((ambassador.services.nat.ambassador?.relayedBytes ?? 0) >= 2 * payload.length);
    // The hidden node knows the caller by the id its TLS over the circuit proved, and answers over it.
    const back = await hidden.request(caller.id, 'echo', new Uint8Array([4, 2]));
    assert.deepEqual([...back], [4, 2]);
    // The caller listens where the Ambassador sees it: the dial-back reaches its listener, which it checks itself.
    await caller.services.nat.refresh();
    assert.equal(caller.services.nat.status().reachable, true);
    assert.deepEqual(caller.services.nat.status().relays, []);
  });

  it('a circuit to a node without a reservation is refused by name', { timeout: 30_000 }, async () => {
    const [ambassador, , caller] = nodes as [NatNode, NatNode, NatNode];
    const other = await spawn('127.0.0.1', false, [ambassador]);
    const error = await caller.request({ id: other.id, address: relayedAddress(other.id, ambassador.address) }, 'echo', new Uint8Array(1)).catch((error: unknown) => error);
    assert.ok(error instanceof PeerUnreachableError, String(error));
    assert.ok(error.cause instanceof RelayRefusedError);
    assert.equal(error.cause.refusal, 'no-reservation');
  });
});
