// Runs on: any thread. The stored object: a set of sibling values under one causal context,
// in the manner of Riak 2.x's dotted version vectors (riak_object with dvv_enabled).
//
//   VObject  = { clock, siblings }
//   clock    = every write event this object has seen (a version vector);
//   sibling  = one value (or a tombstone), tagged with the dot of the write that made it.
//
// Invariants (checked by `objectProblem`, by the codec on decode, kept by every operation):
// the clock is canonical; siblings are sorted by dot, no two share a dot; the clock covers
// every sibling's dot. One dot = one write, so two siblings with the same dot anywhere in
// the cluster carry the same value. With canonical order, equal objects are equal
// field by field and encode to identical bytes (Merkle trees rely on that).
//
// The rules:
//  - coordinatePut (the replica that coordinates a put): the new dot is (actor,
//    max(stored[actor], context[actor]) + 1), so it is covered by neither. The write
//    supersedes exactly the siblings its context covers (what the caller read); every other
//    stored sibling is concurrent and stays. New clock = merge(stored.clock, context) + dot.
//  - mergeObjects (a replica receiving a replicated object, read merge, read repair, handoff,
//    anti-entropy): a sibling survives unless the other side's clock covers its dot and the
//    other side no longer holds it (it saw the write and something superseded it). The
//    clock is the pointwise max. Commutative, associative, idempotent: replicas converge
//    whatever the order of delivery. Merges never refuse (no sibling cap): refusing a
//    replicated object would stop convergence; only a put is refused.
//  - The sibling cap (maxSiblings) counts every sibling, tombstones included: exceeding it
//    throws ERR_TOO_MANY_SIBLINGS, writes nothing, and counts versionMetrics.tooManySiblings.
//  - Last-writer-wins, only when configured (opts.lww): the coordinator keeps just the
//    greatest of (the new write, the concurrent stored siblings) by (writtenAt, dot); what
//    the context covers is dropped as always. Merges stay the causal merge above (collapsing
//    inside a merge is not associative and can lose every value), so two concurrent LWW puts
//    on different replicas may leave two siblings until the next put; readers pass
//    { lww: true } to visibleSiblings/visibleValues and see only the greatest.
//  - Deletes are tombstone siblings (value null): they supersede what their context saw and
//    keep their causality; a key whose siblings are all tombstones or expired reads as absent.
//  - TTL: expiresAt (ms since the epoch, 0 = never) travels with the sibling and is applied
//    at read time only: an expired sibling is invisible but keeps its place until superseded
//    or garbage-collected.
import { ErrorCode, RingkvError } from '../errors.js';
import { type Actor, checkActor } from './actor.js';
import {
  EMPTY_CLOCK,
  type VersionVector,
  addDot,
  compareDots,
  counterOf,
  covers,
  descends,
  clockEquals,
  isCanonicalClock,
  isCounter,
  mergeClocks,
  type Dot,
} from './clock.js';
import { versionMetrics } from './metrics.js';

export interface Sibling {
  /** The write that made this value. */
  readonly dot: Dot;
  /** The value; null = a tombstone (a delete). */
  readonly value: Uint8Array | null;
  /** When the coordinator accepted the write, ms since the Unix epoch (LWW order, info). */
  readonly writtenAt: number;
  /** When the value expires, ms since the Unix epoch; 0 = never. */
  readonly expiresAt: number;
}

export interface VObject {
  /** The causal context: every write event this object has seen. */
  readonly clock: VersionVector;
  /** The surviving values, sorted by dot. */
  readonly siblings: readonly Sibling[];
}

export interface Write {
  /** null writes a tombstone. */
  value: Uint8Array | null;
  writtenAt: number;
  expiresAt: number;
}

export interface PutOptions {
  /** Most siblings a put may leave (>= 1). */
  maxSiblings: number;
  /** Last-writer-wins: keep one sibling, the greatest by (writtenAt, dot). */
  lww: boolean;
}

export interface ReadOptions {
  /** Last-writer-wins: only the greatest sibling by (writtenAt, dot) counts. */
  lww?: boolean;
}

function invalid(message: string): RingkvError {
  return new RingkvError(ErrorCode.INVALID_ARGUMENT, message);
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** `a` beats `b` under last-writer-wins: later writtenAt, ties broken by the greater dot. */
export function lwwBeats(a: Sibling, b: Sibling): boolean {
  return a.writtenAt !== b.writtenAt ? a.writtenAt > b.writtenAt : compareDots(a.dot, b.dot) > 0;
}

function lwwWinner(siblings: readonly Sibling[]): Sibling | undefined {
  let best = siblings[0];
  for (let i = 1; i < siblings.length; i++) if (lwwBeats(siblings[i]!, best!)) best = siblings[i];
  return best;
}

/**
 * The coordinating replica's half of a put: the object after `actor` accepts `write` made
 * by a caller who had read `context`. `stored` is what this replica holds (undefined: none).
 * Throws ERR_TOO_MANY_SIBLINGS (nothing written) when the result would exceed
 * opts.maxSiblings, ERR_INVALID_ARGUMENT for a bad actor, write, context or option.
 */
export function coordinatePut(
  stored: VObject | undefined,
  context: VersionVector,
  actor: Actor,
  write: Write,
  opts: PutOptions,
): VObject {
  checkPut(context, actor, write, opts);
  const storedClock = stored === undefined ? EMPTY_CLOCK : stored.clock;
  const dot = nextPutDot(storedClock, context, actor);
  const mine: Sibling = { dot, value: write.value, writtenAt: write.writtenAt, expiresAt: write.expiresAt };
  const clock = addDot(mergeClocks(storedClock, context), dot);

  const siblings: Sibling[] = [];
  let placed = false;
  if (stored !== undefined) {
    for (const s of stored.siblings) {
      if (covers(context, s.dot)) continue; // the caller saw it: superseded
      if (!placed && compareDots(s.dot, dot) > 0) { siblings.push(mine); placed = true; }
      siblings.push(s);
    }
  }
  if (!placed) siblings.push(mine);

  if (opts.lww) return { clock, siblings: [lwwWinner(siblings)!] };
  if (siblings.length > opts.maxSiblings) {
    versionMetrics.tooManySiblings++;
    throw new RingkvError(
      ErrorCode.TOO_MANY_SIBLINGS,
      `this put would leave ${siblings.length} concurrent values for the key (limit ${opts.maxSiblings}); ` +
        'nothing was written: read the key, resolve its values and write the result back with the context ' +
        'you read (or raise maxSiblings)',
    );
  }
  if (siblings.length > 1) versionMetrics.siblingPuts++;
  return { clock, siblings };
}

/**
 * coordinatePut of a write that supersedes every stored sibling, from the stored CLOCK alone
 * (an overwrite, Redis SET: the replica merges its stored clock into the context). For any
 * stored object whose clock is `storedClock`, this is exactly
 * coordinatePut(stored, mergeClocks(context, storedClock), actor, write, opts): that context
 * covers every stored sibling (the clock covers its siblings' dots), so only the new value
 * survives, whatever LWW or the sibling cap say. So a replica need not build the stored
 * siblings (decodeObjectClock) to answer the commonest write. Same checks, same errors.
 */
export function coordinateOverwrite(
  storedClock: VersionVector,
  context: VersionVector,
  actor: Actor,
  write: Write,
  opts: PutOptions,
): VObject {
  checkPut(context, actor, write, opts);
  const dot = nextPutDot(storedClock, context, actor);
  const mine: Sibling = { dot, value: write.value, writtenAt: write.writtenAt, expiresAt: write.expiresAt };
  return { clock: addDot(mergeClocks(storedClock, context), dot), siblings: [mine] };
}

/** The argument checks of a put (ERR_INVALID_ARGUMENT). */
function checkPut(context: VersionVector, actor: Actor, write: Write, opts: PutOptions): void {
  checkActor(actor);
  if (!(write.value === null || write.value instanceof Uint8Array)) throw invalid('a value must be a Uint8Array (or null for a delete)');
  if (!isTime(write.writtenAt)) throw invalid('writtenAt must be ms since the epoch, a safe integer >= 0');
  if (!isTime(write.expiresAt)) throw invalid('expiresAt must be ms since the epoch, a safe integer >= 0 (0 = never)');
  if (!Number.isInteger(opts.maxSiblings) || opts.maxSiblings < 1) throw invalid('maxSiblings must be an integer >= 1');
  if (!isCanonicalClock(context)) throw invalid('a context must be a canonical version vector (decode it with decodeContext)');
}

/** The dot of a put coordinated by `actor`: past both what is stored and what the caller saw. */
function nextPutDot(storedClock: VersionVector, context: VersionVector, actor: Actor): Dot {
  const counter = Math.max(counterOf(storedClock, actor), counterOf(context, actor)) + 1;
  if (!Number.isSafeInteger(counter)) throw invalid(`the counter of actor ${actor.replica}.${actor.epoch} is exhausted`);
  return { replica: actor.replica, epoch: actor.epoch, counter };
}

/**
 * The union of two replicas' knowledge of a key (see the rules above). Returns `a` itself
 * when nothing changes it.
 */
export function mergeObjects(a: VObject, b: VObject): VObject {
  if (a === b) return a;
  const as = a.siblings;
  const bs = b.siblings;
  const siblings: Sibling[] = [];
  let i = 0;
  let j = 0;
  while (i < as.length || j < bs.length) {
    const x = as[i];
    const y = bs[j];
    const c = x === undefined ? 1 : y === undefined ? -1 : compareDots(x.dot, y.dot);
    if (c < 0) { if (!covers(b.clock, x!.dot)) siblings.push(x!); i++; }
    else if (c > 0) { if (!covers(a.clock, y!.dot)) siblings.push(y!); j++; }
    else { siblings.push(x!); i++; j++; }
  }
  const clock = mergeClocks(a.clock, b.clock);
  if (clock === a.clock && siblings.length === as.length && siblings.every((s, k) => s === as[k])) return a;
  return { clock, siblings };
}

/** All of `objects` merged (read merge of R answers); undefined for none. */
export function mergeAll(objects: readonly (VObject | undefined)[]): VObject | undefined {
  let out: VObject | undefined;
  for (const o of objects) if (o !== undefined) out = out === undefined ? o : mergeObjects(out, o);
  return out;
}

export function isExpired(s: Sibling, now: number): boolean {
  return s.expiresAt !== 0 && s.expiresAt <= now;
}

/**
 * The siblings a reader sees at time `now`: tombstones and expired values removed, in dot
 * order. Empty = the key reads as absent. With { lww: true }, only the LWW winner counts
 * (and if it is a tombstone or expired, the key is absent).
 */
export function visibleSiblings(obj: VObject | undefined, now: number, opts: ReadOptions = {}): Sibling[] {
  if (obj === undefined) return [];
  const from = opts.lww ? (obj.siblings.length === 0 ? [] : [lwwWinner(obj.siblings)!]) : obj.siblings;
  const out: Sibling[] = [];
  for (const s of from) if (s.value !== null && !isExpired(s, now)) out.push(s);
  return out;
}

/** The values a reader sees at time `now` (see visibleSiblings); empty = absent. */
export function visibleValues(obj: VObject | undefined, now: number, opts: ReadOptions = {}): Uint8Array[] {
  return visibleSiblings(obj, now, opts).map((s) => s.value!);
}

/**
 * The causal context to hand a reader: the object's clock (also for a key that reads as
 * absent, so a put after a delete supersedes the tombstone). EMPTY_CLOCK for no object.
 */
export function contextOf(obj: VObject | undefined): VersionVector {
  return obj === undefined ? EMPTY_CLOCK : obj.clock;
}

/** Every sibling is a tombstone (candidate for tombstone GC once all replicas hold it). */
export function isTombstoneOnly(obj: VObject): boolean {
  for (const s of obj.siblings) if (s.value !== null) return false;
  return true;
}

/** `a` has seen everything `b` has (b is stale or equal): read repair sends `a` to b's replica. */
export function descendsObject(a: VObject, b: VObject): boolean {
  return descends(a.clock, b.clock);
}

function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Same clock and same siblings (dots, values, times): nothing to repair. */
export function equalObjects(a: VObject, b: VObject): boolean {
  if (a === b) return true;
  if (!clockEquals(a.clock, b.clock) || a.siblings.length !== b.siblings.length) return false;
  for (let i = 0; i < a.siblings.length; i++) {
    const x = a.siblings[i]!;
    const y = b.siblings[i]!;
    if (compareDots(x.dot, y.dot) !== 0 || x.writtenAt !== y.writtenAt || x.expiresAt !== y.expiresAt) return false;
    if (!bytesEqual(x.value, y.value)) return false;
  }
  return true;
}

/** What breaks the object invariants, or undefined when none does (tests, debugging). */
export function objectProblem(obj: VObject): string | undefined {
  if (!isCanonicalClock(obj.clock)) return 'the clock is not canonical';
  for (let i = 0; i < obj.siblings.length; i++) {
    const s = obj.siblings[i]!;
    if (i > 0 && compareDots(obj.siblings[i - 1]!.dot, s.dot) >= 0) return `sibling ${i} is out of dot order or repeats a dot`;
    if (!isCounter(s.dot.counter)) return `sibling ${i} has a bad dot counter`;
    if (!covers(obj.clock, s.dot)) return `the clock does not cover sibling ${i}'s dot`;
    if (!isTime(s.writtenAt) || !isTime(s.expiresAt)) return `sibling ${i} has a bad time`;
    if (!(s.value === null || s.value instanceof Uint8Array)) return `sibling ${i} has a bad value`;
  }
  return undefined;
}
