import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidArgumentError } from '../src/errors.js';
import {
  blockKey,
  blockKeyOf,
  blockLimitProblem,
  blockSchema,
  blockSizeBytes,
  blockStorageBytes,
  contentIdOf,
  joinContent,
  maxKeywordLength,
  maxKeywords,
  maxParts,
  parseContentId,
  proofLengthOf,
  splitContent,
  verifyBlock,
  type Block,
} from '../src/storage/block.js';
import { messageCodec } from '../src/transport/codec.js';
import { SeededRandom } from '../src/runtime/sim/index.js';

const random = new SeededRandom(42);

function randomContent(byteLength: number): Uint8Array {
  return random.bytes(byteLength);
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[bit >>> 3]! ^= 1 << (bit & 7);
  return copy;
}

function withProofHash(block: Block, level: number, hash: Uint8Array): Block {
  return { ...block, proof: block.proof.map((sibling, index) => (index === level ? hash : sibling)) };
}

describe('blocks: split and join', () => {
  for (const byteLength of [0, 1, 4095, 4096, 4097, 1 << 20]) {
    it(`round-trips ${byteLength} bytes and every block verifies on its own`, () => {
      const content = randomContent(byteLength);
      const { contentId, blocks } = splitContent(content, ['music', 'rock']);
      const parts = Math.max(1, Math.ceil(byteLength / blockSizeBytes));
      assert.equal(blocks.length, parts);
      assert.deepEqual(parseContentId(contentId)?.parts, parts);
      for (const [part, block] of blocks.entries()) {
        assert.equal(block.part, part);
        assert.equal(block.parts, parts);
        assert.equal(block.proof.length, Math.ceil(Math.log2(parts)));
        assert.deepEqual(block.keywords, ['music', 'rock']);
        assert.ok(verifyBlock(block, contentId), `part ${part}`);
        assert.equal(blockKey(block), blockKeyOf(contentId, part));
      }
      assert.deepEqual(joinContent(blocks), content);
    });
  }

  it('joins blocks given in any order, with duplicates', () => {
    const content = randomContent(5 * blockSizeBytes + 17);
    const { blocks } = splitContent(content, []);
    const shuffled = [...blocks].reverse();
    shuffled.push(blocks[2]!);
    assert.deepEqual(joinContent(shuffled), content);
  });

  it('refuses to join an incomplete, mixed or tampered set with a typed error', () => {
    const first = splitContent(randomContent(3 * blockSizeBytes), []).blocks;
    const second = splitContent(randomContent(3 * blockSizeBytes), []).blocks;
    assert.throws(() => joinContent([]), InvalidArgumentError);
    assert.throws(() => joinContent(first.slice(0, 2)), InvalidArgumentError);
    assert.throws(() => joinContent([first[0]!, second[1]!, first[2]!]), InvalidArgumentError);
    assert.throws(() => joinContent([first[0]!, { ...first[1]!, data: flipBit(first[1]!.data, 0) }, first[2]!]), InvalidArgumentError);
    assert.throws(() => joinContent([first[0]!, { ...first[1]!, keywords: ['forged'] }, first[2]!]), InvalidArgumentError);
    assert.throws(() => joinContent([first[0]!, { ...first[1]!, data: first[2]!.data }, first[2]!]), InvalidArgumentError);
    assert.throws(() => joinContent([first[0]!, { ...first[1]!, part: 2 }, first[2]!]), InvalidArgumentError);
  });

  it('copies the content: later changes to the caller’s bytes do not reach the blocks', () => {
    const content = randomContent(2 * blockSizeBytes);
    const { contentId, blocks } = splitContent(content, []);
    content.fill(0);
    assert.ok(blocks.every((block) => verifyBlock(block, contentId)));
  });

  it('prices a block by its bytes plus a fixed overhead', () => {
    const [block] = splitContent(randomContent(100), ['é']).blocks;
    assert.equal(blockStorageBytes(block!), 640 + 100 + 32 + 24 + 2);
  });
});

describe('blocks: content ids', () => {
  it('are stable, and differ for different bytes, keywords or part counts', () => {
    const content = randomContent(10_000);
    const id = splitContent(content, ['a']).contentId;
    assert.equal(splitContent(new Uint8Array(content), ['a']).contentId, id);
    assert.notEqual(splitContent(flipBit(content, 9999 * 8), ['a']).contentId, id);
    assert.notEqual(splitContent(content, ['b']).contentId, id);
    assert.notEqual(splitContent(content, ['a', 'a']).contentId, id);
    assert.notEqual(splitContent(content, []).contentId, id);
    assert.notEqual(splitContent(content.subarray(0, 9999), ['a']).contentId, id);
    const { contentHash, parts } = parseContentId(id)!;
    assert.equal(contentIdOf(contentHash, parts), id);
    assert.notEqual(contentIdOf(contentHash, parts + 1), id);
  });

  it('parse only well-formed ids within the part limit', () => {
    const hex = 'ab'.repeat(32);
    assert.equal(parseContentId(`${hex}.1`)?.parts, 1);
    assert.equal(parseContentId(`${hex}.${maxParts}`)?.parts, maxParts);
    for (const bad of [`${hex}.0`, `${hex}.${maxParts + 1}`, `${hex}.01`, `${hex}`, `${hex.slice(2)}.1`, `${hex.toUpperCase()}.1`, `${hex}.1/0`, '']) {
      assert.equal(parseContentId(bad), undefined, bad);
    }
  });

  it('a block does not verify against another content id', () => {
    const [block] = splitContent(randomContent(10), []).blocks;
    const other = splitContent(randomContent(10), []).contentId;
    assert.equal(verifyBlock(block!, other), false);
  });
});

describe('blocks: tampering', () => {
  // Five parts, so the tree has a padded level; a short last part.
  const { contentId, blocks } = splitContent(randomContent(4 * blockSizeBytes + 10), ['needle', 'ünïcode']);

  it('flipping any bit of the content hash or of any proof hash fails', () => {
    for (const block of blocks) {
      for (let bit = 0; bit < 256; bit += 1) assert.equal(verifyBlock({ ...block, contentHash: flipBit(block.contentHash, bit) }), false);
      for (let level = 0; level < block.proof.length; level += 1) {
        for (let bit = 0; bit < 256; bit += 1) assert.equal(verifyBlock(withProofHash(block, level, flipBit(block.proof[level]!, bit))), false);
      }
    }
  });

  it('flipping any bit of part or parts fails', () => {
    for (const block of blocks) {
      for (let bit = 0; bit < 32; bit += 1) {
        assert.equal(verifyBlock({ ...block, part: (block.part ^ (1 << bit)) >>> 0 }), false, `part bit ${bit}`);
        assert.equal(verifyBlock({ ...block, parts: (block.parts ^ (1 << bit)) >>> 0 }), false, `parts bit ${bit}`);
      }
    }
  });

  it('flipping any bit of the data fails', () => {
    const last = blocks[blocks.length - 1]!;
    for (let bit = 0; bit < last.data.byteLength * 8; bit += 1) assert.equal(verifyBlock({ ...last, data: flipBit(last.data, bit) }), false);
    const full = blocks[1]!;
    const bits = [...Array.from({ length: 16 }, (_, bit) => bit), ...Array.from({ length: 200 }, () => random.int(blockSizeBytes * 8)), blockSizeBytes * 8 - 1];
    for (const bit of bits) assert.equal(verifyBlock({ ...full, data: flipBit(full.data, bit) }), false, `bit ${bit}`);
  });

  it('changing the keywords in any way fails', () => {
    for (const block of blocks) {
      for (const [index, keyword] of block.keywords.entries()) {
        for (let position = 0; position < keyword.length; position += 1) {
          for (let bit = 0; bit < 16; bit += 1) {
            const changed = keyword.slice(0, position) + String.fromCharCode(keyword.charCodeAt(position) ^ (1 << bit)) + keyword.slice(position + 1);
            const keywords = block.keywords.map((other, otherIndex) => (otherIndex === index ? changed : other));
            assert.equal(verifyBlock({ ...block, keywords }), false, JSON.stringify(changed));
          }
        }
      }
      assert.equal(verifyBlock({ ...block, keywords: [...block.keywords].reverse() }), false);
      assert.equal(verifyBlock({ ...block, keywords: block.keywords.slice(1) }), false);
      assert.equal(verifyBlock({ ...block, keywords: [...block.keywords, 'extra'] }), false);
      assert.equal(verifyBlock({ ...block, keywords: ['needleü', 'nicode'] }), false);
    }
  });

  it('moving a block to another part, or trading proofs between blocks, fails', () => {
    assert.equal(verifyBlock({ ...blocks[1]!, part: 2 }), false);
    assert.equal(verifyBlock({ ...blocks[1]!, proof: blocks[2]!.proof }), false);
    assert.equal(verifyBlock({ ...blocks[1]!, data: blocks[2]!.data }), false);
    assert.ok(blocks.every((block) => verifyBlock(block, contentId)));
  });
});

describe('blocks: limits', () => {
  const [single] = splitContent(randomContent(100), []).blocks;
  const { blocks } = splitContent(randomContent(3 * blockSizeBytes), []);

  it('splitContent refuses too many or bad keywords and too large contents', () => {
    assert.throws(() => splitContent(new Uint8Array(1), Array.from({ length: maxKeywords + 1 }, (_, index) => `k${index}`)), InvalidArgumentError);
    assert.throws(() => splitContent(new Uint8Array(1), ['x'.repeat(maxKeywordLength + 1)]), InvalidArgumentError);
    assert.throws(() => splitContent(new Uint8Array(1), ['']), InvalidArgumentError);
    assert.throws(() => splitContent(new Uint8Array(1), ['\ud800']), InvalidArgumentError);
    assert.throws(() => splitContent(new Uint8Array(maxParts * blockSizeBytes + 1), []), InvalidArgumentError);
    assert.doesNotThrow(() => splitContent(new Uint8Array(1), Array.from({ length: maxKeywords }, () => 'x'.repeat(maxKeywordLength))));
  });

  it('verifyBlock rejects every broken limit without hashing garbage', () => {
    const broken: [string, Block][] = [
      ['parts 0', { ...single!, parts: 0, part: 0 }],
      ['parts over the maximum', { ...single!, parts: maxParts + 1, proof: Array.from({ length: 17 }, () => new Uint8Array(32)) }],
      ['fractional part', { ...blocks[0]!, part: 0.5 }],
      ['negative part', { ...blocks[0]!, part: -1 }],
      ['part = parts', { ...blocks[2]!, part: 3 }],
      ['NaN parts', { ...single!, parts: Number.NaN }],
      ['short content hash', { ...single!, contentHash: single!.contentHash.subarray(1) }],
      ['data over a block', { ...single!, data: new Uint8Array(blockSizeBytes + 1) }],
      ['short middle part', { ...blocks[1]!, data: blocks[1]!.data.subarray(1) }],
      ['empty last part of several', { ...blocks[2]!, data: new Uint8Array(0) }],
      ['missing proof hash', { ...blocks[0]!, proof: blocks[0]!.proof.slice(1) }],
      ['extra proof hash', { ...blocks[0]!, proof: [...blocks[0]!.proof, new Uint8Array(32)] }],
      ['short proof hash', { ...blocks[0]!, proof: [blocks[0]!.proof[0]!.subarray(1), blocks[0]!.proof[1]!] }],
      ['too many keywords', { ...single!, keywords: Array.from({ length: maxKeywords + 1 }, () => 'k') }],
      ['long keyword', { ...single!, keywords: ['x'.repeat(maxKeywordLength + 1)] }],
      ['keyword not a string', { ...single!, keywords: [7 as unknown as string] }],
      ['data not bytes', { ...single!, data: 'text' as unknown as Uint8Array }],
    ];
    for (const [name, block] of broken) {
      assert.notEqual(blockLimitProblem(block), undefined, name);
      assert.equal(verifyBlock(block), false, name);
    }
    assert.equal(blockLimitProblem(single!), undefined);
  });

  it('has proofs of ceil(log2(parts)) hashes', () => {
    for (const [parts, length] of [[1, 0], [2, 1], [3, 2], [4, 2], [5, 3], [256, 8], [257, 9], [maxParts, 16]] as const) {
      assert.equal(proofLengthOf(parts), length, `${parts} parts`);
    }
  });

  it('the wire schema round-trips a block and rejects oversized or extra fields', () => {
    const codec = messageCodec('block', blockSchema);
    const { contentId, blocks: parts } = splitContent(randomContent(blockSizeBytes + 5), ['wire']);
    for (const block of parts) assert.ok(verifyBlock(codec.decode(codec.encode(block)), contentId));
    const block = parts[0]!;
    assert.equal(codec.is({ ...block, extra: 1 }), false);
    assert.equal(codec.is({ ...block, data: new Uint8Array(blockSizeBytes + 1) }), false);
    assert.equal(codec.is({ ...block, contentHash: new Uint8Array(33) }), false);
    assert.equal(codec.is({ ...block, parts: maxParts + 1 }), false);
    assert.equal(codec.is({ ...block, proof: Array.from({ length: 17 }, () => new Uint8Array(32)) }), false);
    assert.equal(codec.is({ ...block, keywords: ['x'.repeat(maxKeywordLength + 1)] }), false);
  });
});

describe('blocks: properties', () => {
  it('any content splits into verifying blocks that join back, and any one-bit change is caught', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 6 * blockSizeBytes, size: 'max' }),
        fc.array(fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }), { maxLength: 4 }),
        fc.nat(),
        fc.nat(),
        (content, keywords, blockChoice, bitChoice) => {
          const { contentId, blocks } = splitContent(content, keywords);
          assert.equal(blocks.length, Math.max(1, Math.ceil(content.byteLength / blockSizeBytes)));
          assert.ok(blocks.every((block) => verifyBlock(block, contentId)));
          assert.deepEqual(joinContent(blocks), content);
          const block = blocks[blockChoice % blocks.length]!;
          if (block.data.byteLength > 0) {
            assert.equal(verifyBlock({ ...block, data: flipBit(block.data, bitChoice % (block.data.byteLength * 8)) }), false);
          }
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });
});
