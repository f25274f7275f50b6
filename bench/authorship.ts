/**
 * What signed updates, tombstones and possession challenges cost in CPU: signing and
 * verifying a name record (the author's key imported once, and a new author every time),
 * verifying a tombstone, answering a full challenge (32 items of a whole 4 KiB block each,
 * the worst case) and planning one sweep for a node in 1,000 groups shared with 6 peers.
 *
 *   node dist/bench/authorship.js [--seconds 1]
 */
import { SeededRandom } from '../src/runtime/sim/random.js';
import { createIdentity, signerOf } from '../src/node/identity.js';
import { signNameRecord, signTombstone, verifyNameRecord, verifyTombstone } from '../src/storage/authorship.js';
import { maxChallengeItems, possessionDigest, PossessionChallenges, type PeerSeats } from '../src/storage/challenges.js';
import { cpuSecondsPerCall, numberOption, report, round } from './common.js';

const args = process.argv.slice(2);
const measureMs = numberOption(args, 'seconds', 1) * 1000;
const random = new SeededRandom(11);
const signer = signerOf(createIdentity(random));
const contentId = `${'ab'.repeat(32)}.3`;
const record = signNameRecord(signer, { name: 'wiki/home', sequence: 7, contentId });
const tombstone = signTombstone(signer, contentId);
const strangers = Array.from({ length: 256 }, () => {
  const stranger = signerOf(createIdentity(random));
  return signNameRecord(stranger, { name: 'wiki/home', sequence: 1, contentId });
});

const block = random.bytes(4096);
const nonce = random.bytes(16);
const groupsPerNode = 1_000;
const peers: PeerSeats[] = Array.from({ length: 6 }, (_, peer) => ({
  peerId: `peer-${peer}`,
  address: { host: '10.0.0.1', port: 4000 + peer },
  // Each group has 3 members: this node and 2 of the 6 peers.
  seats: Array.from({ length: groupsPerNode / 3 }, (_, group) => ({ key: `${'cd'.repeat(32)}.128:${peer * 1_000 + group}`, sinceMs: group })),
}));
const held = { parts: () => Array.from({ length: 128 }, (_, part) => part), blockLength: () => 4096 };


let strangerIndex = 0;
let now = 0;
const subjects: Record<string, () => void> = {
  'sign a name record': () => void signNameRecord(signer, { name: 'wiki/home', sequence: 8, contentId }),
  'verify a name record (key cached)': () => {
    if (!verifyNameRecord(record)) throw new Error('the record must verify');
  },
  'verify a name record (256 authors in turn)': () => {
    // 256 distinct authors cycle through the 1,024-key cache: each key is imported once.
    if (!verifyNameRecord(strangers[strangerIndex++ % strangers.length]!)) throw new Error('the record must verify');
  },
  'verify a tombstone': () => {
    if (!verifyTombstone(tombstone)) throw new Error('the tombstone must verify');
  },
  [`answer a challenge (${maxChallengeItems} whole blocks)`]: () => {
    for (let item = 0; item < maxChallengeItems; item += 1) possessionDigest(nonce, `k/${item}`, block, 0, block.byteLength);
  },
  [`plan a sweep (${groupsPerNode} groups, ${peers.length} peers)`]: () => {
    const planner = new PossessionChallenges(random, 1, now);
    now += 2;
    planner.poll(now, () => peers, held);
  },
};

const metrics: Record<string, number> = {};
const rows: Array<Record<string, string>> = [];
for (const [name, work] of Object.entries(subjects)) {
  const seconds = cpuSecondsPerCall(work, measureMs);
  metrics[name] = seconds;
  rows.push({ subject: name, 'µs per call': String(round(seconds * 1e6, 1)), 'calls per CPU second': String(round(1 / seconds)) });
}

const verifyPerSecond = 1 / (metrics['verify a name record (key cached)'] as number);
const sweepSeconds = metrics[`plan a sweep (${groupsPerNode} groups, ${peers.length} peers)`] as number;
await report({
  name: 'authorship',
  rows,
  targets: [
    // A resolve asks up to 64 hosts: their answers must verify in well under a round trip.
    { name: 'name records verified per CPU second', target: '≥ 5,000', actual: String(round(verifyPerSecond)), met: verifyPerSecond >= 5_000 },
    // One sweep per 60 s interval: planning it must cost a negligible share of a core.
    { name: 'share of a core spent planning sweeps (1,000 groups, 60 s interval)', target: '≤ 0.1 %', actual: `${round((sweepSeconds / 60) * 100, 4)} %`, met: sweepSeconds / 60 <= 0.001 },
  ],
  metrics: { ...metrics, groupsPerNode, peers: peers.length, maxChallengeItems },
});
