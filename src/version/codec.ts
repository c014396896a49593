// Runs on: any thread. The binary form of a VObject: the value a shard stores for a key in
// its LSM engine and the object that REPLICATE/HINT/OBJECT frames carry.
//
//   object (varints are LEB128, see varint.ts; there are no fixed-width integers):
//
//   +---------+-------------------------------+---------+-------------------------+
//   | version | clock                         | nsib    | sibling x nsib          |
//   |   u8    | count varint | entry x count  | varint  |                         |
//   +---------+-------------------------------+---------+-------------------------+
//
//   entry    replica varint (u32) | epoch varint (u32) | counter varint (1..2^53-1)
//            entries strictly ascending by (replica, epoch): the canonical clock.
//
//   sibling  +-------+---------+-------+-----------+-------------+------------------+
//            | actor | counter | flags | writtenAt | [expiresAt] | [len | value]    |
//            | varint| varint  |  u8   | varint    | varint      | varint | bytes   |
//            +-------+---------+-------+-----------+-------------+------------------+
//            actor      index of the dot's actor in the clock's entries (< count)
//            counter    the dot's counter, 1 .. the clock's counter for that actor
//            flags      bit 0 TOMBSTONE: no len/value follow (value null)
//                       bit 1 EXPIRES: expiresAt follows (>= 1); absent = 0 = never
//                       bits 2-7 are 0 (a decoder rejects anything else)
//            writtenAt  ms since the Unix epoch
//            len|value  the value's length and bytes (not for a tombstone)
//            siblings strictly ascending by dot (actor, then counter).
//
//   version  OBJECT_VERSION (1); a decoder rejects versions it does not know.
//
// The encoding is canonical: an object has exactly one encoding, so equal objects are
// equal bytes (Merkle trees hash them) and decode(encode(o)) re-encodes to the same bytes.
// There is no checksum: the container carries one (WAL record, SSTable block, frame).
// A decoder checks every length and count against the bytes left before it allocates, so
// it allocates no more than the input implies; anything malformed, truncated or trailing
// throws ERR_CORRUPTION naming the source (`corruption(source, what)`), never a crash.
//
// ON DISK AND ON THE WIRE: the layout, the flags and the version number never change;
// a new layout gets a new version and decoders keep reading the old ones.
import { corruption } from '../errors.js';
import { MAX_ACTOR_FIELD, compareActors } from './actor.js';
import type { Dot, VersionVector } from './clock.js';
import type { Sibling, VObject } from './object.js';
import { ByteReader, putVarint, varintSize } from '../encoding/index.js';
import { CONTEXT_VERSION } from './context.js';

/** The object layout version. On disk and on the wire: never changes. */
export const OBJECT_VERSION = 1;

/** Sibling flags. On disk and on the wire: never change; new bits only with a new version. */
export const SiblingFlag = {
  TOMBSTONE: 1,
  EXPIRES: 2,
} as const;
const KNOWN_FLAGS = SiblingFlag.TOMBSTONE | SiblingFlag.EXPIRES;

/** Smallest encoded clock entry and sibling (all one-byte fields): bound the counts. */
const MIN_ENTRY_BYTES = 3;
const MIN_SIBLING_BYTES = 4;

export interface DecodeOptions {
  /** Names the bytes in errors (a file, a peer): `corruption in <source>: ...`. */
  source?: string;
  /**
   * false: values are views into `bytes` (no copy); only when `bytes` outlives the object
   * and is never overwritten. Default true: values are copies (ring and frame buffers are
   * reused).
   */
  copyValues?: boolean;
  /**
   * With copyValues: where the copies go (a slab handing out views of chunks it never
   * rewrites, say). Default: a fresh Uint8Array per value, which costs ~0.5-1 µs each.
   */
  copier?: ValueCopier;
}

/** Copies bytes into storage that nothing overwrites (src/protocol/slab.ts). */
export interface ValueCopier {
  copy(src: Uint8Array, from: number, to: number): Uint8Array;
}

function actorIndex(clock: readonly Dot[], dot: Dot): number {
  for (let k = 0; k < clock.length; k++) {
    const e = clock[k]!;
    if (e.replica === dot.replica && e.epoch === dot.epoch) return k;
  }
  throw new Error('invariant violated: a sibling dot is not in its object clock');
}

/** Bytes encodeObjectInto(obj) writes. REQUIRES: obj valid (see objectProblem). */
export function objectSize(obj: VObject): number {
  const clock = obj.clock;
  let n = 1 + varintSize(clock.length) + varintSize(obj.siblings.length);
  for (let k = 0; k < clock.length; k++) {
    const e = clock[k]!;
    n += varintSize(e.replica) + varintSize(e.epoch) + varintSize(e.counter);
  }
  for (const s of obj.siblings) {
    n += varintSize(actorIndex(clock, s.dot)) + varintSize(s.dot.counter) + 1 + varintSize(s.writtenAt);
    if (s.expiresAt !== 0) n += varintSize(s.expiresAt);
    if (s.value !== null) n += varintSize(s.value.length) + s.value.length;
  }
  return n;
}

/**
 * Encodes `obj` at buf[at] (room for objectSize(obj) bytes); returns the position after it.
 * Lets a caller encode into a reused buffer without allocating.
 */
export function encodeObjectInto(obj: VObject, buf: Uint8Array, at: number): number {
  const clock = obj.clock;
  buf[at++] = OBJECT_VERSION;
  at = putVarint(buf, at, clock.length);
  for (let k = 0; k < clock.length; k++) {
    const e = clock[k]!;
    at = putVarint(buf, at, e.replica);
    at = putVarint(buf, at, e.epoch);
    at = putVarint(buf, at, e.counter);
  }
  at = putVarint(buf, at, obj.siblings.length);
  for (const s of obj.siblings) {
    at = putVarint(buf, at, actorIndex(clock, s.dot));
    at = putVarint(buf, at, s.dot.counter);
    buf[at++] = (s.value === null ? SiblingFlag.TOMBSTONE : 0) | (s.expiresAt !== 0 ? SiblingFlag.EXPIRES : 0);
    at = putVarint(buf, at, s.writtenAt);
    if (s.expiresAt !== 0) at = putVarint(buf, at, s.expiresAt);
    if (s.value !== null) {
      at = putVarint(buf, at, s.value.length);
      buf.set(s.value, at);
      at += s.value.length;
    }
  }
  return at;
}

/** The bytes of `obj`. */
export function encodeObject(obj: VObject): Uint8Array {
  const buf = new Uint8Array(objectSize(obj));
  encodeObjectInto(obj, buf, 0);
  return buf;
}

/** The object in `bytes`; throws ERR_CORRUPTION (naming opts.source) for anything malformed. */
export function decodeObject(bytes: Uint8Array, opts: DecodeOptions = {}): VObject {
  return parseObject(bytes, opts, true);
}

/**
 * The clock of the object in `bytes`, with every check decodeObject makes (the same errors
 * for the same bytes), but no sibling built: what an overwrite PUT needs of what is stored
 * (coordinateOverwrite), at a fraction of the allocations.
 */
export function decodeObjectClock(bytes: Uint8Array, opts: DecodeOptions = {}): VersionVector {
  return parseObject(bytes, opts, false).clock;
}

const NO_SIBLINGS: readonly Sibling[] = Object.freeze([]) as readonly Sibling[];
const NO_DOTS = Object.freeze([]) as unknown as Dot[];

/** decodeObject; with `build` false the siblings are checked, not built (siblings: NO_SIBLINGS). */
function parseObject(bytes: Uint8Array, opts: DecodeOptions, build: boolean): VObject {
  const source = opts.source ?? 'version object';
  const copy = opts.copyValues ?? true;
  const copier = opts.copier;
  const r = new ByteReader(bytes, (what) => corruption(source, what));
  const version = r.u8('version');
  if (version !== OBJECT_VERSION) throw corruption(source, `unknown object version ${version}`);

  const count = r.varint('clock entry count');
  if (count > r.remaining / MIN_ENTRY_BYTES) throw corruption(source, `clock entry count ${count} exceeds the bytes left`);
  let clock: Dot[] = NO_DOTS;
  for (let k = 0; k < count; k++) {
    const replica = r.varintUpTo(MAX_ACTOR_FIELD, 'replica');
    const epoch = r.varintUpTo(MAX_ACTOR_FIELD, 'epoch');
    const counter = r.varint('counter');
    if (counter === 0) throw corruption(source, 'a clock counter of 0');
    const e: Dot = { replica, epoch, counter };
    if (k > 0 && compareActors(clock[k - 1]!, e) >= 0) throw corruption(source, 'clock entries out of order or repeated');
    // A one-entry literal, not a push onto []: the first push reserves 17 slots (~150 bytes
    // per decoded object, the largest allocation of a PUT), and most clocks have one entry.
    if (k === 0) clock = [e];
    else clock.push(e);
  }

  const nsib = r.varint('sibling count');
  if (nsib > r.remaining / MIN_SIBLING_BYTES) throw corruption(source, `sibling count ${nsib} exceeds the bytes left`);
  let siblings: Sibling[] = NO_SIBLINGS as Sibling[];
  let prevActor = -1;
  let prevCounter = 0;
  for (let k = 0; k < nsib; k++) {
    const index = r.varint('sibling actor');
    const entry = clock[index];
    if (entry === undefined) throw corruption(source, `sibling actor index ${index} outside the clock (${count} entries)`);
    const counter = r.varint('sibling counter');
    if (counter === 0 || counter > entry.counter) throw corruption(source, `sibling counter ${counter} not covered by the clock`);
    if (index < prevActor || (index === prevActor && counter <= prevCounter)) throw corruption(source, 'siblings out of order or repeated');
    prevActor = index;
    prevCounter = counter;
    const flags = r.u8('sibling flags');
    if ((flags & ~KNOWN_FLAGS) !== 0) throw corruption(source, `unknown sibling flags 0x${flags.toString(16)}`);
    const writtenAt = r.varint('writtenAt');
    let expiresAt = 0;
    if (flags & SiblingFlag.EXPIRES) {
      expiresAt = r.varint('expiresAt');
      if (expiresAt === 0) throw corruption(source, 'an expiry flag with expiresAt 0');
    }
    let value: Uint8Array | null = null;
    if (!(flags & SiblingFlag.TOMBSTONE)) {
      const len = r.varint('value length');
      if (len > r.remaining) throw corruption(source, `value length ${len} runs past the end`);
      if (build) value = !copy ? bytes.subarray(r.pos, r.pos + len) : copier !== undefined ? copier.copy(bytes, r.pos, r.pos + len) : bytes.slice(r.pos, r.pos + len);
      r.pos += len;
    }
    if (!build) continue;
    const dot: Dot = counter === entry.counter ? entry : { replica: entry.replica, epoch: entry.epoch, counter };
    const sibling: Sibling = { dot, value, writtenAt, expiresAt };
    if (k === 0) siblings = [sibling]; // as the clock's first entry
    else siblings.push(sibling);
  }
  if (r.remaining !== 0) throw corruption(source, `${r.remaining} trailing bytes`);
  return { clock, siblings };
}

/** What a read of one replica's single-sibling object hands its caller (see readSingle). */
export interface SingleRead {
  /** The visible value (copied), or undefined when it is a tombstone or expired. */
  value: Uint8Array | undefined;
  /** The object's clock as an opaque context (encodeContext's bytes), copied. */
  context: Uint8Array;
  /** When the value expires, ms since the epoch; 0 = never. */
  expiresAt: number;
}

/**
 * A fast path for reads answered by one replica (N=1 or R=1 with one up), where nothing is
 * merged: the visible value and the context of an object that has exactly ONE sibling, read
 * in one pass with the same checks as decodeObject, without building the object. Returns
 * what visibleValues(decodeObject(bytes), now) and encodeContext(clock) would (with one
 * sibling, last-writer-wins changes nothing), or null when the object has another number of
 * siblings (decode it). Throws ERR_CORRUPTION as decodeObject does.
 *
 * The context is the object's first bytes: the object's clock and a context share one
 * layout (count, then replica | epoch | counter entries), after a version byte each.
 */
export function readSingle(bytes: Uint8Array, now: number, copier: ValueCopier, source: string): SingleRead | null {
  const r = new ByteReader(bytes, (what) => corruption(source, what));
  const version = r.u8('version');
  if (version !== OBJECT_VERSION) throw corruption(source, `unknown object version ${version}`);
  const count = r.varint('clock entry count');
  if (count > r.remaining / MIN_ENTRY_BYTES) throw corruption(source, `clock entry count ${count} exceeds the bytes left`);
  let prevReplica = -1;
  let prevEpoch = -1;
  // The sibling's counter is checked against its actor's entry, read again then (a clock has
  // a few entries: one per replica that coordinated a write).
  const clockStart = r.pos;
  for (let k = 0; k < count; k++) {
    const replica = r.varintUpTo(MAX_ACTOR_FIELD, 'replica');
    const epoch = r.varintUpTo(MAX_ACTOR_FIELD, 'epoch');
    const counter = r.varint('counter');
    if (counter === 0) throw corruption(source, 'a clock counter of 0');
    if (replica < prevReplica || (replica === prevReplica && epoch <= prevEpoch)) throw corruption(source, 'clock entries out of order or repeated');
    prevReplica = replica;
    prevEpoch = epoch;
  }
  const clockEnd = r.pos;
  const nsib = r.varint('sibling count');
  if (nsib !== 1) {
    if (nsib > r.remaining / MIN_SIBLING_BYTES) throw corruption(source, `sibling count ${nsib} exceeds the bytes left`);
    return null;
  }
  const index = r.varint('sibling actor');
  if (index >= count) throw corruption(source, `sibling actor index ${index} outside the clock (${count} entries)`);
  const counter = r.varint('sibling counter');
  const entryCounter = counterAt(bytes, clockStart, index);
  if (counter === 0 || counter > entryCounter) throw corruption(source, `sibling counter ${counter} not covered by the clock`);
  const flags = r.u8('sibling flags');
  if ((flags & ~KNOWN_FLAGS) !== 0) throw corruption(source, `unknown sibling flags 0x${flags.toString(16)}`);
  r.varint('writtenAt');
  let expiresAt = 0;
  if (flags & SiblingFlag.EXPIRES) {
    expiresAt = r.varint('expiresAt');
    if (expiresAt === 0) throw corruption(source, 'an expiry flag with expiresAt 0');
  }
  let valueAt = -1;
  let valueEnd = -1;
  if (!(flags & SiblingFlag.TOMBSTONE)) {
    const len = r.varint('value length');
    if (len > r.remaining) throw corruption(source, `value length ${len} runs past the end`);
    valueAt = r.pos;
    valueEnd = r.pos + len;
    r.pos = valueEnd;
  }
  if (r.remaining !== 0) throw corruption(source, `${r.remaining} trailing bytes`);
  const context = copier.copy(bytes, 0, clockEnd);
  context[0] = CONTEXT_VERSION;
  const visible = valueAt >= 0 && !(expiresAt !== 0 && expiresAt <= now);
  return { value: visible ? copier.copy(bytes, valueAt, valueEnd) : undefined, context, expiresAt };
}

/** The counter of clock entry `index`, the clock's entries starting at bytes[at] (already checked). */
function counterAt(bytes: Uint8Array, at: number, index: number): number {
  const r = new ByteReader(bytes, () => new Error('unreachable'), at);
  for (let k = 0; k < index; k++) {
    r.varint('');
    r.varint('');
    r.varint('');
  }
  r.varint('');
  r.varint('');
  return r.varint('');
}
