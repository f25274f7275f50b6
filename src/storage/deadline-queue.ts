/**
 * Deadlines as data (timers are data, as in quinn-proto), indexed so that a wake-up costs only the
 * work that is due: the core asks for the head, never scans.
 *
 * - `DeadlineQueue`: one deadline per key at any time, a binary min-heap with lazy
 *   invalidation (moving or deleting a deadline leaves the old heap entry behind; it is
 *   skipped when it surfaces). The heap is rebuilt when stale entries outnumber live ones,
 *   so it stays within twice the live keys (plus a small constant).
 * - `ExpiryQueue`: items that all expire the same lifetime after they were last touched,
 *   touched at non-decreasing times, so appending keeps the queue sorted by expiry: O(1)
 *   touch (an array push, no hashing: it runs for every group of every beat received) and
 *   O(1) head. Touching again or leaving the queue needs no removal: the owner says what
 *   time an item is queued at now, and entries that disagree are stale and skipped. It is
 *   compacted when stale entries outnumber live ones several times over.
 */

interface HeapEntry<Key> {
  atMs: number;
  key: Key;
}

/** Stale heap entries tolerated beyond the live ones before the heap is rebuilt. */
const compactSlack = 32;
/** Expiry-queue entries tolerated before the first compaction. */
const compactFloor = 1024;

export class DeadlineQueue<Key> {
  private readonly deadlines = new Map<Key, number>();
  private heap: Array<HeapEntry<Key>> = [];
  /** Heap entries examined by `popDue` and `nextMs`, stale ones included: the work wake-ups cost. */
  visits = 0;

  /** Keys with a deadline. */
  get size(): number {
    return this.deadlines.size;
  }

  get(key: Key): number | undefined {
    return this.deadlines.get(key);
  }

  /** Sets (or moves) `key`'s deadline; Infinity deletes it. */
  set(key: Key, atMs: number): void {
    if (atMs === Infinity) {
      this.delete(key);
      return;
    }
    if (this.deadlines.get(key) === atMs) return;
    this.deadlines.set(key, atMs);
    this.push({ atMs, key });
    if (this.heap.length > 2 * this.deadlines.size + compactSlack) this.rebuild();
  }

  delete(key: Key): void {
    this.deadlines.delete(key);
  }

  /** The earliest deadline, or Infinity when none. */
  nextMs(): number {
    this.dropStale();
    return this.heap[0]?.atMs ?? Infinity;
  }

  /** Removes and returns the keys whose deadline is at or before `nowMs`, earliest first. */
  popDue(nowMs: number): Key[] {
    const due: Key[] = [];
    for (this.dropStale(); this.heap.length > 0 && (this.heap[0] as HeapEntry<Key>).atMs <= nowMs; this.dropStale()) {
      const entry = this.pop();
      this.deadlines.delete(entry.key);
      due.push(entry.key);
    }
    return due;
  }

  private dropStale(): void {
    while (this.heap.length > 0) {
      const top = this.heap[0] as HeapEntry<Key>;
      this.visits += 1;
      if (this.deadlines.get(top.key) === top.atMs) return;
      this.pop();
    }
  }

  private rebuild(): void {
    this.heap = [];
    for (const [key, atMs] of this.deadlines) this.push({ atMs, key });
  }

  private push(entry: HeapEntry<Key>): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((heap[parent] as HeapEntry<Key>).atMs <= entry.atMs) break;
      heap[index] = heap[parent] as HeapEntry<Key>;
      index = parent;
    }
    heap[index] = entry;
  }

  private pop(): HeapEntry<Key> {
    const heap = this.heap;
    const top = heap[0] as HeapEntry<Key>;
    const last = heap.pop() as HeapEntry<Key>;
    if (heap.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as HeapEntry<Key>).atMs < (heap[left] as HeapEntry<Key>).atMs ? right : left;
      if ((heap[child] as HeapEntry<Key>).atMs >= last.atMs) break;
      heap[index] = heap[child] as HeapEntry<Key>;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}

export class ExpiryQueue<Item> {
  private items: Item[] = [];
  private times: number[] = [];
  private head = 0;
  private latestTouchMs = -Infinity;
  /** Entries beyond which the queue is compacted (stale entries dropped). */
  private compactAbove = compactFloor;
  /** Entries examined by `popExpired` and `nextExpiryMs`, stale ones included: the work wake-ups cost. */
  visits = 0;

  /**
   * `touchedAtMs(item)` is the time the item is queued at now, or undefined when it is not
   * queued any more: an entry whose time no longer matches is stale, and skipped.
   */
  constructor(
    readonly lifetimeMs: number,
    private readonly touchedAtMs: (item: Item) => number | undefined,
  ) {}

  /** Entries held, stale ones included (bounded: see `touch`). */
  get length(): number {
    return this.items.length - this.head;
  }

  /** The item expires `lifetimeMs` after `atMs` unless touched again; times never go back (the caller's clock is monotonic). */
  touch(item: Item, atMs: number): void {
    // Our own invariant: an earlier time would break the order the expiry relies on.
    if (atMs < this.latestTouchMs) throw new Error(`expiry queue touched at ${atMs}, before ${this.latestTouchMs}`);
    this.latestTouchMs = atMs;
    this.items.push(item);
    this.times.push(atMs);
    if (this.length > this.compactAbove) this.compact();
  }

  /** When the oldest queued item expires, or Infinity when none is queued. */
  nextExpiryMs(): number {
    this.dropStale();
    return this.head < this.items.length ? (this.times[this.head] as number) + this.lifetimeMs : Infinity;
  }

  /** Removes and returns the items expired at `nowMs` (touched at or before `nowMs − lifetimeMs`), oldest first, each once. */
  popExpired(nowMs: number): Item[] {
    const expired = new Set<Item>();
    for (this.dropStale(); this.head < this.items.length && (this.times[this.head] as number) + this.lifetimeMs <= nowMs; this.dropStale()) {
      expired.add(this.items[this.head] as Item);
      this.head += 1;
    }
    this.trim();
    return [...expired];
  }

  private dropStale(): void {
    while (this.head < this.items.length) {
      this.visits += 1;
      if (this.touchedAtMs(this.items[this.head] as Item) === this.times[this.head]) return;
      this.head += 1;
    }
  }

  /** Drops the consumed prefix once it is most of the arrays. */
  private trim(): void {
    if (this.head < 1024 || this.head * 2 < this.items.length) return;
    this.items = this.items.slice(this.head);
    this.times = this.times.slice(this.head);
    this.head = 0;
  }

  /** Keeps only the entries still current: the queue stays within a few times its live items. */
  private compact(): void {
    const items: Item[] = [];
    const times: number[] = [];
    for (let index = this.head; index < this.items.length; index += 1) {
      const item = this.items[index] as Item;
      if (this.touchedAtMs(item) !== this.times[index]) continue;
      items.push(item);
      times.push(this.times[index] as number);
    }
    this.items = items;
    this.times = times;
    this.head = 0;
    this.compactAbove = Math.max(compactFloor, 4 * items.length);
  }
}
