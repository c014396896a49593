// Runs on: any thread. An actor of a version vector: one incarnation of one replica.
//
// ringkv's clocks are per replica (shard), not per client, as in Riak 2.x: the replica that
// coordinates a put advances its own entry, so a clock has at most N entries in the normal
// case (plus a few while ownership moves). An actor is the pair (replica, epoch):
//
//   replica  u32  the shard id (node-shard id in a cluster) that coordinates writes;
//   epoch    u32  the incarnation of that replica's data: bumped every time the replica
//                 starts with lost, wiped or brand-new data.
//
// Why the epoch (Riak's KV679 lesson): counters live in the replica's stored objects. A
// replica whose data is lost would restart its counters at 1 and mint dots (r, 1), (r, 2)
// ... that other replicas already cover (they saw the old (r, 1..5)); those new writes
// would then be silently dropped as "already seen". With the epoch, the restarted replica
// is a different actor (r, e+1): none of its dots is covered by anything minted before.
// The replica must persist its epoch outside the data it might lose and bump it whenever
// it cannot prove its data survived (see the shard's startup).
//
// Actors are kept as a pair, not packed into one number: two full u32s do not fit in a
// double's 53 bits, and clocks are tiny sorted arrays, so comparing two fields is cheap.
// The order is (replica, epoch), both ascending.
import { ErrorCode, RingkvError } from '../errors.js';

export interface Actor {
  /** The replica (shard) id, a u32. */
  readonly replica: number;
  /** The incarnation of the replica's data, a u32. */
  readonly epoch: number;
}

/** Largest replica id or epoch: both are u32 (on the wire and on disk). */
export const MAX_ACTOR_FIELD = 0xffff_ffff;

/** Negative, zero or positive as `a` sorts before, with or after `b`: by replica, then epoch. */
export function compareActors(a: Actor, b: Actor): number {
  return a.replica !== b.replica ? a.replica - b.replica : a.epoch - b.epoch;
}

export function sameActor(a: Actor, b: Actor): boolean {
  return a.replica === b.replica && a.epoch === b.epoch;
}

/** A string naming the actor, `replica.epoch`: a Map key and what logs print. */
export function actorKey(a: Actor): string {
  return `${a.replica}.${a.epoch}`;
}

export function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_ACTOR_FIELD;
}

/** Throws ERR_INVALID_ARGUMENT unless `a` is an actor of two u32s. */
export function checkActor(a: Actor, what = 'actor'): void {
  if (typeof a !== 'object' || a === null || !isU32(a.replica) || !isU32(a.epoch)) {
    throw new RingkvError(
      ErrorCode.INVALID_ARGUMENT,
      `${what} must be { replica, epoch } with both integers in [0, 2^32-1]`,
    );
  }
}
