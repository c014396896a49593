// Runs on: any thread. The claim: which member owns each of the Q equal partitions.
//
// claim(previous, members, q) is deterministic: it depends on the previous assignment,
// the set of members (id, host, rack, dc, weight) and q, never on the order members are
// listed (they are sorted by id first) nor on anything else. Every node that holds the
// same previous assignment and the same membership computes the same new one. (It does
// depend on history: nodes must agree on the previous assignment, e.g. by gossiping the
// ring with its epoch, as Riak gossips its ring.)
//
// The algorithm, in four steps (one file each: claim-release, claim-fill, claim-repair):
//
// 1. Targets. Member i's quota is q·w_i/Σw. Each member gets floor(quota) partitions, and
//    the q − Σfloor left over go one each to members with a fractional quota, in this
//    order: first those that already hold more than their floor (giving them the ceiling
//    saves a move), then by larger fractional part, then by a hash of the id. So every
//    member ends with floor or ceil of its quota (equal weights: within ±1 of each other).
//
// 2. Release. Partitions whose previous owner is no longer a member are free. Every member
//    holding more than its target frees exactly (held − target) of its partitions: the
//    most crowded first (highest placement cost, see below), and among equally crowded
//    ones an evenly spaced selection along the ring (Bresenham, with a phase from a hash
//    of the member id so that different members do not free neighbouring partitions).
//    Members at or under target keep everything.
//
// 3. Fill. The free partitions are walked clockwise from partition 0; each goes to the
//    member still under target that has the lowest placement cost there, ties going to
//    the member most behind an even spread of its deficit over the free partitions
//    (smallest (taken + ½) / deficit), then to the lowest hash of its id. The search looks
//    at members in that order and stops at the first with cost 0, or after 32.
//
// 4. Repair. Each moved partition still crowded tries exchanging owners with another moved
//    partition, or going back to the member that freed it while that member frees another
//    of its partitions instead; a swap is kept only if it lowers the total placement cost.
//    Neither changes any member's count or the number of moves.
//
// Placement cost of member m at partition p: for every assigned partition within
// distance d < `spread` on either side, (spread − d) × 4 if it is m itself, × 2 if it is
// another member on m's host, × 1 if it is on another host of m's rack (same DC); the
// host and rack terms count only when the members span more than one host or rack.
// Keeping that low makes consecutive partitions land on different hosts, so a
// preference list finds N distinct hosts within a few steps clockwise.
//
// Guarantees (tested in test/ring/):
// - every partition has an owner that is a member; counts are exactly the targets;
// - the number of partitions that change owner is the minimum any balanced assignment
//   needs: the orphaned partitions plus Σ max(0, held_i − target_i), where the targets
//   are chosen (step 1) to make that sum as small as floor/ceil balance allows. A
//   partition only ever moves from a departed or over-target member to an under-target
//   one; with equal weights, a join moves partitions only to the joiners and a leave only
//   those of the leavers;
// - the same inputs give the same output, whatever the order of `members`.
// Spreading (distinct hosts on consecutive partitions) is best effort, not a guarantee;
// it never costs an extra move.
import { fill } from './claim-fill.js';
import { release } from './claim-release.js';
import { repair } from './claim-repair.js';
import { canonicalMembers, invalid, partitionBits, type Member } from './member.js';
import { FREE, PlacementCost } from './placement-cost.js';

/** Which member owns each partition: `owners[p]` is a member id, `owners.length` is q. */
export interface Assignment {
  readonly owners: readonly string[];
}

export interface ClaimOptions {
  /** Window, in consecutive partitions, over which the claim keeps hosts distinct: the
   *  replication factor N (Riak's target_n_val plays the same part). Measured at N = 3,
   *  a window of N beats N + 1: fewer windows of N partitions without N hosts. */
  readonly spread?: number;
}

export const DEFAULT_SPREAD = 3;

export function claim(
  previous: Assignment | undefined,
  members: readonly Member[],
  q: number,
  options: ClaimOptions = {},
): Assignment {
  partitionBits(q);
  const spread = options.spread ?? DEFAULT_SPREAD;
  if (!Number.isInteger(spread) || spread < 1) throw invalid(`spread must be a positive integer, got ${spread}`);
  const sorted = canonicalMembers(members);
  const ctx = new PlacementCost(sorted, q, spread);

  // The previous assignment, with departed owners' partitions free.
  const owners = new Int32Array(q).fill(FREE);
  if (previous !== undefined) {
    if (previous.owners.length !== q) {
      throw invalid(`previous assignment has ${previous.owners.length} partitions, not ${q}: the partition count of a ring never changes`);
    }
    const indexOf = new Map(sorted.map((m, i) => [m.id, i]));
    for (let p = 0; p < q; p++) owners[p] = indexOf.get(previous.owners[p]!) ?? FREE;
  }
  const held = new Int32Array(sorted.length);
  for (let p = 0; p < q; p++) if (owners[p]! !== FREE) held[owners[p]!]!++;

  const target = targetCounts(sorted, q, held, ctx.idHash);
  const before = owners.slice();
  release(ctx, owners, held, target);
  fill(ctx, owners, held, target);
  repair(ctx, before, owners);
  return { owners: Array.from(owners, (i) => sorted[i]!.id) };
}

/**
 * Step 1: floor or ceil of each member's quota q·w/Σw, summing to q, the ceilings given
 * first to members already holding more than their floor. `members` in canonical order.
 */
export function targetCounts(
  members: readonly Member[],
  q: number,
  held: ArrayLike<number>,
  idHash: ArrayLike<number>,
): Int32Array {
  const n = members.length;
  let total = 0;
  for (const m of members) total += m.weight; // canonical order: the same float sum everywhere
  const target = new Int32Array(n);
  const frac = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const quota = (q * members[i]!.weight) / total;
    const f = Math.min(q, Math.floor(quota));
    target[i] = f;
    frac[i] = quota - f;
    sum += f;
  }
  // Who gets a ceiling: only members with a fractional quota (exact integers are already
  // met); holding more than the floor first, then larger fraction, then hash.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    const ea = frac[a]! > 0 ? 1 : 0;
    const eb = frac[b]! > 0 ? 1 : 0;
    if (ea !== eb) return eb - ea;
    const ka = held[a]! > target[a]! ? 1 : 0;
    const kb = held[b]! > target[b]! ? 1 : 0;
    if (ka !== kb) return kb - ka;
    if (frac[a]! !== frac[b]!) return frac[b]! - frac[a]!;
    return idHash[a]! - idHash[b]! || a - b;
  });
  // Rounding can only leave q − sum in [0, n]; the loops also absorb a float off by one.
  for (let k = 0; sum < q; k = (k + 1) % n, sum++) target[order[k]!]!++;
  for (let k = n - 1; sum > q; k = (k + n - 1) % n) {
    if (target[order[k]!]! > 0) { target[order[k]!]!--; sum--; }
  }
  return target;
}

