// Runs on: a shard worker. Redis's INCRBY done where the key's version is made: the replica
// that coordinates a PUT with the `increment` option reads what it holds, adds the delta and
// versions the sum in the same step of its single thread, so increments of one key need no
// read round trip first and no lock held across their writes (the request queue to the
// replica is FIFO: increments apply in the order they were sent, and a hot counter costs
// what a cold one does).
//
// What it adds to: the visible value (not a tombstone, not expired at the request's
// writtenAt); none counts as 0 and the sum then never expires; otherwise the sum keeps that
// value's expiry (INCR keeps the TTL, as in Redis). Concurrent values (siblings) answer
// ERR_CONFLICT: picking one would lose the others' increments. The write supersedes
// everything the replica holds (its clock is the context), as SET does.
import { ErrorCode, RingkvError } from '../errors.js';
import { isInt64, parseInt64 } from '../encoding/index.js';
import { visibleSiblings, type VObject, type Write } from '../version/index.js';

const encoder = new TextEncoder();

/** The write an increment by `delta` (decimal ASCII) makes over `stored` at time `now`. */
export function incrementWrite(stored: VObject | undefined, delta: Uint8Array, now: number): Write {
  const d = parseInt64(delta);
  if (d === null) throw new RingkvError(ErrorCode.NOT_INTEGER, 'value is not an integer or out of range');
  const visible = visibleSiblings(stored, now);
  if (visible.length > 1) {
    throw new RingkvError(ErrorCode.CONFLICT, `the key has ${visible.length} concurrent values: read them (VGET) and resolve them with their context`);
  }
  let current = 0n;
  let expiresAt = 0;
  if (visible.length === 1) {
    const n = parseInt64(visible[0]!.value!);
    if (n === null) throw new RingkvError(ErrorCode.NOT_INTEGER, 'value is not an integer or out of range');
    current = n;
    expiresAt = visible[0]!.expiresAt;
  }
  const sum = current + d;
  if (!isInt64(sum)) throw new RingkvError(ErrorCode.NOT_INTEGER, 'increment or decrement would overflow');
  return { value: encoder.encode(sum.toString()), writtenAt: now, expiresAt };
}
