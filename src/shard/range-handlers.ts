// Runs on: a shard worker (or, in tests, any one thread that owns the engines). The
// replica's handlers over token ranges (see replica.ts for the frames): SCAN lists keys,
// TREE hashes Merkle leaves, RANGE pages objects (reads, answered at once), PURGE deletes
// tombstones past their grace (tombstone-gc.ts), DROP deletes a range handed away.
import { ErrorCode, RingkvError } from '../errors.js';
import { FrameType, type DropRequest, type PurgeRequest, type RangeEntry, type RangeRequest, type Reply, type ScanRequest, type TokenBound, type TreeRequest } from '../protocol/index.js';
import { counterOf, decodeObject, visibleValues, type VObject } from '../version/index.js';
import { MerkleBuilder } from './merkle.js';
import { STORED, boundToken, tokenBound, type ReplicaState } from './replica-state.js';
import { PURGE_MAX_ENTRIES, newestWrite, purgeable } from './tombstone-gc.js';

/**
 * Most objects one TREE request hashes, whatever it asks: bounds the time it holds the shard.
 * Measured here (2 cores at load ~14): 16384 small objects took 150-160 ms, of which the
 * engine's scan 55-80 ms; so 8192 holds a shard for well under 100 ms even then. A larger
 * range is refused and the asker splits it.
 */
export const TREE_MAX_ENTRIES = 8192;
/** Most objects in one OBJECTS reply. */
export const RANGE_MAX_ENTRIES = 4096;
/**
 * Most bytes of keys and objects in one OBJECTS reply (more only to finish a token, or for
 * a single larger object): half the largest record of a default 1 MiB reply queue.
 */
export const RANGE_MAX_BYTES = 256 * 1024;

/**
 * Keys with a visible value in the request's token range: at least `max` (unless the range
 * ends first), then the rest of the last token's keys, so a resumed scan never splits a token.
 */
export function scanKeys(r: ReplicaState, req: ScanRequest): Reply {
  const from = boundToken(req.from);
  const to = boundToken(req.to);
  const keys: Uint8Array[] = [];
  let lastToken = -1n;
  for (const e of r.stores.data.scan(from, to)) {
    if (keys.length >= req.max && e.token !== lastToken) {
      return { type: FrameType.KEYS, keys, done: false, next: { hi: Number(e.token >> 32n), lo: Number(e.token & 0xffffffffn), end: false } };
    }
    const obj = decodeObject(e.value, { source: 'the stored object' });
    if (visibleValues(obj, req.now).length > 0) {
      keys.push(e.key);
      lastToken = e.token;
    }
  }
  return { type: FrameType.KEYS, keys, done: true, next: req.to };
}

/** The Merkle leaves of the request's range (at most TREE_MAX_ENTRIES objects hashed). */
export function tree(r: ReplicaState, req: TreeRequest): Reply {
  const from = boundToken(req.from);
  const to = boundToken(req.to);
  if (!(to > from)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `TREE over an empty token range [${from}, ${to})`);
  r.builder ??= new MerkleBuilder();
  const max = Math.min(req.maxEntries, TREE_MAX_ENTRIES);
  const h = r.builder.hashLeaves(r.stores.data.scan(from, to), from, to, req.depth, max);
  return { type: FrameType.HASHES, entries: h.entries, complete: h.complete, leaves: h.leaves };
}

/** A page of the stored objects of the request's range, never splitting a token. */
export function range(r: ReplicaState, req: RangeRequest): Reply {
  const from = boundToken(req.from);
  const to = boundToken(req.to);
  const max = Math.max(1, Math.min(req.max, RANGE_MAX_ENTRIES));
  const maxBytes = Math.min(req.maxBytes, RANGE_MAX_BYTES);
  const entries: RangeEntry[] = [];
  let bytes = 0;
  let lastToken = -1n;
  for (const e of r.stores.data.scan(from, to)) {
    if (entries.length > 0 && e.token !== lastToken && (entries.length >= max || bytes >= maxBytes)) {
      return { type: FrameType.OBJECTS, entries, done: false, next: tokenBound(e.token) };
    }
    entries.push({ hi: Number(e.token >> 32n), lo: Number(e.token & 0xffffffffn), key: e.key, object: e.value });
    bytes += e.key.length + e.value.length;
    lastToken = e.token;
  }
  return { type: FrameType.OBJECTS, entries, done: true, next: req.to };
}

/**
 * Tombstone GC of a page of the request's range (the rule: tombstone-gc.ts): stages an
 * engine delete of each object that is tombstone-only and older than req.before as this
 * batch sees it (a write staged earlier in the batch counts; one staged later wins).
 */
export function purge(r: ReplicaState, req: PurgeRequest): Reply {
  const from = boundToken(req.from);
  const to = boundToken(req.to);
  if (!(to > from)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `PURGE over an empty token range [${from}, ${to})`);
  const max = Math.max(1, Math.min(req.max, PURGE_MAX_ENTRIES));
  let seen = 0;
  let purged = 0;
  let lastToken = -1n;
  const doomed: { key: Uint8Array; hi: number; lo: number }[] = [];
  for (const e of r.stores.data.scan(from, to)) {
    if (seen >= max && e.token !== lastToken) {
      stagePurges(r, doomed);
      return { type: FrameType.PURGED, purged, done: false, next: tokenBound(e.token) };
    }
    seen++;
    lastToken = e.token;
    const hi = Number(e.token >> 32n);
    const lo = Number(e.token & 0xffffffffn);
    const p = r.pendingWrite(e.key, hi, lo);
    const bytes = p === undefined ? e.value : p.bytes;
    if (bytes === null) continue;
    let obj: VObject;
    try {
      obj = decodeObject(bytes, STORED);
    } catch {
      continue; // what cannot be read is not purged (a read reports the corruption)
    }
    if (!purgeable(obj, req.before)) continue;
    r.counterFloor = Math.max(r.counterFloor, counterOf(obj.clock, r.actor));
    doomed.push({ key: e.key.slice(), hi, lo });
    purged++;
  }
  stagePurges(r, doomed);
  return { type: FrameType.PURGED, purged, done: true, next: req.to };
}

/** Stages the engine deletes of a PURGE (after its scan: the engine is not written while it is read). */
export function stagePurges(r: ReplicaState, doomed: readonly { key: Uint8Array; hi: number; lo: number }[]): void {
  for (const d of doomed) r.writeData(d.key, d.hi, d.lo, null);
  r.purgedStaged += doomed.length;
}

/**
 * Deletes a page of the request's range: every object in it whose newest sibling was
 * written before req.before (the range was handed away and its owners hold what it held
 * then: range-cleanup.ts; a write since, taken as a stand-in, stays).
 *
 * Dots. The deleted objects live on at the owners, so a later put coordinated here (the
 * range comes back, or this replica stands in again) must neither reuse one of their dots
 * (the owners would take the new write as already seen and drop it) nor cover them (a
 * counter floor, as after a purge, would raise this actor's clock entry past them and
 * supersede them at the owners: the simulation lost a write that way). So when they held
 * dots of this actor, the replica takes a new incarnation: later puts are another actor.
 */
export function drop(r: ReplicaState, req: DropRequest): Reply {
  const from = boundToken(req.from);
  const to = boundToken(req.to);
  if (!(to > from)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `DROP over an empty token range [${from}, ${to})`);
  const max = Math.max(1, Math.min(req.max, PURGE_MAX_ENTRIES));
  let lastToken = -1n;
  let seen = 0;
  let ownDots = false;
  const doomed: { key: Uint8Array; hi: number; lo: number }[] = [];
  let next: TokenBound | undefined;
  for (const e of r.stores.data.scan(from, to)) {
    if (seen >= max && e.token !== lastToken) {
      next = tokenBound(e.token);
      break;
    }
    seen++;
    lastToken = e.token;
    if (e.value === null) continue;
    try {
      const obj = decodeObject(e.value, STORED);
      if (newestWrite(obj) >= req.before) continue;
      if (counterOf(obj.clock, r.actor) > 0) ownDots = true;
    } catch {
      // Unreadable: no counter to keep; the range is gone all the same.
    }
    doomed.push({ key: e.key.slice(), hi: Number(e.token >> 32n), lo: Number(e.token & 0xffffffffn) });
  }
  for (const d of doomed) r.writeData(d.key, d.hi, d.lo, null);
  if (ownDots) {
    r.actor = { replica: r.actor.replica, epoch: r.renew() };
    r.counterFloor = 0; // the new actor has no dots anywhere
  }
  return next === undefined
    ? { type: FrameType.PURGED, purged: doomed.length, done: true, next: req.to }
    : { type: FrameType.PURGED, purged: doomed.length, done: false, next };
}
