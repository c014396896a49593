// Runs on: a shard worker (or, in tests, any one thread that owns the engines). The
// replica's write handlers (see replica.ts for the frames): PUT coordinates a version (an
// overwrite reads only the stored clock; an increment adds to the stored integer,
// increment.ts), REPLICATE and REPLICATE_MANY merge coordinated objects in, HINT and
// HINT_DONE keep and retire hints. Each stages its writes (r.writeData) and returns its reply.
import { equalBytes } from '../encoding/index.js';
import { ErrorCode, RingkvError } from '../errors.js';
import { token53 } from '../hash/index.js';
import type { HintDoneRequest, HintRequest, PutRequest, ReplicateManyRequest, ReplicateRequest, Reply } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import { coordinateOverwrite, coordinatePut, decodeContext, decodeObject, EMPTY_CLOCK, encodeObjectInto, equalObjects, mergeObjects, type VObject } from '../version/index.js';
import { incrementWrite } from './increment.js';
import { ACK, EMPTY, REPLICATED, checkedSize, type FrameMerge, type ReplicaState } from './replica-state.js';

/** PUT: coordinates a version over what is stored and returns the new object. */
export function put(r: ReplicaState, req: PutRequest): Reply {
  // The request is the write (value, writtenAt, expiresAt) and its options (maxSiblings, lww).
  let next: VObject;
  if (req.increment) {
    // Redis INCRBY (increment.ts): the sum of what is held and the delta, superseding it all.
    const stored = r.floored(r.readObject(req.key, req.hi, req.lo));
    const write = incrementWrite(stored, req.value ?? EMPTY, req.writtenAt);
    next = coordinateOverwrite(stored?.clock ?? EMPTY_CLOCK, decodeContext(req.context), r.actor, write, req);
  } else if (req.overwrite) {
    // overwrite: the write also supersedes every value this replica holds (Redis SET),
    // so only the stored clock matters: its siblings are checked, not built.
    const clock = r.flooredClock(r.readClock(req.key, req.hi, req.lo));
    next = coordinateOverwrite(clock, decodeContext(req.context), r.actor, req, req);
  } else {
    const stored = r.floored(r.readObject(req.key, req.hi, req.lo));
    next = coordinatePut(stored, decodeContext(req.context), r.actor, req, req);
  }
  const bytes = r.encode(next);
  r.writeData(req.key, req.hi, req.lo, bytes);
  return { type: FrameType.OBJECT, object: bytes };
}

/** REPLICATE: merges a coordinated object into what is stored. */
export function replicate(r: ReplicaState, req: ReplicateRequest): Reply {
  const incoming = decodeObject(req.object, REPLICATED);
  // A stored copy that fails its checksum cannot be merged: the incoming object (a
  // read repair from healthy replicas) replaces it, which is the repair.
  const stored = r.readObjectOrCorrupt(req.key, req.hi, req.lo);
  const merged = stored === undefined ? incoming : mergeObjects(stored, incoming);
  if (stored === undefined || !equalObjects(merged, stored)) r.writeData(req.key, req.hi, req.lo, r.encode(merged));
  return ACK;
}

/**
 * Merges each entry as REPLICATE does, in order (a later entry of a key merges into the
 * earlier one's result), all or nothing: every object is decoded, every merge computed and
 * every size checked before anything is staged, so an entry that fails leaves the batch as
 * it was and the frame answers ERROR naming that entry (its own error's code).
 */
export function replicateMany(r: ReplicaState, req: ReplicateManyRequest): Reply {
  const entries = req.entries;
  const merges: FrameMerge[] = [];
  const byToken = r.frameKeys;
  byToken.clear();
  let i = 0;
  try {
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      const incoming = decodeObject(e.object, REPLICATED);
      const t = token53(e.hi, e.lo);
      let m = byToken.get(t);
      while (m !== undefined && !equalBytes(m.entry.key, e.key)) m = m.next;
      if (m !== undefined) {
        m.merged = mergeObjects(m.merged, incoming);
        continue;
      }
      const stored = r.readObject(e.key, e.hi, e.lo);
      m = { entry: e, index: i, stored, merged: stored === undefined ? incoming : mergeObjects(stored, incoming), size: 0, next: byToken.get(t) };
      byToken.set(t, m);
      merges.push(m);
    }
    for (const m of merges) {
      i = m.index;
      if (m.stored === undefined || !equalObjects(m.merged, m.stored)) m.size = checkedSize(m.merged);
    }
  } catch (err) {
    throw entryError(err, i, entries.length, entries[i]?.key);
  } finally {
    byToken.clear();
  }
  for (const m of merges) {
    if (m.size === 0) continue; // already held: nothing to write
    const out = r.slab.alloc(m.size);
    encodeObjectInto(m.merged, out, 0);
    r.writeData(m.entry.key, m.entry.hi, m.entry.lo, out);
  }
  return ACK;
}

/** HINT: keeps an object for a replica that is down, merged with any hint already held for the key. */
export function hint(r: ReplicaState, req: HintRequest): Reply {
  r.hints.put(req.target, req.key, req.hi, req.lo, decodeObject(req.object, { source: 'a HINT frame' }));
  r.stagedBytes += req.key.length + req.object.length;
  return ACK;
}

/** HINT_DONE: deletes a delivered hint (only if unchanged since it was listed). */
export function hintDone(r: ReplicaState, req: HintDoneRequest): Reply {
  r.hints.done(req.target, req.key, req.object);
  return ACK;
}

/** The error of a REPLICATE_MANY whose entry `i` of `count` failed: that entry's code, named. */
function entryError(err: unknown, i: number, count: number, key: Uint8Array | undefined): RingkvError {
  const code = err instanceof RingkvError ? err.code : ErrorCode.IO;
  const what = err instanceof Error ? err.message : String(err);
  const name = key === undefined ? '' : ` (key ${JSON.stringify(Buffer.from(key.buffer, key.byteOffset, Math.min(key.length, 40)).toString('latin1'))}${key.length > 40 ? '...' : ''})`;
  return new RingkvError(code, `REPLICATE_MANY entry ${i} of ${count}${name} failed, nothing of the frame was applied: ${what}`);
}
