import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BridgeRegistry, defaultBridgeRegistryOptions, type Registration } from '../src/nat/ambassador/registry.js';
import { judgeMapping } from '../src/nat/mapping/port-mapper.js';
import { isPrivateAddress } from '../src/nat/reachability/private-address.js';
import { PublicAddressTrust } from '../src/nat/reachability/public-address.js';
import { parseRelayedAddress, relayedAddress } from '../src/nat/relay/relay-address.js';
import { defaultRelayOptions, RelayLimits, type Circuit } from '../src/nat/relay/relay-limits.js';

const id = (n: number) => n.toString(16).padStart(64, '0');

describe('public address trust', () => {
  const options = { quorum: 2, reportTtlMs: 1_000, maxReporters: 3 };

  it('one Ambassador is not enough; two that agree are; a lone dissenter does not count', () => {
    const trust = new PublicAddressTrust(options);
    trust.report(id(1), '203.0.113.7', 0);
    assert.equal(trust.trusted(0), undefined);
    trust.report(id(2), '198.51.100.1', 0);
    assert.equal(trust.trusted(0), undefined);
    trust.report(id(3), '203.0.113.7', 0);
    assert.deepEqual(trust.trusted(0), { source: 'ambassadors', host: '203.0.113.7', reporters: 2 });
  });

  it('the same Ambassador reporting twice is one voice', () => {
    const trust = new PublicAddressTrust(options);
    trust.report(id(1), '203.0.113.7', 0);
    trust.report(id(1), '203.0.113.7', 10);
    assert.equal(trust.trusted(10), undefined);
  });

  it('reports expire after reportTtlMs, and only maxReporters are kept', () => {
    const trust = new PublicAddressTrust(options);
    trust.report(id(1), '203.0.113.7', 0);
    trust.report(id(2), '203.0.113.7', 500);
    assert.ok(trust.trusted(999));
    assert.equal(trust.trusted(1_000), undefined, 'the first report lapsed');
    for (let n = 10; n < 20; n++) trust.report(id(n), `198.51.100.${n}`, 1_000);
    trust.report(id(2), '203.0.113.7', 1_000);
    trust.report(id(3), '203.0.113.7', 1_000);
    assert.deepEqual(trust.trusted(1_000), { source: 'ambassadors', host: '203.0.113.7', reporters: 2 });
  });

  it('a router mapping is trusted alone, until it is removed or lapses', () => {
    const trust = new PublicAddressTrust(options);
    trust.mapping({ host: '203.0.113.9', port: 4000 }, 0);
    assert.deepEqual(trust.trusted(0), { source: 'mapping', host: '203.0.113.9', port: 4000 });
    trust.unmapped();
    assert.equal(trust.trusted(0), undefined);
    trust.mapping({ host: '203.0.113.9', port: 4000 }, 0);
    assert.equal(trust.trusted(1_000), undefined);
  });
});

describe('private addresses (double NAT)', () => {
  it('tells private, shared, loopback and link-local ranges from public ones', () => {
    for (const host of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '127.0.0.1', '169.254.1.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1']) {
      assert.equal(isPrivateAddress(host), true, host);
    }
    for (const host of ['203.0.113.7', '172.32.0.1', '100.128.0.1', '8.8.8.8', '2001:db8::1']) assert.equal(isPrivateAddress(host), false, host);
  });
});

describe('bridge registry', () => {
  const registration = (n: number, subnetwork: string, reachable = false): Registration => ({
    id: id(n),
    entry: { id: id(n), host: subnetwork, port: 4000 },
    subnetwork,
    reachable,
  });

  it('introduces hosts of other subnetworks only, round-robin over them', () => {
    const registry = new BridgeRegistry({ ...defaultBridgeRegistryOptions, maxIntroductions: 3 });
    for (let n = 1; n <= 4; n++) registry.register(registration(n, 'big'), n);
    registry.register(registration(5, 'small'), 5);
    registry.register(registration(6, 'mine'), 6);
    const introduced = registry.introductions(id(6), 'mine', 6).map((entry) => entry.subnetwork);
    assert.deepEqual(introduced.sort(), ['big', 'big', 'small']);
    assert.ok(registry.introductions(id(1), 'big', 6).every((entry) => entry.subnetwork !== 'big'));
  });

  it('caps nodes per subnetwork and in all (the least recently renewed makes room), and expires them', () => {
    const registry = new BridgeRegistry({ maxNodes: 3, maxNodesPerSubnetwork: 2, registrationTtlMs: 100, maxIntroductions: 8 });
    assert.ok(registry.register(registration(1, 'x'), 0));
    assert.ok(registry.register(registration(2, 'x'), 0));
    assert.equal(registry.register(registration(3, 'x'), 0), false, 'the third of one subnetwork is refused');
    assert.ok(registry.register(registration(1, 'x'), 10), 'renewal is not refused');
    assert.ok(registry.register(registration(4, 'y'), 20));
    assert.ok(registry.register(registration(5, 'z'), 30));
    assert.equal(registry.size, 3);
    assert.equal(registry.get(id(2)), undefined, 'the least recently renewed was evicted');
    assert.deepEqual(registry.introductions(id(9), 'q', 125).map((entry) => entry.id), [id(5)], 'the others expired');
  });
});

describe('relay limits', () => {
  const options = { ...defaultRelayOptions, maxReservations: 3, maxReservationsPerAddress: 2, reservationTtlMs: 100, maxCircuits: 2, maxCircuitsPerAddress: 1, maxCircuitBytes: 1_000, maxCircuitDurationMs: 50 };

  it('caps reservations in all and per address, with typed refusals; renewal keeps the slot; they lapse', () => {
    const limits = new RelayLimits(options);
    assert.equal(limits.reserve(id(1), 'a', 0), undefined);
    assert.equal(limits.reserve(id(2), 'a', 0), undefined);
    assert.equal(limits.reserve(id(3), 'a', 0), 'address-reservations-full');
    assert.equal(limits.reserve(id(3), 'b', 0), undefined);
    assert.equal(limits.reserve(id(4), 'c', 0), 'reservations-full');
    assert.equal(limits.reserve(id(1), 'a', 60), undefined, 'renewed');
    assert.equal(limits.hasReservation(id(2), 100), false, 'lapsed');
    assert.equal(limits.hasReservation(id(1), 100), true);
    assert.equal(limits.reserve(id(4), 'c', 100), undefined, 'room again');
  });

  it('opens circuits to reservation holders only, within the caps, and closes them past their bytes or duration', () => {
    const limits = new RelayLimits(options);
    limits.reserve(id(1), 'a', 0);
    limits.reserve(id(2), 'b', 0);
    assert.equal(limits.open(id(9), 'z', id(7), 0), 'no-reservation');
    const circuit = limits.open(id(9), 'z', id(1), 0) as Circuit;
    assert.equal(typeof circuit, 'object');
    assert.equal(limits.open(id(8), 'z', id(2), 0), 'address-circuits-full', 'one circuit per address');
    assert.equal(typeof limits.open(id(8), 'y', id(2), 0), 'object');
    assert.equal(limits.open(id(7), 'x', id(2), 0), 'circuits-full');
    assert.deepEqual(limits.carry(circuit.id, id(9), 600, 1), { toId: id(1) });
    assert.deepEqual(limits.carry(circuit.id, id(1), 300, 1), { toId: id(9) });
    assert.equal(limits.carry(circuit.id, id(5), 1, 1), 'unknown-circuit', 'a stranger cannot write on it');
    assert.equal(limits.carry(circuit.id, id(9), 200, 1), 'circuit-bytes-exceeded');
    assert.equal(limits.get(circuit.id), undefined, 'closed');
    assert.equal(limits.circuitCount, 1);
    assert.equal(limits.expireCircuits(50).length, 1);
    assert.equal(limits.circuitCount, 0);
  });
});

describe('relayed addresses', () => {
  it('name the peer and the relay, and round-trip; other addresses are not relayed', () => {
    const address = relayedAddress(id(5), { host: '203.0.113.7', port: 4000 });
    assert.deepEqual(address, { host: `${id(5)}@203.0.113.7`, port: 4000 });
    assert.deepEqual(parseRelayedAddress(address), { peerId: id(5), relay: { host: '203.0.113.7', port: 4000 } });
    for (const host of ['203.0.113.7', `x@203.0.113.7`, `${id(5)}@`, `${id(5)}@a@b`]) assert.equal(parseRelayedAddress({ host, port: 1 }), undefined, host);
  });
});

describe('port mapping judgement', () => {
  it('announces a mapping with a public external address, refuses one behind a second NAT', () => {
    assert.deepEqual(judgeMapping({ host: '203.0.113.7', port: 4000 }), { state: 'mapped', external: { host: '203.0.113.7', port: 4000 } });
    assert.equal(judgeMapping({ host: '192.168.0.10', port: 4000 }).state, 'double-nat');
    assert.equal(judgeMapping({ host: '100.72.1.1', port: 4000 }).state, 'double-nat');
  });
});
