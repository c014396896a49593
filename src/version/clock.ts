// Runs on: any thread. Dots and version vectors.
//
// A dot (actor, counter) names one write event: the counter-th write coordinated by that
// actor. A version vector maps actors to the highest counter seen; it covers a dot when
// its counter for the dot's actor is >= the dot's counter.
//
// Representation: a version vector is a plain readonly array of dots, sorted by actor
// (compareActors), one entry per actor, every counter >= 1 (an absent actor = 0). Objects
// carry 1-5 entries, so sorted arrays beat Maps: comparisons and merges are one linear
// two-pointer walk, and an entry is a shared immutable object that merges reuse. Nothing
// here mutates its arguments. Functions taking a VersionVector REQUIRE the canonical form;
// `clockFrom` builds one from anything and `isCanonicalClock` checks one (decoders do).
//
// Counters are safe integers in [1, 2^53-1].
import { ErrorCode, RingkvError } from '../errors.js';
import { type Actor, compareActors, isU32 } from './actor.js';

export interface Dot extends Actor {
  readonly counter: number;
}

export type VersionVector = readonly Dot[];

/** The empty clock: has seen nothing. */
export const EMPTY_CLOCK: VersionVector = Object.freeze([]) as VersionVector;

/** How two clocks relate. */
export type Ordering = 'equal' | 'before' | 'after' | 'concurrent';

export function compareDots(a: Dot, b: Dot): number {
  return compareActors(a, b) || a.counter - b.counter;
}

export function sameDot(a: Dot, b: Dot): boolean {
  return a.replica === b.replica && a.epoch === b.epoch && a.counter === b.counter;
}

export function isCounter(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

/** The counter `vv` holds for `actor` (0: never seen). */
export function counterOf(vv: VersionVector, actor: Actor): number {
  for (let i = 0; i < vv.length; i++) {
    const e = vv[i]!;
    if (e.replica === actor.replica && e.epoch === actor.epoch) return e.counter;
  }
  return 0;
}

/** Whether `vv` has seen the write event `dot`. */
export function covers(vv: VersionVector, dot: Dot): boolean {
  return counterOf(vv, dot) >= dot.counter;
}

/**
 * Compares two clocks in one walk: 'after' when `a` strictly descends `b`, 'before' when
 * `b` strictly descends `a`, 'equal', or 'concurrent'.
 */
export function compareClocks(a: VersionVector, b: VersionVector): Ordering {
  let aAhead = false; // a has seen something b has not
  let bAhead = false;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    const c = compareActors(x, y);
    if (c < 0) { aAhead = true; i++; }
    else if (c > 0) { bAhead = true; j++; }
    else {
      if (x.counter > y.counter) aAhead = true;
      else if (x.counter < y.counter) bAhead = true;
      i++; j++;
    }
    if (aAhead && bAhead) return 'concurrent';
  }
  if (i < a.length) aAhead = true;
  if (j < b.length) bAhead = true;
  if (aAhead) return bAhead ? 'concurrent' : 'after';
  return bAhead ? 'before' : 'equal';
}

/** `a` descends `b`: `a` has seen every event `b` has (reflexive: a clock descends itself). */
export function descends(a: VersionVector, b: VersionVector): boolean {
  if (b.length > a.length) return false; // b names an actor a lacks
  let i = 0;
  for (let j = 0; j < b.length; j++) {
    const y = b[j]!;
    while (i < a.length && compareActors(a[i]!, y) < 0) i++;
    const x = a[i];
    if (x === undefined || x.replica !== y.replica || x.epoch !== y.epoch || x.counter < y.counter) return false;
    i++;
  }
  return true;
}

/** `a` strictly descends `b`: descends it and differs. */
export function dominates(a: VersionVector, b: VersionVector): boolean {
  return compareClocks(a, b) === 'after';
}

/** Neither clock descends the other: each has seen an event the other has not. */
export function concurrent(a: VersionVector, b: VersionVector): boolean {
  return compareClocks(a, b) === 'concurrent';
}

export function clockEquals(a: VersionVector, b: VersionVector): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.replica !== y.replica || x.epoch !== y.epoch || x.counter !== y.counter) return false;
  }
  return true;
}

/**
 * Pointwise maximum: everything either clock has seen. Returns one of its arguments
 * (unchanged, shared) when that one already descends the other.
 */
export function mergeClocks(a: VersionVector, b: VersionVector): VersionVector {
  if (a === b || b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Dot[] = [];
  let aUsed = true; // every entry of out so far is a's
  let bUsed = true;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    const c = x === undefined ? 1 : y === undefined ? -1 : compareActors(x, y);
    if (c < 0) { out.push(x!); bUsed = false; i++; }
    else if (c > 0) { out.push(y!); aUsed = false; j++; }
    else {
      if (x!.counter >= y!.counter) { out.push(x!); if (x!.counter > y!.counter) bUsed = false; }
      else { out.push(y!); aUsed = false; }
      i++; j++;
    }
  }
  if (aUsed) return a;
  if (bUsed) return b;
  return out;
}

/**
 * `vv` with its entry for `dot`'s actor raised to at least `dot.counter`: the clock after
 * the event `dot` is added to it.
 */
export function addDot(vv: VersionVector, dot: Dot): VersionVector {
  // The common cases as exact-size arrays (a push onto [] reserves 17 slots): the first
  // entry, and an actor the clock already has (every put but a replica's first to a key).
  if (vv.length === 0) return [dot];
  for (let i = 0; i < vv.length; i++) {
    const c = compareActors(vv[i]!, dot);
    if (c > 0) break;
    if (c === 0) {
      const out = vv.slice();
      if (vv[i]!.counter < dot.counter) out[i] = dot;
      return out;
    }
  }
  const out: Dot[] = [];
  let placed = false;
  for (let i = 0; i < vv.length; i++) {
    const e = vv[i]!;
    if (!placed) {
      const c = compareActors(e, dot);
      if (c === 0) {
        out.push(e.counter >= dot.counter ? e : dot);
        placed = true;
        continue;
      }
      if (c > 0) { out.push(dot); placed = true; }
    }
    out.push(e);
  }
  if (!placed) out.push(dot);
  return out;
}

/** The next dot of `actor` after `vv` (counter + 1). */
export function nextDot(vv: VersionVector, actor: Actor): Dot {
  return { replica: actor.replica, epoch: actor.epoch, counter: counterOf(vv, actor) + 1 };
}

/** `vv` advanced by one event of `actor`: strictly descends `vv`. */
export function increment(vv: VersionVector, actor: Actor): VersionVector {
  return addDot(vv, nextDot(vv, actor));
}

/** Whether `vv` is canonical: valid actors and counters, sorted by actor, no duplicates. */
export function isCanonicalClock(vv: readonly Dot[]): boolean {
  if (!Array.isArray(vv)) return false;
  for (let i = 0; i < vv.length; i++) {
    const e = vv[i]!;
    if (typeof e !== 'object' || e === null || !isU32(e.replica) || !isU32(e.epoch) || !isCounter(e.counter)) return false;
    if (i > 0 && compareActors(vv[i - 1]!, e) >= 0) return false;
  }
  return true;
}

/**
 * A canonical clock from any list of (actor, counter) entries: keeps the highest counter
 * per actor, drops zero counters, sorts. Throws ERR_INVALID_ARGUMENT for a bad entry.
 */
export function clockFrom(entries: Iterable<{ replica: number; epoch: number; counter: number }>): VersionVector {
  const out: Dot[] = [];
  for (const e of entries) {
    if (!isU32(e.replica) || !isU32(e.epoch) || !(e.counter === 0 || isCounter(e.counter))) {
      throw new RingkvError(
        ErrorCode.INVALID_ARGUMENT,
        'a clock entry needs a u32 replica and epoch and a counter that is a safe integer >= 0',
      );
    }
    if (e.counter > 0) out.push({ replica: e.replica, epoch: e.epoch, counter: e.counter });
  }
  out.sort(compareDots);
  const merged: Dot[] = [];
  for (const e of out) {
    const last = merged[merged.length - 1];
    if (last !== undefined && compareActors(last, e) === 0) merged[merged.length - 1] = e; // sorted: e is higher
    else merged.push(e);
  }
  return merged;
}

/** A readable form for logs and test failures: `{1.0:3, 2.0:1}`. */
export function formatClock(vv: VersionVector): string {
  return `{${vv.map((e) => `${e.replica}.${e.epoch}:${e.counter}`).join(', ')}}`;
}
