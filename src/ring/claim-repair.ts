// Runs on: any thread. Claim step 4: local repair of crowded placements, without a move
// more than steps 2 and 3 made.
//
// For each partition that changed owner and is still crowded (its own member, or another
// on its host, within the window; rack-level cost alone does not trigger a repair), try
// two kinds of swap and apply the one that lowers the total placement cost most:
//   a. exchange owners with another partition that changed owner (both stay moved, every
//      member keeps its count);
//   b. give it back to the member that freed it, which frees one of its kept partitions
//      to the new owner instead (one move for one move, counts unchanged).
// Every swap strictly lowers the total cost, so the pass ends; it runs a few rounds over
// a bounded neighbourhood, so it is linear in the number of moved partitions.
import { invariant } from '../errors.js';
import { FREE, type PlacementCost } from './placement-cost.js';

/** Swap partners looked at on each side, in list order, per crowded partition. */
const REACH = 64;
/** Passes over the moved partitions; later ones rarely find anything. */
const MAX_ROUNDS = 4;

/**
 * REQUIRES: `owners` is `before` after steps 2 and 3: no partition moved to the member
 * it was freed by, and members that freed partitions received none.
 */
export function repair(ctx: PlacementCost, before: Int32Array, owners: Int32Array): void {
  const moved: number[] = [];
  const kept: number[][] = Array.from({ length: ctx.members.length }, () => []);
  for (let p = 0; p < ctx.q; p++) {
    if (owners[p] !== before[p]) moved.push(p);
    else kept[owners[p]!]!.push(p);
  }
  const moves = moved.length;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let improved = false;
    for (let k = 0; k < moved.length; k++) {
      const p = moved[k]!;
      if (!ctx.crowded(owners, owners[p]!, p)) continue;
      let bestDelta = 0;
      let partner = -1;
      let back = false;
      for (let j = Math.max(0, k - REACH); j <= Math.min(moved.length - 1, k + REACH); j++) {
        const p2 = moved[j]!;
        if (owners[p2] === owners[p] || owners[p2] === before[p] || owners[p] === before[p2]) continue;
        const delta = swapDelta(ctx, owners, p, p2);
        if (delta < bestDelta) { bestDelta = delta; partner = p2; back = false; }
      }
      const donor = before[p]!;
      if (donor !== FREE) {
        const list = kept[donor]!;
        const at = lowerBound(list, p);
        for (let j = Math.max(0, at - REACH); j < Math.min(list.length, at + REACH); j++) {
          const delta = swapDelta(ctx, owners, p, list[j]!);
          if (delta < bestDelta) { bestDelta = delta; partner = list[j]!; back = true; }
        }
      }
      if (partner < 0) continue;
      const owner = owners[p]!;
      owners[p] = owners[partner]!;
      owners[partner] = owner;
      if (back) {
        const list = kept[donor]!;
        list.splice(list.indexOf(partner), 1);
        list.splice(lowerBound(list, p), 0, p);
        moved[k] = partner;
      }
      improved = true;
    }
    if (!improved) break;
    moved.sort((a, b) => a - b);
  }
  let count = 0;
  for (let p = 0; p < ctx.q; p++) if (owners[p] !== before[p]) count++;
  invariant(count === moves, `claim repair changed the number of moves (${moves} -> ${count})`);
}

/** Change in placement cost if p and p2 exchanged owners (half the change in the total). */
function swapDelta(ctx: PlacementCost, owners: Int32Array, p: number, p2: number): number {
  const a = owners[p]!;
  const b = owners[p2]!;
  const was = ctx.cost(owners, a, p) + ctx.cost(owners, b, p2);
  owners[p] = b;
  owners[p2] = a;
  const now = ctx.cost(owners, b, p) + ctx.cost(owners, a, p2);
  owners[p] = a;
  owners[p2] = b;
  return now - was;
}

function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
