// Runs on: any thread. Claim step 2: members over target free their excess partitions.
import { FREE, type PlacementCost } from './placement-cost.js';

/** Step 2: over-target members free their excess, most crowded first, evenly spread. */
export function release(ctx: PlacementCost, owners: Int32Array, held: Int32Array, target: Int32Array): void {
  const mine: number[][] = Array.from({ length: held.length }, () => []);
  for (let p = 0; p < ctx.q; p++) if (owners[p]! !== FREE) mine[owners[p]!]!.push(p);
  for (let i = 0; i < held.length; i++) {
    let excess = held[i]! - target[i]!;
    if (excess <= 0) continue;
    const parts = mine[i]!;
    const cost = parts.map((p) => ctx.cost(owners, i, p));
    // Groups of equal cost, highest first; a partition's rank in ring order kept inside.
    const byCost = parts.map((_, k) => k).sort((a, b) => cost[b]! - cost[a]! || a - b);
    for (let g = 0; g < byCost.length && excess > 0; ) {
      let end = g;
      while (end < byCost.length && cost[byCost[end]!] === cost[byCost[g]!]) end++;
      const group = byCost.slice(g, end).sort((a, b) => a - b);
      const take = Math.min(excess, group.length);
      const phase = ctx.idHash[i]! % group.length;
      for (let j = 0; j < group.length; j++) {
        const r = (j + phase) % group.length;
        if (Math.floor(((r + 1) * take) / group.length) > Math.floor((r * take) / group.length)) {
          owners[parts[group[j]!]!] = FREE;
        }
      }
      excess -= take;
      g = end;
    }
    held[i] = target[i]!;
  }
}

