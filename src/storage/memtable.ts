// Runs on: a shard worker. The memtable: the newest writes of a shard, in memory.
//
// A hash map from the key's token (its top 53 bits, a number: no string per lookup) to
// entries, with a chain for the rare keys whose tokens collide there. Point reads and
// writes are O(1); order is only needed when the memtable is flushed or scanned, so it is
// sorted then (by ikey = token ‖ key) and the sorted array is kept once frozen.
//
// Keys and values are copied into 1 MiB slabs (views, not one buffer per record), so the
// caller may reuse its buffers and the GC sees few objects.
// Owned by one thread; a frozen memtable is read-only.
import { TOKEN_BYTES, token53, writeToken } from '../hash/index.js';
import { invariant } from '../errors.js';
import type { RecordKind } from './record.js';

export interface MemEntry {
  /** token ‖ key, a view into a slab. */
  ikey: Uint8Array;
  hi: number;
  lo: number;
  kind: RecordKind;
  seq: number;
  /** A view into a slab; empty for a DELETE. */
  value: Uint8Array;
  /** Next entry whose token shares the same top 53 bits. */
  next: MemEntry | undefined;
}

const SLAB_BYTES = 1 << 20;
/** Records bigger than this get a buffer of their own instead of a slab slice. */
const BIG_RECORD_BYTES = 64 * 1024;
/** Estimated bytes of bookkeeping per entry (entry object, two views, map slot). */
const ENTRY_OVERHEAD_BYTES = 160;
const EMPTY = new Uint8Array(0);

export class Memtable {
  private readonly map = new Map<number, MemEntry>();
  private slab = new Uint8Array(0);
  private slabUsed = 0;
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
    const h = token53(hi, lo);
    const head = this.map.get(h);
    for (let e = head; e !== undefined; e = e.next) {
      if (sameKey(e.ikey, key)) {
        this.bytes += value.length; // the old value's slab space is not reused
        e.kind = kind;
        e.seq = seq;
        e.value = value.length === 0 ? EMPTY : this.copy(value, 0, value.length);
        this.sortedCache = undefined;
        return;
      }
    }
    const ikey = this.alloc(TOKEN_BYTES + key.length);
    writeToken(ikey, 0, hi, lo);
    ikey.set(key, TOKEN_BYTES);
    const entry: MemEntry = {
      ikey, hi, lo, kind, seq,
      value: value.length === 0 ? EMPTY : this.copy(value, 0, value.length),
      next: head,
    };
    this.map.set(h, entry);
    this.count++;
    this.bytes += ikey.length + value.length + ENTRY_OVERHEAD_BYTES;
    this.sortedCache = undefined;
  }

  /** The entry for `key` (PUT or DELETE), or undefined if this memtable has none. */
  get(key: Uint8Array, hi: number, lo: number): MemEntry | undefined {
    for (let e = this.map.get(token53(hi, lo)); e !== undefined; e = e.next) {
      if (e.hi === hi && e.lo === lo && sameKey(e.ikey, key)) return e;
    }
    return undefined;
  }

  /** All entries in ikey order. Cached while nothing changes. */
  sorted(): MemEntry[] {
    if (this.sortedCache) return this.sortedCache;
    const all: MemEntry[] = [];
    for (const head of this.map.values()) {
      for (let e: MemEntry | undefined = head; e !== undefined; e = e.next) all.push(e);
    }
    all.sort(compareEntries);
    this.sortedCache = all;
    return all;
  }

  private copy(src: Uint8Array, from: number, to: number): Uint8Array {
    const out = this.alloc(to - from);
    out.set(src.subarray(from, to));
    return out;
  }

  private alloc(n: number): Uint8Array {
    if (n > BIG_RECORD_BYTES) return new Uint8Array(n);
    if (this.slabUsed + n > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const view = this.slab.subarray(this.slabUsed, this.slabUsed + n);
    this.slabUsed += n;
    return view;
  }
}

function sameKey(ikey: Uint8Array, key: Uint8Array): boolean {
  if (ikey.length !== key.length + TOKEN_BYTES) return false;
  for (let i = 0; i < key.length; i++) {
    if (ikey[i + TOKEN_BYTES] !== key[i]) return false;
  }
  return true;
}

export function compareEntries(a: MemEntry, b: MemEntry): number {
  if (a.hi !== b.hi) return a.hi < b.hi ? -1 : 1;
  if (a.lo !== b.lo) return a.lo < b.lo ? -1 : 1;
  return Buffer.compare(a.ikey, b.ikey);
}
