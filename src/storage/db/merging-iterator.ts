// Runs on: any thread that reads tables (shard worker, piscina job).
// Iterators over sorted records, and the merge of several of them into one sorted stream.
import type { MemEntry } from './memtable.js';

/** A cursor over records in ikey order. Views it exposes are valid until the next move. */
export interface EntryIterator {
  readonly valid: boolean;
  readonly ikey: Uint8Array;
  readonly kind: number;
  readonly seq: number;
  readonly value: Uint8Array;
  seekToFirst(): void;
  /** Moves to the first record with ikey >= target. */
  seek(target: Uint8Array): void;
  next(): void;
}

/** An EntryIterator over a memtable's sorted entries. */
export class MemtableIterator implements EntryIterator {
  private i = 0;

  constructor(private readonly entries: readonly MemEntry[]) {}

  get valid(): boolean { return this.i < this.entries.length; }
  get ikey(): Uint8Array { return this.entries[this.i]!.ikey; }
  get kind(): number { return this.entries[this.i]!.kind; }
  get seq(): number { return this.entries[this.i]!.seq; }
  get value(): Uint8Array { return this.entries[this.i]!.value; }

  seekToFirst(): void {
    this.i = 0;
  }

  seek(target: Uint8Array): void {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.entries[mid]!.ikey, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.i = lo;
  }

  next(): void {
    this.i++;
  }
}

/**
 * Merges iterators given newest first into one stream in ikey order with one record per
 * ikey: where several sources hold the same ikey, the newest source's record is the one
 * shown and the others are skipped. A min-heap on (ikey, rank).
 */
export class MergingIterator implements EntryIterator {
  private heap: number[] = [];
  private current = -1;

  constructor(private readonly sources: EntryIterator[]) {}

  get valid(): boolean { return this.current >= 0; }
  get ikey(): Uint8Array { return this.sources[this.current]!.ikey; }
  get kind(): number { return this.sources[this.current]!.kind; }
  get seq(): number { return this.sources[this.current]!.seq; }
  get value(): Uint8Array { return this.sources[this.current]!.value; }

  seekToFirst(): void {
    for (const s of this.sources) s.seekToFirst();
    this.rebuild();
  }

  seek(target: Uint8Array): void {
    for (const s of this.sources) s.seek(target);
    this.rebuild();
  }

  next(): void {
    if (this.current < 0) return;
    // Advance every source sitting on the current ikey (the newest one and the shadowed).
    const ikey = Buffer.from(this.ikey); // copy: the source's view moves on next()
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      const s = this.sources[top]!;
      if (Buffer.compare(s.ikey, ikey) !== 0) break;
      s.next();
      if (s.valid) this.down(0);
      else this.removeTop();
    }
    this.current = this.heap.length > 0 ? this.heap[0]! : -1;
  }

  private rebuild(): void {
    this.heap = [];
    this.sources.forEach((s, i) => {
      if (s.valid) {
        this.heap.push(i);
        this.up(this.heap.length - 1);
      }
    });
    this.current = this.heap.length > 0 ? this.heap[0]! : -1;
  }

  private less(a: number, b: number): boolean {
    const c = Buffer.compare(this.sources[a]!.ikey, this.sources[b]!.ikey);
    return c < 0 || (c === 0 && a < b);
  }

  private removeTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
