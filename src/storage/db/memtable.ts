// Runs on: a shard worker. The memtable: the newest writes of a shard, in memory.
//
// An open-addressing hash table over the key's token, in typed arrays: no JS object per
// entry. Point reads and writes are O(1); order is only needed when the memtable is flushed
// or scanned, so it is sorted then (by ikey = token ‖ key) and the sorted array is kept once
// frozen.
//
// Why typed arrays and not a Map of entry objects (what this was until issue 11): with
// 100k keys the worker spent ~25% of a PUT in the garbage collector. Every overwrite stored
// a new Uint8Array view of its value in an old entry object, so each scavenge walked the
// old-to-new pointers and promoted the views, which then died in old space; the Map's
// keys (53-bit tokens, heap numbers) were boxed on every lookup. Here an entry is a row of
// numbers, an overwrite writes numbers into it, and the GC has nothing to trace but a few
// large arrays.
//
//   entries (Int32Array, ENTRY_INTS per entry, entry i at i * ENTRY_INTS):
//   +----+----+------+-------------------------------+-------------------------------+
//   | hi | lo | kind | ikey chunk | ikey at | ikey n | value chunk | value at | value n |
//   +----+----+------+-------------------------------+-------------------------------+
//   seqs (Float64Array): entry i's sequence number (up to 2^53).
//   slots (Int32Array, 2 per slot): entry index + 1 (0: empty) | the token's lo half, so a
//   probe rejects most other keys without touching their entry. Linear probing from
//   lo & mask (tokens are xxhash64: their low bits are uniform); at most half full. Entries
//   are never removed (a delete is a DELETE entry), so probing needs no tombstones.
//
// Keys and values are copied into 1 MiB chunks (a record above 64 KiB gets a chunk of its
// own), so the caller may reuse its buffers. A chunk is never rewritten: the views handed
// out by value() and sorted() stay valid for as long as they are held.
// Owned by one thread; a frozen memtable is read-only.
import { TOKEN_BYTES, writeToken } from '../../hash/index.js';
import { invariant } from '../../errors.js';
import type { RecordKind } from '../record/index.js';

/** One record of a sorted memtable (flushes, scans). Views into the memtable's chunks. */
export interface MemEntry {
  /** token ‖ key. */
  ikey: Uint8Array;
  hi: number;
  lo: number;
  kind: RecordKind;
  seq: number;
  /** Empty for a DELETE. */
  value: Uint8Array;
}

const CHUNK_BYTES = 1 << 20;
/** Records bigger than this get a chunk of their own instead of a slice of a shared one. */
const BIG_RECORD_BYTES = 64 * 1024;
/**
 * Bytes of bookkeeping counted per entry for the memtable budget. The rows and slots take
 * ~90 bytes with the tables' doubling; the figure is the one the entry objects of the old
 * layout were charged, kept so flushes happen where they did (tests size memtables by it).
 */
const ENTRY_OVERHEAD_BYTES = 160;
const EMPTY = new Uint8Array(0);
/** Entries the first tables hold (a shard's hint store stays small). */
const FIRST_CAPACITY = 256;

// Row layout (see the diagram above).
const HI = 0;
const LO = 1;
const KIND = 2;
const KEY_CHUNK = 3;
const KEY_AT = 4;
const KEY_N = 5;
const VALUE_CHUNK = 6;
const VALUE_AT = 7;
const VALUE_N = 8;
const ENTRY_INTS = 9;

export class Memtable {
  private entries = new Int32Array(FIRST_CAPACITY * ENTRY_INTS);
  private seqs = new Float64Array(FIRST_CAPACITY);
  private slots = new Int32Array(FIRST_CAPACITY * 4);
  private mask = FIRST_CAPACITY * 2 - 1;
  /** Every chunk keys and values were copied into; rows name them by index. */
  private readonly chunks: Uint8Array[] = [];
  /** The chunk being filled (index into chunks; -1: none yet) and its bytes used. */
  private chunk = -1;
  private chunkUsed = 0;
  /** Where the last alloc() put its bytes. */
  private allocChunk = 0;
  private allocAt = 0;
  private sortedCache: MemEntry[] | undefined;
  private frozen = false;
  /** Approximate memory held, for the budget. */
  bytes = 0;
  count = 0;

  /** `firstWal`: the number of the first WAL segment holding this memtable's records. */
  constructor(readonly firstWal: number) {}

  get isFrozen(): boolean {
    return this.frozen;
  }

  freeze(): void {
    this.frozen = true;
  }

  /** REQUIRES: not frozen; (hi, lo) is the token of `key`. */
  put(key: Uint8Array, hi: number, lo: number, kind: RecordKind, seq: number, value: Uint8Array): void {
    invariant(!this.frozen, 'write to a frozen memtable');
    this.sortedCache = undefined;
    const found = this.find(key, hi, lo);
    if (found >= 0) {
      this.bytes += value.length; // the old value's chunk space is not reused
      this.setValue(found, kind, seq, value);
      return;
    }
    if ((this.count + 1) * ENTRY_INTS > this.entries.length) this.growEntries();
    if ((this.count + 1) * 2 > this.mask + 1) this.growSlots();
    const i = this.count++;
    const row = i * ENTRY_INTS;
    const e = this.entries;
    const n = TOKEN_BYTES + key.length;
    this.alloc(n);
    const c = this.chunks[this.allocChunk]!;
    const at = this.allocAt;
    writeToken(c, at, hi, lo);
    copyInto(c, at + TOKEN_BYTES, key);
    e[row + HI] = hi;
    e[row + LO] = lo;
    e[row + KEY_CHUNK] = this.allocChunk;
    e[row + KEY_AT] = at;
    e[row + KEY_N] = n;
    this.setValue(i, kind, seq, value);
    this.place(i, lo);
    this.bytes += n + value.length + ENTRY_OVERHEAD_BYTES;
  }

  /** The entry for `key` (PUT or DELETE): its index for kind() and value(), or -1 if none. */
  find(key: Uint8Array, hi: number, lo: number): number {
    // Rows and slots hold the token halves as int32: compare them so.
    hi |= 0;
    lo |= 0;
    const slots = this.slots;
    const mask = this.mask;
    const e = this.entries;
    for (let s = lo & mask; ; s = (s + 1) & mask) {
      const i = slots[s * 2]! - 1;
      if (i < 0) return -1;
      if (slots[s * 2 + 1] !== lo) continue;
      const row = i * ENTRY_INTS;
      if (e[row + HI] === hi && this.sameKey(row, key)) return i;
    }
  }

  /** The kind of entry `i` (an index find() returned). */
  kind(i: number): RecordKind {
    return this.entries[i * ENTRY_INTS + KIND] as RecordKind;
  }

  /** The value of entry `i`: a view that stays valid (empty for a DELETE). */
  value(i: number): Uint8Array {
    const row = i * ENTRY_INTS;
    const e = this.entries;
    const n = e[row + VALUE_N]!;
    if (n === 0) return EMPTY;
    const at = e[row + VALUE_AT]!;
    return this.chunks[e[row + VALUE_CHUNK]!]!.subarray(at, at + n);
  }

  /** All entries in ikey order. Cached while nothing changes. */
  sorted(): MemEntry[] {
    if (this.sortedCache) return this.sortedCache;
    const all: MemEntry[] = new Array(this.count);
    const e = this.entries;
    for (let i = 0; i < this.count; i++) {
      const row = i * ENTRY_INTS;
      const at = e[row + KEY_AT]!;
      all[i] = {
        ikey: this.chunks[e[row + KEY_CHUNK]!]!.subarray(at, at + e[row + KEY_N]!),
        hi: e[row + HI]! >>> 0,
        lo: e[row + LO]! >>> 0,
        kind: e[row + KIND] as RecordKind,
        seq: this.seqs[i]!,
        value: this.value(i),
      };
    }
    all.sort(compareEntries);
    this.sortedCache = all;
    return all;
  }

  private setValue(i: number, kind: RecordKind, seq: number, value: Uint8Array): void {
    const row = i * ENTRY_INTS;
    const e = this.entries;
    e[row + KIND] = kind;
    this.seqs[i] = seq;
    const n = value.length;
    e[row + VALUE_N] = n;
    if (n === 0) {
      e[row + VALUE_CHUNK] = 0;
      e[row + VALUE_AT] = 0;
      return;
    }
    this.alloc(n);
    copyInto(this.chunks[this.allocChunk]!, this.allocAt, value);
    e[row + VALUE_CHUNK] = this.allocChunk;
    e[row + VALUE_AT] = this.allocAt;
  }

  /** Whether the ikey of the row at `row` is token ‖ `key` (the tokens already match). */
  private sameKey(row: number, key: Uint8Array): boolean {
    const e = this.entries;
    const n = key.length;
    if (e[row + KEY_N] !== n + TOKEN_BYTES) return false;
    const c = this.chunks[e[row + KEY_CHUNK]!]!;
    const at = e[row + KEY_AT]! + TOKEN_BYTES;
    for (let k = 0; k < n; k++) if (c[at + k] !== key[k]) return false;
    return true;
  }

  /** Room for n bytes: sets allocChunk and allocAt. */
  private alloc(n: number): void {
    if (n > BIG_RECORD_BYTES) {
      this.chunks.push(new Uint8Array(n));
      this.allocChunk = this.chunks.length - 1;
      this.allocAt = 0;
      return;
    }
    if (this.chunk < 0 || this.chunkUsed + n > CHUNK_BYTES) {
      this.chunks.push(new Uint8Array(CHUNK_BYTES));
      this.chunk = this.chunks.length - 1;
      this.chunkUsed = 0;
    }
    this.allocChunk = this.chunk;
    this.allocAt = this.chunkUsed;
    this.chunkUsed += n;
  }

  private place(i: number, lo: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let s = lo & mask;
    while (slots[s * 2] !== 0) s = (s + 1) & mask;
    slots[s * 2] = i + 1;
    slots[s * 2 + 1] = lo | 0;
  }

  private growEntries(): void {
    const capacity = (this.entries.length / ENTRY_INTS) * 2;
    const entries = new Int32Array(capacity * ENTRY_INTS);
    entries.set(this.entries);
    this.entries = entries;
    const seqs = new Float64Array(capacity);
    seqs.set(this.seqs);
    this.seqs = seqs;
  }

  private growSlots(): void {
    const size = (this.mask + 1) * 2;
    this.slots = new Int32Array(size * 2);
    this.mask = size - 1;
    const e = this.entries;
    for (let i = 0; i < this.count; i++) this.place(i, e[i * ENTRY_INTS + LO]!);
  }
}

/** dst[at..] = src; by hand for short arrays (set() has a fixed cost that dominates them). */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array): void {
  const n = src.length;
  if (n <= 32) for (let k = 0; k < n; k++) dst[at + k] = src[k]!;
  else dst.set(src, at);
}

export function compareEntries(a: MemEntry, b: MemEntry): number {
  if (a.hi !== b.hi) return a.hi < b.hi ? -1 : 1;
  if (a.lo !== b.lo) return a.lo < b.lo ? -1 : 1;
  return Buffer.compare(a.ikey, b.ikey);
}
