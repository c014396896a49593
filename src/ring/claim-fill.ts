// Runs on: any thread. Claim step 3: free partitions go to members under target.
import { FREE, type PlacementCost } from './placement-cost.js';

/** Candidates looked at per partition. Bounds the fill at O(free × CANDIDATES × log M)
 *  when every member is related to the neighbours (one or two racks, one host): 800
 *  members on one rack at Q = 65536 took 4.3 s when the search ran to the end. */
const CANDIDATES = 32;

/**
 * Step 3: free partitions, clockwise, each to the under-target member with the lowest
 * placement cost there, ties to the one furthest behind an even spread of its deficit.
 * Candidates come off a heap in spread order; the search stops at the first member with
 * cost 0 (unrelated to the few neighbours) or after CANDIDATES members.
 */
export function fill(ctx: PlacementCost, owners: Int32Array, held: Int32Array, target: Int32Array): void {
  const deficit = new Int32Array(held.length);
  const taken = new Int32Array(held.length);
  const before = (r: number, s: number): boolean => {
    const a = (2 * taken[r]! + 1) * deficit[s]!;
    const b = (2 * taken[s]! + 1) * deficit[r]!;
    if (a !== b) return a < b;
    return ctx.idHash[r] !== ctx.idHash[s] ? ctx.idHash[r]! < ctx.idHash[s]! : r < s;
  };
  const heap = new Heap(before);
  for (let i = 0; i < held.length; i++) {
    deficit[i] = target[i]! - held[i]!;
    if (deficit[i]! > 0) heap.push(i);
  }
  const passed: number[] = [];
  for (let p = 0; p < ctx.q; p++) {
    if (owners[p] !== FREE) continue;
    let best = -1;
    let bestCost = Infinity;
    while (heap.size > 0 && passed.length < CANDIDATES) {
      const r = heap.pop();
      const c = ctx.cost(owners, r, p);
      passed.push(r);
      if (c < bestCost) { best = r; bestCost = c; }
      if (c === 0) break;
    }
    owners[p] = best;
    taken[best]!++;
    for (const r of passed) if (r !== best || taken[r]! < deficit[r]!) heap.push(r);
    passed.length = 0;
  }
}

/** A binary min-heap of member indices under `before`. */
class Heap {
  private readonly items: number[] = [];
  constructor(private readonly before: (a: number, b: number) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(x: number): void {
    const a = this.items;
    let i = a.push(x) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(x, a[parent]!)) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = x;
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && this.before(a[l + 1]!, a[l]!) ? l + 1 : l;
        if (!this.before(a[c]!, last)) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

