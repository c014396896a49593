// Runs on: a shard worker. The cache of decoded (checked, decompressed) data blocks that
// every open TableReader of one engine shares. Owned by one thread; not safe across threads.
//
// Bounded by bytes, evicting by CLOCK (second chance), an approximation of LRU that costs a
// hit one flag write: a hit on a cold cache is memory-latency bound, and moving the entry to
// the front of an LRU list would also write its two neighbours (two more cache misses). New
// blocks enter at the front of a circular list; eviction looks at the back: a block used
// since it got there is spared once (flag cleared, moved to the front), the first one not
// used is dropped.
//
// Keys are numbers, never strings: each open reader takes a small id from a recycled pool
// (`allocateId`) and owns one Map from block offset to entry, so a key is a small integer
// (no hashing of doubles, no boxing) and closing a reader drops its blocks without looking
// at anyone else's. Cached Buffers are never written: views into them stay valid after
// eviction.

import { invariant } from '../../errors.js';

/** What a cached block costs beyond its bytes: the entry, its Map slot, the Buffer object. */
const ENTRY_OVERHEAD = 160;

export interface BlockCacheStats {
  hits: number;
  misses: number;
  /** Bytes charged for the blocks held (their lengths plus per-entry overhead). */
  bytes: number;
  capacity: number;
  /** Blocks dropped to stay within capacity. */
  evictions: number;
}

/** One cached block; a node of the CLOCK list. */
class Entry {
  prev: Entry = this;
  next: Entry = this;
  /** Used since it last reached the back of the list. */
  referenced = false;
  constructor(
    readonly id: number,
    readonly offset: number,
    readonly block: Buffer,
    readonly charge: number,
  ) {}
}

export class BlockCache {
  /** Live counters, updated in place (read them, do not write them). */
  readonly stats: BlockCacheStats;
  /** Per reader id: block offset → entry. */
  private readonly tables: (Map<number, Entry> | undefined)[] = [];
  /** Sentinel of the circular list: head.next is the newest entry, head.prev the next to examine. */
  private readonly head = new Entry(-1, -1, Buffer.alloc(0), 0);
  private readonly freeIds: number[] = [];
  private blocks = 0;

  constructor(readonly capacityBytes: number) {
    invariant(Number.isSafeInteger(capacityBytes) && capacityBytes >= 0, 'cache capacity is a non-negative integer');
    this.stats = { hits: 0, misses: 0, bytes: 0, capacity: capacityBytes, evictions: 0 };
  }

  /** An id for a newly opened reader; give it back with `releaseId` when the reader closes. */
  allocateId(): number {
    const id = this.freeIds.pop() ?? this.tables.length;
    this.tables[id] = new Map();
    return id;
  }

  /** Drops the blocks of reader `id` and recycles the id. */
  releaseId(id: number): void {
    this.evict(id);
    this.tables[id] = undefined;
    this.freeIds.push(id);
  }

  /** The block of reader `id` at file `offset`; undefined on a miss. */
  get(id: number, offset: number): Buffer | undefined {
    const e = this.tables[id]?.get(offset);
    if (e === undefined) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    e.referenced = true;
    return e.block;
  }

  /**
   * Caches `block` (never written afterwards, by anyone) and evicts blocks until the total is
   * within capacity. A block bigger than the whole cache is not kept.
   */
  set(id: number, offset: number, block: Buffer): void {
    invariant(Number.isSafeInteger(id) && id >= 0, 'cache id is a non-negative integer');
    const charge = block.length + ENTRY_OVERHEAD;
    if (charge > this.capacityBytes) return;
    let table = this.tables[id];
    if (table === undefined) {
      table = new Map();
      this.tables[id] = table;
    }
    const old = table.get(offset);
    if (old !== undefined) this.remove(old);
    const e = new Entry(id, offset, block, charge);
    this.pushFront(e);
    table.set(offset, e);
    this.blocks++;
    this.stats.bytes += charge;
    while (this.stats.bytes > this.capacityBytes) this.evictOne();
  }

  /** Drops every block of reader `id` (when it closes). */
  evict(id: number): void {
    const table = this.tables[id];
    if (table === undefined) return;
    for (const e of table.values()) this.unlink(e);
    this.blocks -= table.size;
    table.clear();
  }

  /** Blocks held. */
  get size(): number {
    return this.blocks;
  }

  /** CLOCK: spare and move to the front every referenced block at the back, drop the first unreferenced one. */
  private evictOne(): void {
    const head = this.head;
    for (;;) {
      const e = head.prev;
      invariant(e !== head, 'cache over capacity with no blocks');
      if (!e.referenced) {
        this.remove(e);
        this.stats.evictions++;
        return;
      }
      e.referenced = false;
      this.unlinkOnly(e);
      this.pushFront(e);
    }
  }

  private pushFront(e: Entry): void {
    const head = this.head;
    e.next = head.next;
    e.prev = head;
    head.next.prev = e;
    head.next = e;
  }

  /** Takes `e` out of the list and the byte count (not out of its table). */
  private unlink(e: Entry): void {
    this.unlinkOnly(e);
    this.stats.bytes -= e.charge;
  }

  private unlinkOnly(e: Entry): void {
    e.prev.next = e.next;
    e.next.prev = e.prev;
    e.prev = e;
    e.next = e;
  }

  private remove(e: Entry): void {
    this.unlink(e);
    this.tables[e.id]!.delete(e.offset);
    this.blocks--;
  }
}
