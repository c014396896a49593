// Runs on: any thread (pure rules; the replica applies them on its shard's thread, the
// anti-entropy leader decides when on the main thread).
//
// Tombstone GC: a deleted key costs space only for a while, and never comes back.
//
// THE RULE. A replica removes (engine delete) the stored object of a key only when
//   1. every sibling of the object is a tombstone (isTombstoneOnly), and
//   2. its newest sibling was written (writtenAt, the coordinator's clock) before T, where
//   3. T = S - tombstoneGraceMs, S being the start of an anti-entropy exchange of the key's
//      partition in which ALL N current primaries took part (none down, none missing) and
//      which ended without an error: their roots were equal, or every repair it planned
//      was acknowledged (then each primary holds the merge of what all of them held);
//   4. and the replica re-checks 1 and 2 against what it holds in the very batch that
//      deletes the object, so a write that arrived since the exchange survives.
// The exchange's leader then sends each primary a PURGE of the partition's token range with
// `before` = T (paged: a replica looks at PURGE_MAX_ENTRIES objects per request).
//
// Why no deleted key comes back. A value V the delete superseded could return only from a
// copy that outlives every copy of the tombstone and is merged back afterwards:
//   - a primary: at S (after the tombstone's writtenAt + grace) all N primaries held the
//     tombstone or its merge (equal roots / acknowledged repairs), and a merge of V into it
//     drops V (the tombstone's clock covers V's dot). A primary that was down is not in the
//     exchange, so nothing is purged until it is back and repaired: its old V then meets
//     the tombstone, not an empty slot.
//   - read repair: reads ask only primaries, and all of them held the tombstone.
//   - a hint for a primary, written before the delete: hints older than the hint store's
//     maxAgeMs are dropped, never delivered (hint-store.ts), and maxAgeMs is at most half
//     the grace: by S the hint is gone (margin: clock skew between nodes, delivery time).
//   - a write in flight for longer than the grace (a request timeout is seconds): none.
// Beyond the grace, what the rule cannot see: an owner that left the ring with old data and
// rejoins without being wiped, or a backup restored over a replica. Both need the grace to
// be longer than any such outage (Cassandra's gc_grace_seconds has the same contract).
//
// Counters after a purge. A replica's dots are (actor, counter) with the counter taken from
// the key's stored clock; a purge forgets that clock, so the next put coordinated here would
// reuse a counter, and a tombstone copy still somewhere (another primary not yet purged, a
// hint of the tombstone) whose clock covers that dot would silently swallow the new write.
// So the replica remembers the highest counter of its own actor among the objects it purged
// (in memory: a restart is a new incarnation, a new actor) and starts every later put's
// counter above it (Replica.counterFloor), by raising its entry in the STORED clock the put
// coordinates over, never in the caller's context: the context decides what the put
// supersedes, and raising it superseded live siblings of this replica (the kv-sim found it).
import type { VObject } from '../version/index.js';

/**
 * A day: deletes are kept that long after they were written before they may be purged.
 * Cassandra's gc_grace_seconds is 10 days because its repair is an operator's weekly job;
 * here anti-entropy runs every minute, so a day covers a long outage of a replica (whose
 * return must be repaired before the grace ends) at a tenth of the space.
 */
export const DEFAULT_TOMBSTONE_GRACE_MS = 24 * 60 * 60 * 1000;

/**
 * Most objects one PURGE request looks at, whatever it asks: as TREE_MAX_ENTRIES, it bounds
 * how long the request holds the shard (decoding that many objects takes well under 100 ms).
 */
export const PURGE_MAX_ENTRIES = 8192;

/** The newest writtenAt among `obj`'s siblings (0 for none). */
export function newestWrite(obj: VObject): number {
  let t = 0;
  for (const s of obj.siblings) if (s.writtenAt > t) t = s.writtenAt;
  return t;
}

/** Whether `obj` may be purged by a PURGE with `before` (rule points 1 and 2). */
export function purgeable(obj: VObject, before: number): boolean {
  if (obj.siblings.length === 0) return false;
  for (const s of obj.siblings) if (s.value !== null || !(s.writtenAt < before)) return false;
  return true;
}

/** The `before` of the PURGE that follows an exchange started at `startedAt` (rule point 3). */
export function purgeBefore(startedAt: number, graceMs: number): number {
  return startedAt - graceMs;
}
