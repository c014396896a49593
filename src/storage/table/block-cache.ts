// Runs on: a shard worker. The cache of decoded (checked, decompressed) data blocks that
// every open TableReader of one engine shares. Owned by one thread; not safe across threads.
//
// The cache owns its memory: a slab of a few large ArrayBuffers (segments of 1 MiB) cut into
// slots of `slotBytes` (the engine's block size: a data block's contents never exceed it
// unless one entry alone does). A block is decoded straight into a slot; an evicted slot is
// reused for the next block, so caching allocates nothing and V8's GC has nothing to free.
// Segments are added only as the cache fills, so a near-empty shard holds little.
//
// The budget covers, at every moment (not only after a GC):
//   slab segments allocated + pinned bytes (the index and filter blocks of open tables, held
//   by their readers and charged here) + blocks bigger than a slot (own Buffers) + memory
//   released by the cache that V8 has not collected yet (evicted big blocks, retired segments:
//   a FinalizationRegistry tells when it is gone).
// When pinned bytes grow (a table opens) past what the budget leaves, big blocks go first,
// then whole slab segments are retired from the top; their memory stays charged until it is
// collected, so the slab regrows only once it is.
//
// Eviction is CLOCK (second chance) over the slots: a hit costs one flag write; the hand
// sweeps the slots, sparing a slot used since its last visit once (clearing its flag) and
// reusing the first one not used. Big blocks are evicted oldest first, and only take room the
// slab has not taken.
//
// Keys are numbers: each open reader takes a small id from a recycled pool (`allocateId`) and
// owns one Map from block offset to slot, so closing a reader drops its blocks without looking
// at anyone else's. A slot's bytes are rewritten when it is reused: callers must copy what
// they keep (TableReader.get copies the value it returns).

import { invariant } from '../../errors.js';

/** Target bytes of one slab segment: few enough ArrayBuffers to count, small enough to grow by. */
export const SLAB_SEGMENT_BYTES = 1024 * 1024;
/** Largest share of the budget one big block may take: a huge entry must not flush the cache. */
const BIG_BLOCK_SHARE = 4;
/** slotState value of a slot claimed by a reader that is decoding into it. */
const CLAIMED = -2;
/** slotState value of a free slot. */
const FREE = -1;

export interface BlockCacheStats {
  hits: number;
  misses: number;
  /** Bytes charged against the budget: slab + pinned + big blocks + released not yet collected. */
  bytes: number;
  capacity: number;
  /** Blocks dropped to stay within capacity (slots reused, big blocks dropped). */
  evictions: number;
  /** Bytes of slab segments allocated. */
  slabBytes: number;
  /** Bytes of index and filter blocks pinned by open readers. */
  pinnedBytes: number;
  /** Bytes of cached blocks bigger than a slot, and their count. */
  bigBytes: number;
  bigBlocks: number;
  /** Bytes the cache let go of that V8 has not collected yet. */
  releasedBytes: number;
  /** Size of a slot, and slots allocated. */
  slotBytes: number;
  slots: number;
}

interface BigEntry {
  id: number;
  offset: number;
  block: Buffer;
  live: boolean;
}

export class BlockCache {
  /** Live counters, updated in place (read them, do not write them). */
  readonly stats: BlockCacheStats;
  readonly slotBytes: number;
  /** After a `find` that returned true: the block is `buf[start, end)`. */
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;

  /** Per reader id: block offset → slot. */
  private readonly tables: (Map<number, number> | undefined)[] = [];
  /** Per reader id: block offset → big block. */
  private readonly bigTables: (Map<number, BigEntry> | undefined)[] = [];
  private readonly freeIds: number[] = [];
  private readonly slotsPerSegment: number;
  private segments: Buffer[] = [];
  /** Per slot: owning reader id, FREE or CLAIMED. */
  private slotState: Int32Array;
  private slotOffset: Float64Array;
  private slotLength: Int32Array;
  private slotUsed: Uint8Array;
  private free: number[] = [];
  private slotCount = 0;
  private hand = 0;
  private readonly big: BigEntry[] = [];
  private bigHead = 0;
  private readonly collected = new FinalizationRegistry<number>((bytes) => {
    this.stats.releasedBytes -= bytes;
    this.recount();
  });

  constructor(readonly capacityBytes: number, slotBytes = 4096) {
    invariant(Number.isSafeInteger(capacityBytes) && capacityBytes >= 0, 'cache capacity is a non-negative integer');
    invariant(Number.isSafeInteger(slotBytes) && slotBytes >= 64, 'cache slot size is an integer >= 64');
    this.slotBytes = slotBytes;
    this.slotsPerSegment = Math.max(1, Math.floor(SLAB_SEGMENT_BYTES / slotBytes));
    const maxSlots = Math.floor(capacityBytes / slotBytes);
    this.slotState = new Int32Array(maxSlots);
    this.slotOffset = new Float64Array(maxSlots);
    this.slotLength = new Int32Array(maxSlots);
    this.slotUsed = new Uint8Array(maxSlots);
    this.stats = {
      hits: 0, misses: 0, bytes: 0, capacity: capacityBytes, evictions: 0, slabBytes: 0, pinnedBytes: 0,
      bigBytes: 0, bigBlocks: 0, releasedBytes: 0, slotBytes, slots: 0,
    };
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
    this.bigTables[id] = undefined;
    this.freeIds.push(id);
  }

  /** Whether the block of reader `id` at file `offset` is cached; if so it is `buf[start, end)`. */
  find(id: number, offset: number): boolean {
    const slot = this.tables[id]?.get(offset);
    if (slot !== undefined) {
      this.stats.hits++;
      this.slotUsed[slot] = 1;
      const per = this.slotsPerSegment;
      const seg = (slot / per) | 0;
      this.buf = this.segments[seg]!;
      this.start = (slot - seg * per) * this.slotBytes;
      this.end = this.start + this.slotLength[slot]!;
      return true;
    }
    if (this.stats.bigBlocks > 0) {
      const e = this.bigTables[id]?.get(offset);
      if (e !== undefined) {
        this.stats.hits++;
        this.buf = e.block;
        this.start = 0;
        this.end = e.block.length;
        return true;
      }
    }
    this.stats.misses++;
    return false;
  }

  /**
   * A slot to decode a block of at most `slotBytes` into (a free one, a new segment's, or the
   * next CLOCK victim), or -1 when the budget leaves none. The caller writes the block at
   * `slotBuffer(slot)[slotStart(slot)...]` and then calls `commit`, or `unclaim` if it failed.
   */
  claim(): number {
    let slot = this.free.pop();
    if (slot === undefined && this.grow()) slot = this.free.pop();
    if (slot === undefined) slot = this.victim();
    if (slot < 0) return -1;
    this.slotState[slot] = CLAIMED;
    return slot;
  }

  slotBuffer(slot: number): Buffer {
    return this.segments[(slot / this.slotsPerSegment) | 0]!;
  }

  slotStart(slot: number): number {
    return (slot % this.slotsPerSegment) * this.slotBytes;
  }

  /** Files the claimed `slot`, now holding `length` bytes, as reader `id`'s block at `offset`. */
  commit(slot: number, id: number, offset: number, length: number): void {
    invariant(this.slotState[slot] === CLAIMED, 'commit of a slot not claimed');
    invariant(length <= this.slotBytes, 'block fits its slot');
    const table = this.tables[id];
    invariant(table !== undefined, 'commit for a reader id in use');
    const old = table.get(offset);
    if (old !== undefined) this.freeSlot(old);
    this.slotState[slot] = id;
    this.slotOffset[slot] = offset;
    this.slotLength[slot] = length;
    this.slotUsed[slot] = 0;
    table.set(offset, slot);
  }

  /** Gives back a claimed slot that was not filled (the block failed its checks). */
  unclaim(slot: number): void {
    invariant(this.slotState[slot] === CLAIMED, 'unclaim of a slot not claimed');
    this.slotState[slot] = FREE;
    this.free.push(slot);
  }

  /**
   * Caches `block`, bigger than a slot (never written afterwards, by anyone), if the budget
   * has room beside the slab once older big blocks are dropped. Returns whether it was kept.
   */
  setBig(id: number, offset: number, block: Buffer): boolean {
    invariant(this.tables[id] !== undefined, 'setBig for a reader id in use');
    const s = this.stats;
    if (block.length > this.capacityBytes / BIG_BLOCK_SHARE) return false;
    while (s.slabBytes + s.pinnedBytes + s.bigBytes + s.releasedBytes + block.length > this.capacityBytes && this.dropOldestBig());
    if (s.slabBytes + s.pinnedBytes + s.bigBytes + s.releasedBytes + block.length > this.capacityBytes) return false;
    let table = this.bigTables[id];
    if (table === undefined) {
      table = new Map();
      this.bigTables[id] = table;
    }
    const old = table.get(offset);
    if (old !== undefined) this.dropBig(old);
    const e: BigEntry = { id, offset, block, live: true };
    table.set(offset, e);
    this.big.push(e);
    s.bigBytes += block.length;
    s.bigBlocks++;
    this.recount();
    return true;
  }

  /** Charges `bytes` of index/filter held by a reader; makes room by evicting if needed. */
  pin(bytes: number): void {
    this.stats.pinnedBytes += bytes;
    this.fit();
    this.recount();
  }

  /** Takes back a `pin` (the reader closed); the bytes stay charged until V8 collects `what`. */
  unpin(bytes: number, what: object): void {
    this.stats.pinnedBytes -= bytes;
    this.released(bytes, what);
  }

  /** Drops every block of reader `id` (when it closes). */
  evict(id: number): void {
    const table = this.tables[id];
    if (table !== undefined) {
      for (const slot of table.values()) {
        this.slotState[slot] = FREE;
        this.free.push(slot);
      }
      table.clear();
    }
    const big = this.bigTables[id];
    if (big !== undefined) {
      for (const e of big.values()) this.dropBig(e);
      big.clear();
    }
  }

  /** Blocks held. */
  get size(): number {
    let n = this.stats.bigBlocks;
    for (const t of this.tables) if (t !== undefined) n += t.size;
    return n;
  }

  /** Adds a slab segment if the budget has room for it. */
  private grow(): boolean {
    const s = this.stats;
    const room = this.capacityBytes - s.slabBytes - s.pinnedBytes - s.bigBytes - s.releasedBytes;
    const slots = Math.min(this.slotsPerSegment, Math.floor(room / this.slotBytes), this.slotState.length - this.slotCount);
    if (slots <= 0) return false;
    // A partial segment only as the last one: slot -> segment arithmetic assumes full ones before it.
    if (this.slotCount % this.slotsPerSegment !== 0) return false;
    const bytes = slots * this.slotBytes;
    this.segments.push(Buffer.allocUnsafeSlow(bytes));
    for (let i = this.slotCount + slots - 1; i >= this.slotCount; i--) {
      this.slotState[i] = FREE;
      this.free.push(i);
    }
    this.slotCount += slots;
    s.slots = this.slotCount;
    s.slabBytes += bytes;
    this.recount();
    return true;
  }

  /** CLOCK: the first slot not used since the hand last passed it, emptied; -1 if none is filled. */
  private victim(): number {
    const n = this.slotCount;
    if (n === 0) return -1;
    for (let step = 0; step < 2 * n + 1; step++) {
      const slot = this.hand;
      this.hand = slot + 1 === n ? 0 : slot + 1;
      if (this.slotState[slot]! < 0) continue;
      if (this.slotUsed[slot] === 1) {
        this.slotUsed[slot] = 0;
        continue;
      }
      this.tables[this.slotState[slot]!]!.delete(this.slotOffset[slot]!);
      this.slotState[slot] = FREE;
      this.stats.evictions++;
      return slot;
    }
    return -1;
  }

  private freeSlot(slot: number): void {
    this.slotState[slot] = FREE;
    this.free.push(slot);
  }

  private dropBig(e: BigEntry): void {
    if (!e.live) return;
    e.live = false;
    this.bigTables[e.id]?.delete(e.offset);
    this.stats.bigBytes -= e.block.length;
    this.stats.bigBlocks--;
    this.released(e.block.length, e.block);
  }

  private dropOldestBig(): boolean {
    while (this.bigHead < this.big.length) {
      const e = this.big[this.bigHead++]!;
      if (e.live) {
        this.dropBig(e);
        this.stats.evictions++;
        this.compactBigQueue();
        return true;
      }
    }
    this.compactBigQueue();
    return false;
  }

  private compactBigQueue(): void {
    if (this.bigHead > 64 && this.bigHead * 2 > this.big.length) {
      this.big.splice(0, this.bigHead);
      this.bigHead = 0;
    }
  }

  /** Over budget (pinned bytes grew): drop big blocks, then retire slab segments from the top. */
  private fit(): void {
    const s = this.stats;
    // Memory awaiting collection is not counted here: retiring more would not bring it back sooner.
    const over = (): boolean => s.slabBytes + s.pinnedBytes + s.bigBytes > this.capacityBytes;
    while (over() && this.dropOldestBig());
    while (over() && this.segments.length > 0) {
      const seg = this.segments.pop()!;
      const first = this.segments.length * this.slotsPerSegment;
      for (let slot = first; slot < this.slotCount; slot++) {
        const owner = this.slotState[slot]!;
        if (owner >= 0) {
          this.tables[owner]!.delete(this.slotOffset[slot]!);
          s.evictions++;
        }
        invariant(owner !== CLAIMED, 'no slot is claimed while a reader opens');
        this.slotState[slot] = FREE;
      }
      this.free = this.free.filter((slot) => slot < first);
      this.slotCount = first;
      if (this.hand >= first) this.hand = 0;
      s.slots = first;
      s.slabBytes -= seg.length;
      this.released(seg.length, seg);
    }
  }

  /** Memory of `bytes` let go: charged until V8 collects `what` (at once when nothing to wait for). */
  private released(bytes: number, what?: object): void {
    if (what !== undefined) {
      this.stats.releasedBytes += bytes;
      this.collected.register(what, bytes);
    }
    this.recount();
  }

  private recount(): void {
    const s = this.stats;
    s.bytes = s.slabBytes + s.pinnedBytes + s.bigBytes + s.releasedBytes;
  }
}
