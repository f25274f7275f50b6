import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../src/errors.js';
import { SeededRandom } from '../src/runtime/sim/index.js';
import { heartbeatCodec, type HeartbeatMessage } from '../src/storage/group-messages.js';
import { GroupMembership, membershipOptions, type PollResult } from '../src/storage/membership.js';

const key = `${'c'.repeat(64)}.1:0`; // segment 0 of a one-block content
const idOf = (letter: string) => letter.repeat(64);
const addressOf = (id: string) => ({ host: `${id.slice(0, 1)}.sim`, port: 1000 });
const record = (id: string, incarnation = 1) => ({ id, ...addressOf(id), incarnation });

/** Cores joined by a perfect in-test link: every poll's heartbeats are delivered at once to their targets. */
class CoreNetwork {
  readonly cores = new Map<string, GroupMembership>();
  readonly down = new Set<string>();
  nowMs = 0;
  last = new Map<string, PollResult>();
  /** The last heartbeat each core sent each peer, keyed `from>to`. */
  lastSent = new Map<string, HeartbeatMessage>();
  /** Every heartbeat delivered, the latest 10,000. */
  sentLog: Array<{ from: string; to: string; message: HeartbeatMessage }> = [];

  constructor(letters: string[], overrides = {}) {
    const random = new SeededRandom(5);
    for (const letter of letters) {
      const id = idOf(letter);
      this.cores.set(id, new GroupMembership(id, random.fork(letter.charCodeAt(0)), membershipOptions(overrides), 0));
    }
  }

  core(letter: string): GroupMembership {
    return this.cores.get(idOf(letter)) as GroupMembership;
  }

  /** Advances time in 100 ms steps, polling every live core and delivering what it sends. */
  run(ms: number): void {
    for (const end = this.nowMs + ms; this.nowMs < end; this.nowMs += 100) {
      for (const [id, core] of this.cores) {
        if (this.down.has(id)) continue;
        const result = core.poll(this.nowMs);
        this.last.set(id, result);
        for (const heartbeat of result.heartbeats) {
          if (this.down.has(heartbeat.peerId)) continue;
          // Through the codec, as on the wire.
          const message = heartbeatCodec.decode(heartbeatCodec.encode(heartbeat.message));
          this.lastSent.set(`${id}>${heartbeat.peerId}`, message);
          this.sentLog.push({ from: id, to: heartbeat.peerId, message });
          if (this.sentLog.length > 10_000) this.sentLog.shift();
          this.cores.get(heartbeat.peerId)?.receiveHeartbeat(id, addressOf(id), message, this.nowMs);
        }
      }
    }
  }
}

/** a, b and c hold the block; a's view is given by the test (as a recruiting leader would). */
function threeMembers(network: CoreNetwork): void {
  const [a, b, c] = ['a', 'b', 'c'].map(idOf) as [string, string, string];
  network.core('a').join(key, 3, [record(b), record(c)], 0);
  network.core('b').join(key, 3, [record(a), record(c)], 0);
  network.core('c').join(key, 3, [record(a), record(b)], 0);
}

describe('group membership core', () => {
  it('moves from cold to goldilocks to hot as members are admitted', () => {
    const core = new GroupMembership(idOf('a'), new SeededRandom(1), membershipOptions(), 0);
    core.join(key, 3, [], 0);
    assert.equal(core.state(key), 'cold');
    assert.deepEqual(
      core.poll(0).recruitments.map((recruitment) => recruitment.needed),
      [2],
      'the lone leader recruits two',
    );
    core.admit(key, record(idOf('b')), 10);
    core.admit(key, record(idOf('c')), 10);
    assert.equal(core.state(key), 'goldilocks');
    core.admit(key, record(idOf('d')), 20);
    assert.equal(core.state(key), 'hot');
  });

  it('elects the highest id once views agree, and only that leader recruits', () => {
    const network = new CoreNetwork(['a', 'b', 'c', 'd']);
    threeMembers(network);
    network.run(3_000);
    for (const letter of ['a', 'b', 'c']) {
      const snapshot = network.core(letter).snapshot()[0];
      assert.equal(snapshot?.leader, idOf('c'), `${letter} agrees on the leader`);
      assert.equal(snapshot?.state, 'goldilocks');
    }
    network.down.add(idOf('b'));
    network.run(4_000);
    const recruiters = [...network.last.entries()].filter(([, result]) => result.recruitments.length > 0).map(([id]) => id);
    assert.equal(network.core('c').state(key), 'cold');
    assert.ok(recruiters.every((id) => id === idOf('c')), 'only the leader recruits');
  });

  it('aggregates per peer pair: one heartbeat per peer per interval, whatever the number of shared groups', () => {
    const network = new CoreNetwork(['a', 'b'], { palpitationChance: 0 });
    for (let part = 0; part < 50; part += 1) {
      const groupKey = `${'c'.repeat(64)}.6400:${part}`;
      network.core('a').join(groupKey, 2, [record(idOf('b'))], 0);
      network.core('b').join(groupKey, 2, [record(idOf('a'))], 0);
    }
    let sent = 0;
    for (let nowMs = 2_000; nowMs <= 10_000; nowMs += 100) {
      const result = network.core('a').poll(nowMs);
      sent += result.heartbeats.length;
      // In full (50 groups), or a repeat of the last full beat (none on the wire).
      for (const { message } of result.heartbeats) assert.ok(message.repeat === undefined ? message.groups.length === 50 : message.groups.length === 0);
    }
    assert.ok(sent >= 4 && sent <= 6, `sent ${sent} heartbeats in 8 s at a 2 s interval`);
  });

  it('a steady pair beats in repeats, a change goes in full, and a lost full beat is asked for again', () => {
    const network = new CoreNetwork(['a', 'b', 'c']);
    threeMembers(network);
    network.run(4_000);
    const beatsFrom = (from: string, to: string) => network.lastSent.get(`${idOf(from)}>${idOf(to)}`);
    network.run(4_000);
    const steady = beatsFrom('a', 'b');
    assert.ok(steady?.repeat !== undefined, 'steady: a repeat');
    assert.deepEqual([steady.members, steady.groups], [[], []]);
    assert.ok(heartbeatCodec.encode(steady).length <= 64, 'a repeat is a few bytes, whatever the groups');
    // Repeats alone keep every member alive.
    network.run(20_000);
    for (const letter of ['a', 'b', 'c']) assert.equal(network.core(letter).state(key), 'goldilocks', letter);
    // c falls silent: a's view changes, so its next beats to b go in full.
    network.down.add(idOf('c'));
    network.run(3_000);
    const changed = [...network.sentLog].filter((entry) => entry.from === idOf('a') && entry.to === idOf('b') && entry.message.groups.length > 0);
    assert.ok(changed.length > 0, 'a change goes in full');
    network.down.delete(idOf('c'));
    network.run(6_000);
    // A receiver that lost the full beat (here: forgot it) hears only repeats: it asks for a full beat, and gets one.
    const b = network.core('b') as unknown as { peers: Map<string, { received: unknown }> };
    const peerA = b.peers.get(idOf('a'));
    assert.ok(peerA?.received, 'b holds a full beat from a');
    peerA.received = undefined;
    network.sentLog.length = 0;
    network.run(6_000);
    assert.ok(network.sentLog.some((entry) => entry.from === idOf('b') && entry.to === idOf('a') && entry.message.resync === true), 'b asked for a full beat');
    assert.ok(network.sentLog.some((entry) => entry.from === idOf('a') && entry.to === idOf('b') && entry.message.state !== undefined), 'a sent one');
    for (const letter of ['a', 'b', 'c']) assert.equal(network.core(letter).state(key), 'goldilocks', letter);
  });

  it('suspects a silent member after the failure timeout; it comes back when heard again', () => {
    const network = new CoreNetwork(['a', 'b', 'c']);
    threeMembers(network);
    network.run(2_000);
    network.down.add(idOf('a'));
    network.run(3_000);
    const suspected = network.core('b').snapshot()[0]?.members.find((member) => member.id === idOf('a'));
    assert.equal(suspected?.status, 'suspected');
    assert.equal(network.core('b').state(key), 'cold');
    network.down.delete(idOf('a'));
    network.run(5_000);
    for (const letter of ['b', 'c']) {
      assert.equal(network.core(letter).snapshot()[0]?.members.find((member) => member.id === idOf('a'))?.status, 'alive', letter);
    }
  });

  it('a poll late by seconds (its own event loop stalled) suspects nobody; the allowance fades and a silent member is suspected again', () => {
    const network = new CoreNetwork(['a', 'b', 'c']);
    threeMembers(network);
    network.run(2_000);
    const b = network.core('b');
    // b's loop stalls 4 s: its next poll comes that late after its deadline, before the beats sent meanwhile are read.
    const { nextDeadlineMs } = b.poll(network.nowMs);
    network.nowMs = nextDeadlineMs + 4_000;
    assert.deepEqual(b.poll(network.nowMs, 4_000).silentPeers, []);
    assert.ok(b.snapshot()[0]?.members.every((member) => member.status === 'alive'));
    network.run(1_000);
    assert.ok(b.snapshot()[0]?.members.every((member) => member.status === 'alive'));
    // Polled on time again for three intervals, b forgets the stall: a member silent for the plain timeout is suspected.
    network.run(6_000);
    network.down.add(idOf('a'));
    network.run(2_500);
    assert.equal(b.snapshot()[0]?.members.find((member) => member.id === idOf('a'))?.status, 'suspected');
  });

  it('beats each peer at its own phase; the first member to notice a silent crash tells the leader at once', () => {
    const network = new CoreNetwork(['a', 'b', 'c'], { palpitationChance: 0 });
    threeMembers(network);
    network.run(2_000);
    // b beats a and c at different moments of its interval, so they notice its crash at different moments.
    const beatsAt = (from: string, to: string) => {
      const times: number[] = [];
      for (let step = 0; step < 20; step += 1) {
        network.run(100);
        const sent = network.last.get(idOf(from))?.heartbeats.some((heartbeat) => heartbeat.peerId === idOf(to));
        if (sent) times.push(network.nowMs % 2_000);
      }
      return times;
    };
    const toA = beatsAt('b', 'a');
    const toC = beatsAt('b', 'c');
    assert.equal(toA.length, 1);
    assert.equal(toC.length, 1);
    assert.notEqual(toA[0], toC[0], 'b beats a and c at different phases');
    // b crashes just after beating c: c's news of b is fresh, a's is older, so a notices first.
    while (!network.last.get(idOf('b'))?.heartbeats.some((heartbeat) => heartbeat.peerId === idOf('c'))) network.run(100);
    network.down.add(idOf('b'));
    const status = (letter: string) => network.core(letter).snapshot()[0]?.members.find((member) => member.id === idOf('b'))?.status;
    let noticedAtMs: number | undefined;
    for (let step = 0; step < 40 && noticedAtMs === undefined; step += 1) {
      network.run(100);
      if (status('a') === 'suspected') noticedAtMs = network.nowMs;
    }
    assert.ok(noticedAtMs !== undefined, 'a notices the crash');
    network.run(100);
    // c (the highest id) leads: it knows within one step, well before its own timeout, and recruits.
    assert.equal(status('c'), 'suspected');
    assert.equal(network.core('c').state(key), 'cold');
  });

  it('refutes a suspicion about itself with a higher incarnation', () => {
    const network = new CoreNetwork(['a', 'b', 'c']);
    threeMembers(network);
    network.run(2_000);
    const before = network.core('a').incarnation;
    const claim: HeartbeatMessage = {
      incarnation: 1,
      members: [{ id: idOf('a'), host: 'a.sim', port: 1000 }],
      groups: [{ key, replicas: 3, wanted: 3, view: [[-1, 1, 0], [0, before, 1]] }],
    };
    network.core('a').receiveHeartbeat(idOf('b'), addressOf(idOf('b')), claim, network.nowMs);
    assert.equal(network.core('a').incarnation, before + 1);
    network.run(1_000);
    assert.equal(network.core('b').snapshot()[0]?.members.find((member) => member.id === idOf('a'))?.incarnation, before + 1);
  });

  it('keeps a departed member out of the view when a stale view still lists it alive', () => {
    const network = new CoreNetwork(['a', 'b', 'c']);
    threeMembers(network);
    network.run(2_000);
    const staleFromB = network.lastSent.get(`${idOf('b')}>${idOf('c')}`);
    assert.ok(staleFromB);
    network.core('a').depart(key, network.nowMs);
    network.run(500);
    assert.equal(network.core('c').snapshot()[0]?.members.find((member) => member.id === idOf('a'))?.status, 'left');
    network.core('c').receiveHeartbeat(idOf('b'), addressOf(idOf('b')), staleFromB as HeartbeatMessage, network.nowMs);
    assert.equal(network.core('c').snapshot()[0]?.members.find((member) => member.id === idOf('a'))?.status, 'left', 'the tombstone wins');
  });

  it('raises the target with hits from distinct requesters, up to the cap, and lowers it when demand falls', () => {
    const core = new GroupMembership(idOf('a'), new SeededRandom(1), membershipOptions({ maxReplicas: 5, queriesPerExtraReplica: 10 }), 0);
    core.join(key, 3, [], 0);
    for (let requester = 0; requester < 100; requester += 1) core.recordHit(key, `requester-${requester}`, 1_000);
    assert.equal(core.snapshot()[0]?.target, 5);
    core.poll(300_000);
    assert.equal(core.snapshot()[0]?.target, 3);
  });

  it('counts one requester once per popularity window, however often it asks', () => {
    const core = new GroupMembership(idOf('a'), new SeededRandom(1), membershipOptions({ maxReplicas: 5, queriesPerExtraReplica: 2, popularityWindowMs: 10_000 }), 0);
    core.join(key, 3, [], 0);
    // One hit every 10 ms for 5 minutes: counted once per window, the decayed count stays below 1 / (1 − e^−1) < 2.
    for (let nowMs = 0; nowMs <= 300_000; nowMs += 10) core.recordHit(key, 'hammer', nowMs);
    assert.equal(core.snapshot()[0]?.target, 3, 'one peer cannot raise it');
    core.recordHit(key, 'another', 300_000);
    assert.equal(core.snapshot()[0]?.target, 4, 'a second requester can');
  });

  it('shifts its phase with palpitations', () => {
    const steady = new GroupMembership(idOf('a'), new SeededRandom(2), membershipOptions({ palpitationChance: 0 }), 0);
    const palpitating = new GroupMembership(idOf('a'), new SeededRandom(2), membershipOptions({ palpitationChance: 1 }), 0);
    for (const core of [steady, palpitating]) core.join(key, 2, [record(idOf('b'))], 0);
    const beatTimes = (core: GroupMembership) => {
      const times: number[] = [];
      for (let nowMs = 0; nowMs < 20_000; nowMs += 10) {
        const result = core.poll(nowMs);
        if (result.heartbeats.length > 0 && nowMs > 100) times.push(nowMs);
        core.receiveHeartbeat(idOf('b'), addressOf(idOf('b')), { incarnation: 1, members: [], groups: [{ key, replicas: 2, wanted: 2, view: [[-1, 1, 0]] }] }, nowMs);
      }
      return times;
    };
    const steadyGaps = new Set(beatTimes(steady).slice(1).map((time, index, all) => time - (index === 0 ? 0 : (all[index - 1] as number))));
    const palpitatingTimes = beatTimes(palpitating);
    assert.ok(palpitatingTimes.length > 10, 'palpitations beat more often than the interval');
    assert.ok(steadyGaps.size <= 3, 'without palpitations the gap is the interval');
  });

  it('rejects heartbeats that contradict themselves and ignores strangers that do not name this node', () => {
    const core = new GroupMembership(idOf('a'), new SeededRandom(1), membershipOptions(), 0);
    core.join(key, 3, [record(idOf('b'))], 0);
    const good: HeartbeatMessage = { incarnation: 1, members: [{ id: idOf('a'), host: 'a.sim', port: 1000 }], groups: [{ key, replicas: 3, wanted: 3, view: [[-1, 1, 0], [0, 1, 0]] }] };
    const outOfTable: HeartbeatMessage = { ...good, groups: [{ key, replicas: 3, wanted: 3, view: [[-1, 1, 0], [5, 1, 0]] }] };
    const noSelf: HeartbeatMessage = { ...good, groups: [{ key, replicas: 3, wanted: 3, view: [[0, 1, 0]] }] };
    const namesSender: HeartbeatMessage = { ...good, members: [{ id: idOf('b'), host: 'b.sim', port: 1000 }] };
    for (const bad of [outOfTable, noSelf, namesSender]) assert.throws(() => core.receiveHeartbeat(idOf('b'), addressOf(idOf('b')), bad, 1), ProtocolError);
    // A stranger claiming the group with invented members that never joined, not naming us: ignored.
    const forged: HeartbeatMessage = {
      incarnation: 1,
      members: [{ id: idOf('e'), host: 'e.sim', port: 1000 }, { id: idOf('f'), host: 'f.sim', port: 1000 }],
      groups: [{ key, replicas: 3, wanted: 3, view: [[-1, 1, 0], [0, 1, 0], [1, 1, 0]] }],
    };
    core.receiveHeartbeat(idOf('d'), addressOf(idOf('d')), forged, 1);
    assert.deepEqual(core.snapshot()[0]?.members.map((member) => member.id).sort(), [idOf('a'), idOf('b')]);
    // Schema limits: absurd counts never reach the core.
    const absurd = { incarnation: 1, members: [], groups: [{ key, replicas: 1000, wanted: 1000, view: [[-1, 1, 0]] }] };
    assert.throws(() => heartbeatCodec.decode(heartbeatCodec.encode(absurd as unknown as HeartbeatMessage)), ProtocolError);
  });
});
