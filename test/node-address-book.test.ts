import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressBook } from '../src/node/address-book.js';

const id = (n: number) => n.toString(16).padStart(64, '0');
const at = (port: number) => ({ host: '10.0.0.1', port });

describe('address book', () => {
  it('maps ids to the addresses they proved and back', () => {
    const book = new AddressBook(8);
    book.learn(id(1), at(1000));
    assert.deepEqual(book.address(id(1)), at(1000));
    assert.equal(book.peerAt(at(1000)), id(1));
    book.learn(id(1), at(2000)); // moved
    assert.equal(book.peerAt(at(1000)), undefined);
    assert.equal(book.peerAt(at(2000)), id(1));
  });

  it('gives an address a new peer took over to that peer alone', () => {
    const book = new AddressBook(8);
    book.learn(id(1), at(1000));
    book.learn(id(2), at(1000));
    assert.equal(book.peerAt(at(1000)), id(2));
    assert.equal(book.address(id(1)), undefined);
  });

  it('stays within its capacity however many identities are minted, forgetting the oldest', () => {
    const book = new AddressBook(4);
    for (let n = 1; n <= 1_000; n += 1) book.learn(id(n), at(n));
    assert.equal(book.size, 4);
    assert.equal(book.address(id(996)), undefined);
    assert.deepEqual(book.address(id(1_000)), at(1_000));
    assert.equal(book.peerAt(at(1)), undefined, 'the reverse index is bounded too');
  });
});
