// Runs on: any thread. Pruning an object's clock: the only way a clock entry is ever removed.
//
// Clocks are per replica, so an object's clock normally holds N entries; it grows only
// when ownership moves (handoff, a node replaced) or a replica restarts with a new epoch
// (a new actor). Entries of incarnations that are gone then linger forever. The rule:
//
//   When the clock has more than `maxEntries` entries, drop exactly the entries whose
//   actor the caller declares retired AND that back no sibling of the object (no sibling's
//   dot has that actor). Nothing else is ever dropped, and below the size nothing at all.
//
// Retired = an incarnation that will never coordinate another write: a replica id removed
// from the ring, or (replica, epoch) older than that replica's current epoch. The caller
// passes that knowledge in (`isRetired`); it must be true: pruning the entry of a live actor
// from that actor's own replica would make it mint a counter it already used (the KV679
// bug again). This module never guesses, and never prunes by age or by size alone (Riak's
// old age/size pruning could turn a concurrent version into a dominated one and silently
// drop it).
//
// Why it is safe. Pruning only lowers a clock, so (1) it can never make an object cover a
// dot it did not cover: no merge with a pruned object drops a value the unpruned object
// would have kept. (2) It never turns "concurrent" into "dominated": if A is concurrent
// with B, A has seen some event x that B has not. If x is a sibling of A, x's actor entry
// is kept. If not, x was superseded in A's history by a write w whose context covered x;
// B cannot cover w either (a clock that covers a dot has seen that write's whole causal
// past, which holds x - per-actor counters are causal, which is what epochs guarantee).
// Following the superseding writes ends at a sibling of A that B has not seen, and its
// entry is kept. So A keeps an entry above B's; symmetrically for B (test/version/
// prune.test.ts checks this on random histories). The price: if a stale replica still
// holds a sibling dotted by a pruned actor, a merge with the pruned object no longer
// recognises it as superseded and it comes back as an extra sibling (a false conflict the
// next put resolves), never as a lost value. Retire an actor once anti-entropy/handoff has
// run past it to make that rare.
import type { Actor } from './actor.js';
import type { Dot } from './clock.js';
import { versionMetrics } from './metrics.js';
import type { VObject } from './object.js';

export interface PruneOptions {
  /** Prune only when the clock has more entries than this (>= 0). */
  maxEntries: number;
  /** True for an incarnation that will never coordinate another write. */
  isRetired: (actor: Actor) => boolean;
}

/** `obj` with its prunable clock entries dropped (see the rule above); `obj` itself when none. */
export function pruneObject(obj: VObject, opts: PruneOptions): VObject {
  const clock = obj.clock;
  if (clock.length <= opts.maxEntries) return obj;
  let kept: Dot[] | undefined;
  for (let k = 0; k < clock.length; k++) {
    const e = clock[k]!;
    const prunable = opts.isRetired(e) && !obj.siblings.some((s) => s.dot.replica === e.replica && s.dot.epoch === e.epoch);
    if (prunable && kept === undefined) kept = clock.slice(0, k);
    else if (!prunable && kept !== undefined) kept.push(e);
  }
  if (kept === undefined) return obj;
  versionMetrics.prunedEntries += clock.length - kept.length;
  return { clock: kept, siblings: obj.siblings };
}
