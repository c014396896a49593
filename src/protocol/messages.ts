// Runs on: any thread. The messages between a coordinator and a replica, as frames.
//
// Frame types (on the wire: numbers never change or get reused; add new ones at the end of
// their group). Requests go coordinator -> replica; every request gets exactly one reply
// carrying the same request id.
//
//   type          body
//   GET        1  hi u32, lo u32, key bytes
//   PUT        2  hi u32, lo u32, key bytes, context bytes, tombstone u8, value bytes,
//                 writtenAt f64, expiresAt f64, maxSiblings u32, options u8
//                 options: bit 0 lww (keep one value), bit 1 overwrite (the context also
//                 covers everything the replica holds: Redis SET semantics), bit 2
//                 increment (value is a signed decimal 64-bit delta: the replica adds it
//                 to the integer it holds, 0 when none, keeps that value's expiry and
//                 overwrites; ERR_CONFLICT if it holds concurrent values, ERR_NOT_INTEGER
//                 if the value is not an integer or the sum overflows)
//                 -> the replica coordinates the version (advances its own clock entry)
//   REPLICATE  3  hi u32, lo u32, key bytes, object bytes
//                 -> the replica merges the object into what it holds and persists it
//   HINT       4  target string, hi u32, lo u32, key bytes, object bytes
//                 -> the replica keeps the object durably for `target` (sloppy quorum)
//   HINTS_FOR  5  target string, max u32
//                 -> HINTS: up to `max` hints the replica keeps for `target`
//   HINT_DONE  6  target string, hi u32, lo u32, key bytes, object bytes
//                 -> the hint was delivered: the replica deletes it if it still holds exactly
//                    `object` (a newer write for the key keeps its hint)
//   SCAN       7  fromHi u32, fromLo u32, toHi u32, toLo u32, toEnd u8, max u32, now f64
//                 -> KEYS: keys with a visible value (at `now`) and a token in [from, to)
//                    (to = 2^64 when toEnd = 1), at least `max` unless the range ends, and
//                    always every key of the last token listed
//   TREE       8  fromHi u32, fromLo u32, toHi u32, toLo u32, toEnd u8, depth u8, maxEntries u32
//                 -> HASHES: the Merkle leaves (src/shard/merkle.ts) of the stored objects with
//                    a token in [from, to), cut into 2^depth equal leaves (depth <= 12). If the
//                    range holds more than maxEntries objects (or than the replica's own cap),
//                    the replica stops there and answers complete = 0 without leaves: the
//                    asker splits the range. Depth 0 gives the range's root alone.
//   RANGE      9  fromHi u32, fromLo u32, toHi u32, toLo u32, toEnd u8, max u32, maxBytes u32
//                 -> OBJECTS: the stored objects (tombstones included) with a token in
//                    [from, to), in (token, key) order: at least one, and stopping at the
//                    first new token once `max` entries or `maxBytes` of keys and objects are
//                    in (so a resumed fetch never splits a token)
//   PURGE     10  fromHi u32, fromLo u32, toHi u32, toLo u32, toEnd u8, before f64, max u32
//                 -> PURGED: tombstone GC (src/shard/tombstone-gc.ts) of the range's
//                    tombstone-only objects written before `before`, looking at `max` at most
//   DROP      11  fromHi u32, fromLo u32, toHi u32, toLo u32, toEnd u8, before f64, max u32
//                 -> PURGED: deletes the stored objects with a token in [from, to) whose newest
//                    sibling was written before `before`, looking at `max` at most: a range
//                    this replica handed away, once its owners were shown to hold what it
//                    held then (src/cluster/transfer/range-cleanup.ts); a newer write stays
//   REPLICATE_MANY
//             12  count u32, count x (hi u32, lo u32, key bytes, object bytes)
//                 (the entry layout of OBJECTS)
//                 -> ACK once every entry is merged as a REPLICATE would merge it, in order
//                    (entries of one key see each other), in one engine write. All or
//                    nothing: if any entry fails (an object that does not decode, a merge
//                    too large), the reply is ERROR naming the first such entry and NOTHING
//                    of the frame is applied (the sender resends or splits it). At most
//                    REPLICATE_MANY_MAX_ENTRIES entries and REPLICATE_MANY_MAX_BYTES of keys
//                    and objects, unless the frame holds a single entry (one object up to
//                    the object limit travels alone); a frame over either is ERR_PROTOCOL.
//   OBJECT    64  object bytes (empty: the replica holds nothing for the key)
//   ACK       65  (empty)
//   ERROR     66  code string, message string
//   HINTS     67  count u32, count x (hi u32, lo u32, key bytes, object bytes)
//   KEYS      68  count u32, count x key bytes, done u8, nextHi u32, nextLo u32
//                 (done = 1: the range is exhausted; else resume the scan at next)
//   HASHES    69  entries u32, complete u8, leaves bytes (2^depth x 32-byte SHA-256; empty
//                 when complete = 0). entries: objects hashed (when complete = 0: how far the
//                 replica got before its cap)
//   OBJECTS   70  count u32, count x (hi u32, lo u32, key bytes, object bytes), done u8,
//                 nextHi u32, nextLo u32 (done = 1: the range is exhausted; else resume at next)
//   PURGED    71  purged u32, done u8, nextHi u32, nextLo u32 (purged: objects deleted; done = 1:
//                 the range is exhausted; else resume at next)
//   OBJECT_PARTIAL
//             72  object bytes: an OBJECT from a replica marked for repair (its WAL recovery
//                 skipped damaged records: NEEDS_REPAIR in docs/formats.md), which may be
//                 missing acknowledged writes; the coordinator counts it as a catching-up
//                 replica's answer (src/coordinator/get.ts)
//
// `bytes` = varint length + bytes; `string` = UTF-8 bytes. Objects and contexts are the
// version module's encodings, opaque here. hi/lo are the key's token halves, computed once
// by the coordinator so replicas never hash again.
import { FRAME_HEADER_BYTES, FrameReader, FrameWriter, protocolError, putBytes, putF64, putHeader, putU32 } from './frame.js';
import { varintSize } from '../encoding/index.js';

export const FrameType = {
  GET: 1,
  PUT: 2,
  REPLICATE: 3,
  HINT: 4,
  HINTS_FOR: 5,
  HINT_DONE: 6,
  SCAN: 7,
  TREE: 8,
  RANGE: 9,
  PURGE: 10,
  DROP: 11,
  REPLICATE_MANY: 12,
  OBJECT: 64,
  ACK: 65,
  ERROR: 66,
  HINTS: 67,
  KEYS: 68,
  HASHES: 69,
  OBJECTS: 70,
  PURGED: 71,
  OBJECT_PARTIAL: 72,
} as const;

/** Bytes of one Merkle hash in a HASHES reply (SHA-256). On the wire: never changes. */
export const HASH_BYTES = 32;
/** Deepest tree a TREE request may ask for: 4096 leaves, a 128 KiB reply. */
export const MAX_TREE_DEPTH = 12;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];
/**
 * Most entries in one REPLICATE_MANY: a RANGE page's worth (RANGE_MAX_ENTRIES in
 * shard/replica.ts), so one page read goes out as one frame.
 */
export const REPLICATE_MANY_MAX_ENTRIES = 4096;
/**
 * Most bytes of keys and objects in one REPLICATE_MANY of two or more entries: a few 128 KiB
 * fragments on a shard ring, far inside the 64 MiB frame limit and the shard's 32 MiB
 * commit, so one frame never holds a shard's ring or a peer link for long.
 */
export const REPLICATE_MANY_MAX_BYTES = 4 * 1024 * 1024;

export interface KeyRef {
  hi: number;
  lo: number;
  key: Uint8Array;
}

export interface GetRequest extends KeyRef {
  type: typeof FrameType.GET;
}

/** How far two nodes' clocks may disagree before a PUT's `writtenAt` is misjudged (NTP keeps
 *  them within milliseconds): a node refuses a PUT later than its timeout plus this, and a
 *  hand-off's DROP keeps writes this recent. */
export const MAX_CLOCK_SKEW_MS = 250;

export interface PutRequest extends KeyRef {
  type: typeof FrameType.PUT;
  context: Uint8Array;
  /** null: a delete (tombstone). */
  value: Uint8Array | null;
  writtenAt: number;
  expiresAt: number;
  maxSiblings: number;
  lww: boolean;
  /** Supersede whatever the coordinating replica holds, whatever the context says. */
  overwrite?: boolean;
  /**
   * Redis INCRBY at the coordinating replica: `value` is the delta (decimal ASCII); the
   * replica reads, adds and versions in one step, so increments of a key need no read
   * round trip and no lock across the write (see the frame table).
   */
  increment?: boolean;
}

export interface ReplicateRequest extends KeyRef {
  type: typeof FrameType.REPLICATE;
  object: Uint8Array;
}

/** Objects to merge, all or nothing (see the table above). */
export interface ReplicateManyRequest {
  type: typeof FrameType.REPLICATE_MANY;
  entries: RangeEntry[];
}

export interface HintRequest extends KeyRef {
  type: typeof FrameType.HINT;
  target: string;
  object: Uint8Array;
}

export interface HintsForRequest {
  type: typeof FrameType.HINTS_FOR;
  target: string;
  max: number;
}

export interface HintDoneRequest extends KeyRef {
  type: typeof FrameType.HINT_DONE;
  target: string;
  object: Uint8Array;
}

/** A token as two u32 halves, or the end of the ring (2^64). */
export interface TokenBound {
  hi: number;
  lo: number;
  end: boolean;
}

export interface ScanRequest {
  type: typeof FrameType.SCAN;
  from: TokenBound;
  to: TokenBound;
  max: number;
  now: number;
}

export interface TreeRequest {
  type: typeof FrameType.TREE;
  from: TokenBound;
  to: TokenBound;
  depth: number;
  maxEntries: number;
}

export interface RangeRequest {
  type: typeof FrameType.RANGE;
  from: TokenBound;
  to: TokenBound;
  max: number;
  maxBytes: number;
}

export interface PurgeRequest {
  type: typeof FrameType.PURGE;
  from: TokenBound;
  to: TokenBound;
  /** Purge tombstone-only objects whose newest sibling was written before this (ms since the epoch). */
  before: number;
  /** Most objects to look at before answering (the replica caps it too). */
  max: number;
}

export interface DropRequest {
  type: typeof FrameType.DROP;
  from: TokenBound;
  to: TokenBound;
  /** Delete only objects whose newest sibling was written before this (ms since the epoch). */
  before: number;
  /** Most objects to look at before answering (the replica caps it too). */
  max: number;
}

export type Request = GetRequest | PutRequest | ReplicateRequest | HintRequest | HintsForRequest | HintDoneRequest | ScanRequest | TreeRequest | RangeRequest | PurgeRequest | DropRequest | ReplicateManyRequest;

/** One stored object of a range (OBJECTS). */
export interface RangeEntry extends KeyRef {
  object: Uint8Array;
}

export interface HintEntry extends KeyRef {
  object: Uint8Array;
}

export type Reply =
  | { type: typeof FrameType.OBJECT; object: Uint8Array }
  /** An OBJECT from a replica marked for repair: it may be missing acknowledged writes. */
  | { type: typeof FrameType.OBJECT_PARTIAL; object: Uint8Array }
  | { type: typeof FrameType.ACK }
  | { type: typeof FrameType.ERROR; code: string; message: string }
  | { type: typeof FrameType.HINTS; hints: HintEntry[] }
  | { type: typeof FrameType.KEYS; keys: Uint8Array[]; done: boolean; next: TokenBound }
  /** leaves: 2^depth hashes of HASH_BYTES each, back to back (empty when !complete). */
  | { type: typeof FrameType.HASHES; entries: number; complete: boolean; leaves: Uint8Array }
  | { type: typeof FrameType.OBJECTS; entries: RangeEntry[]; done: boolean; next: TokenBound }
  | { type: typeof FrameType.PURGED; purged: number; done: boolean; next: TokenBound };

/** Encodes `req` as one frame with `requestId`; the view is valid until `w` is reused. */
export function encodeRequest(w: FrameWriter, requestId: number, req: Request): Uint8Array {
  w.begin(req.type, requestId);
  if (req.type === FrameType.SCAN) {
    w.u32(req.from.hi);
    w.u32(req.from.lo);
    w.u32(req.to.hi);
    w.u32(req.to.lo);
    w.u8(req.to.end ? 1 : 0);
    w.u32(req.max);
    w.f64(req.now);
    return w.end();
  }
  if (req.type === FrameType.PURGE) {
    writeBound(w, req.from);
    writeBound(w, req.to);
    w.f64(req.before);
    w.u32(req.max);
    return w.end();
  }
  if (req.type === FrameType.DROP) {
    writeBound(w, req.from);
    writeBound(w, req.to);
    w.f64(req.before);
    w.u32(req.max);
    return w.end();
  }
  if (req.type === FrameType.TREE || req.type === FrameType.RANGE) {
    writeBound(w, req.from);
    writeBound(w, req.to);
    if (req.type === FrameType.TREE) {
      w.u8(req.depth);
      w.u32(req.maxEntries);
    } else {
      w.u32(req.max);
      w.u32(req.maxBytes);
    }
    return w.end();
  }
  if (req.type === FrameType.HINTS_FOR) {
    w.string(req.target);
    w.u32(req.max);
    return w.end();
  }
  if (req.type === FrameType.REPLICATE_MANY) {
    checkReplicateMany(req.entries.length, entryBytes(req.entries));
    w.u32(req.entries.length);
    for (const e of req.entries) {
      w.u32(e.hi);
      w.u32(e.lo);
      w.bytes(e.key);
      w.bytes(e.object);
    }
    return w.end();
  }
  if (req.type === FrameType.HINT || req.type === FrameType.HINT_DONE) w.string(req.target);
  w.u32(req.hi);
  w.u32(req.lo);
  w.bytes(req.key);
  switch (req.type) {
    case FrameType.GET:
      break;
    case FrameType.PUT:
      w.bytes(req.context);
      w.u8(req.value === null ? 1 : 0);
      w.bytes(req.value ?? EMPTY);
      w.f64(req.writtenAt);
      w.f64(req.expiresAt);
      w.u32(req.maxSiblings);
      w.u8(putOptions(req));
      break;
    case FrameType.REPLICATE:
    case FrameType.HINT:
    case FrameType.HINT_DONE:
      w.bytes(req.object);
      break;
  }
  return w.end();
}

/**
 * Bytes of `req`'s frame when it can be encoded in place (GET, PUT, REPLICATE: the hot
 * requests), else 0 (use encodeRequest).
 */
export function requestFrameSize(req: Request): number {
  switch (req.type) {
    case FrameType.GET:
      return FRAME_HEADER_BYTES + 8 + sized(req.key.length);
    case FrameType.PUT: {
      const value = req.value === null ? 0 : req.value.length;
      return FRAME_HEADER_BYTES + 8 + sized(req.key.length) + sized(req.context.length) + 1 + sized(value) + 8 + 8 + 4 + 1;
    }
    case FrameType.REPLICATE:
      return FRAME_HEADER_BYTES + 8 + sized(req.key.length) + sized(req.object.length);
    default:
      return 0;
  }
}

/**
 * Encodes `req` at buf[at], the same bytes as encodeRequest, into requestFrameSize(req)
 * bytes of room (a ring reservation). REQUIRES: size = requestFrameSize(req) > 0.
 */
export function encodeRequestInto(buf: Uint8Array, at: number, requestId: number, req: Request, size: number): void {
  putHeader(buf, at, size, req.type, requestId);
  if (req.type !== FrameType.GET && req.type !== FrameType.PUT && req.type !== FrameType.REPLICATE) {
    throw protocolError(`type ${req.type} cannot be encoded in place`);
  }
  let p = at + FRAME_HEADER_BYTES;
  putU32(buf, p, req.hi);
  putU32(buf, p + 4, req.lo);
  p = putBytes(buf, p + 8, req.key);
  if (req.type === FrameType.PUT) {
    p = putBytes(buf, p, req.context);
    buf[p++] = req.value === null ? 1 : 0;
    p = putBytes(buf, p, req.value ?? EMPTY);
    putF64(buf, p, req.writtenAt);
    putF64(buf, p + 8, req.expiresAt);
    putU32(buf, p + 16, req.maxSiblings);
    buf[p + 20] = putOptions(req);
  } else if (req.type === FrameType.REPLICATE) {
    putBytes(buf, p, req.object);
  }
}

/** Bytes of `reply`'s frame when it can be encoded in place (OBJECT, OBJECT_PARTIAL, ACK), else 0 (use encodeReply). */
export function replyFrameSize(reply: Reply): number {
  if (reply.type === FrameType.OBJECT || reply.type === FrameType.OBJECT_PARTIAL) return FRAME_HEADER_BYTES + sized(reply.object.length);
  if (reply.type === FrameType.ACK) return FRAME_HEADER_BYTES;
  return 0;
}

/** Encodes `reply` at buf[at], the same bytes as encodeReply. REQUIRES: size = replyFrameSize(reply) > 0. */
export function encodeReplyInto(buf: Uint8Array, at: number, requestId: number, reply: Reply, size: number): void {
  putHeader(buf, at, size, reply.type, requestId);
  if (reply.type === FrameType.OBJECT || reply.type === FrameType.OBJECT_PARTIAL) putBytes(buf, at + FRAME_HEADER_BYTES, reply.object);
}

/** Bytes of a `bytes` field of n bytes. */
function sized(n: number): number {
  return varintSize(n) + n;
}

/** Decodes the request frame `r` is aimed at. Views point into the frame's buffer. */
export function decodeRequest(r: FrameReader): Request {
  const type = r.type;
  if (type === FrameType.SCAN) {
    const from: TokenBound = { hi: r.u32(), lo: r.u32(), end: false };
    const to: TokenBound = { hi: r.u32(), lo: r.u32(), end: r.u8() === 1 };
    const req: ScanRequest = { type, from, to, max: r.u32(), now: r.f64() };
    r.done();
    return req;
  }
  if (type === FrameType.TREE) {
    const from = readBound(r, false);
    const to = readBound(r, true);
    const depth = r.u8();
    if (depth > MAX_TREE_DEPTH) throw protocolError(`TREE depth ${depth} exceeds ${MAX_TREE_DEPTH}`);
    const req: TreeRequest = { type, from, to, depth, maxEntries: r.u32() };
    r.done();
    return req;
  }
  if (type === FrameType.RANGE) {
    const req: RangeRequest = { type, from: readBound(r, false), to: readBound(r, true), max: r.u32(), maxBytes: r.u32() };
    r.done();
    return req;
  }
  if (type === FrameType.PURGE) {
    const req: PurgeRequest = { type, from: readBound(r, false), to: readBound(r, true), before: r.f64(), max: r.u32() };
    if (!Number.isFinite(req.before)) throw protocolError(`PURGE before ${req.before} is not a time`);
    r.done();
    return req;
  }
  if (type === FrameType.DROP) {
    const req: DropRequest = { type, from: readBound(r, false), to: readBound(r, true), before: r.f64(), max: r.u32() };
    if (!Number.isFinite(req.before)) throw protocolError(`DROP before ${req.before} is not a time`);
    r.done();
    return req;
  }
  if (type === FrameType.HINTS_FOR) {
    const req: HintsForRequest = { type, target: r.string(), max: r.u32() };
    r.done();
    return req;
  }
  if (type === FrameType.REPLICATE_MANY) {
    const count = r.u32();
    // Each entry takes at least 10 bytes (two u32s, two empty lengths).
    if (count > REPLICATE_MANY_MAX_ENTRIES || count * 10 > r.remaining) {
      throw protocolError(`REPLICATE_MANY claims ${count} entries in ${r.remaining} bytes (at most ${REPLICATE_MANY_MAX_ENTRIES})`);
    }
    const entries: RangeEntry[] = [];
    for (let i = 0; i < count; i++) entries.push({ hi: r.u32(), lo: r.u32(), key: r.bytes(), object: r.bytes() });
    r.done();
    checkReplicateMany(count, entryBytes(entries));
    return { type, entries };
  }
  let target = '';
  if (type === FrameType.HINT || type === FrameType.HINT_DONE) target = r.string();
  if (type !== FrameType.GET && type !== FrameType.PUT && type !== FrameType.REPLICATE && type !== FrameType.HINT && type !== FrameType.HINT_DONE) {
    throw protocolError(`unknown request type ${type}`);
  }
  const hi = r.u32();
  const lo = r.u32();
  const key = r.bytes();
  let req: Request;
  if (type === FrameType.GET) {
    req = { type, hi, lo, key };
  } else if (type === FrameType.PUT) {
    const context = r.bytes();
    const tombstone = r.u8() === 1;
    const value = r.bytes();
    const writtenAt = r.f64();
    const expiresAt = r.f64();
    const maxSiblings = r.u32();
    // One object literal of a fixed shape (no spread of a helper's object): this runs per PUT.
    const options = r.u8();
    if (options > 7) throw protocolError(`PUT options ${options} has unknown bits`);
    req = {
      type, hi, lo, key, context,
      value: tombstone ? null : value,
      writtenAt,
      expiresAt,
      maxSiblings,
      lww: (options & 1) !== 0,
      overwrite: (options & 2) !== 0,
      increment: (options & 4) !== 0,
    };
  } else if (type === FrameType.REPLICATE) {
    req = { type, hi, lo, key, object: r.bytes() };
  } else if (type === FrameType.HINT) {
    req = { type, target, hi, lo, key, object: r.bytes() };
  } else {
    req = { type, target, hi, lo, key, object: r.bytes() };
  }
  r.done();
  return req;
}

export function encodeReply(w: FrameWriter, requestId: number, reply: Reply): Uint8Array {
  w.begin(reply.type, requestId);
  if (reply.type === FrameType.OBJECT || reply.type === FrameType.OBJECT_PARTIAL) w.bytes(reply.object);
  else if (reply.type === FrameType.ERROR) {
    w.string(reply.code);
    w.string(reply.message);
  } else if (reply.type === FrameType.KEYS) {
    w.u32(reply.keys.length);
    for (const k of reply.keys) w.bytes(k);
    w.u8(reply.done ? 1 : 0);
    w.u32(reply.next.hi);
    w.u32(reply.next.lo);
  } else if (reply.type === FrameType.HASHES) {
    w.u32(reply.entries);
    w.u8(reply.complete ? 1 : 0);
    w.bytes(reply.leaves);
  } else if (reply.type === FrameType.OBJECTS) {
    w.u32(reply.entries.length);
    for (const e of reply.entries) {
      w.u32(e.hi);
      w.u32(e.lo);
      w.bytes(e.key);
      w.bytes(e.object);
    }
    w.u8(reply.done ? 1 : 0);
    w.u32(reply.next.hi);
    w.u32(reply.next.lo);
  } else if (reply.type === FrameType.PURGED) {
    w.u32(reply.purged);
    w.u8(reply.done ? 1 : 0);
    w.u32(reply.next.hi);
    w.u32(reply.next.lo);
  } else if (reply.type === FrameType.HINTS) {
    w.u32(reply.hints.length);
    for (const h of reply.hints) {
      w.u32(h.hi);
      w.u32(h.lo);
      w.bytes(h.key);
      w.bytes(h.object);
    }
  }
  return w.end();
}

/** An OBJECT reply that decodeReply fills in place instead of allocating one (a hot path's scratch). */
export type ObjectReply = Extract<Reply, { type: typeof FrameType.OBJECT }>;

/** The ACK reply: it carries nothing, so every decode of one returns this object. */
const ACK_REPLY: Reply = Object.freeze({ type: FrameType.ACK });

/**
 * Decodes the reply frame `r` is aimed at; views point into the frame's buffer. With
 * `scratch`, an OBJECT reply is written into it and returned (no object per reply): the
 * caller hands it on for the duration of one call only, as it does the views.
 */
export function decodeReply(r: FrameReader, scratch?: ObjectReply): Reply {
  let reply: Reply;
  switch (r.type) {
    case FrameType.OBJECT:
      if (scratch === undefined) reply = { type: FrameType.OBJECT, object: r.bytes() };
      else {
        scratch.object = r.bytes();
        reply = scratch;
      }
      break;
    case FrameType.OBJECT_PARTIAL:
      reply = { type: FrameType.OBJECT_PARTIAL, object: r.bytes() };
      break;
    case FrameType.ACK:
      reply = ACK_REPLY;
      break;
    case FrameType.ERROR:
      reply = { type: FrameType.ERROR, code: r.string(), message: r.string() };
      break;
    case FrameType.HINTS: {
      const count = r.u32();
      if (count > r.remaining) throw protocolError(`HINTS claims ${count} entries in ${r.remaining} bytes`);
      const hints: HintEntry[] = [];
      for (let i = 0; i < count; i++) hints.push({ hi: r.u32(), lo: r.u32(), key: r.bytes(), object: r.bytes() });
      reply = { type: FrameType.HINTS, hints };
      break;
    }
    case FrameType.KEYS: {
      const count = r.u32();
      if (count > r.remaining) throw protocolError(`KEYS claims ${count} keys in ${r.remaining} bytes`);
      const keys: Uint8Array[] = [];
      for (let i = 0; i < count; i++) keys.push(r.bytes());
      const done = r.u8() === 1;
      reply = { type: FrameType.KEYS, keys, done, next: { hi: r.u32(), lo: r.u32(), end: done } };
      break;
    }
    case FrameType.HASHES: {
      const entries = r.u32();
      const flag = r.u8();
      if (flag > 1) throw protocolError(`HASHES complete flag ${flag}`);
      const complete = flag === 1;
      const leaves = r.bytes();
      const count = leaves.length / HASH_BYTES;
      // A tree has 2^depth leaves (depth <= MAX_TREE_DEPTH), and none when incomplete.
      if (complete ? !(Number.isInteger(count) && count >= 1 && count <= 1 << MAX_TREE_DEPTH && (count & (count - 1)) === 0) : count !== 0) {
        throw protocolError(`HASHES carries ${leaves.length} bytes of leaves (complete = ${complete})`);
      }
      reply = { type: FrameType.HASHES, entries, complete, leaves };
      break;
    }
    case FrameType.OBJECTS: {
      const count = r.u32();
      if (count > r.remaining) throw protocolError(`OBJECTS claims ${count} entries in ${r.remaining} bytes`);
      const entries: RangeEntry[] = [];
      for (let i = 0; i < count; i++) entries.push({ hi: r.u32(), lo: r.u32(), key: r.bytes(), object: r.bytes() });
      const flag = r.u8();
      if (flag > 1) throw protocolError(`OBJECTS done flag ${flag}`);
      const done = flag === 1;
      reply = { type: FrameType.OBJECTS, entries, done, next: { hi: r.u32(), lo: r.u32(), end: done } };
      break;
    }
    case FrameType.PURGED: {
      const purged = r.u32();
      const flag = r.u8();
      if (flag > 1) throw protocolError(`PURGED done flag ${flag}`);
      const done = flag === 1;
      reply = { type: FrameType.PURGED, purged, done, next: { hi: r.u32(), lo: r.u32(), end: done } };
      break;
    }
    default:
      throw protocolError(`unknown reply type ${r.type}`);
  }
  r.done();
  return reply;
}

const EMPTY = new Uint8Array(0);

/** Bytes of keys and objects in `entries` (what REPLICATE_MANY_MAX_BYTES bounds). */
function entryBytes(entries: readonly RangeEntry[]): number {
  let n = 0;
  for (const e of entries) n += e.key.length + e.object.length;
  return n;
}

/** ERR_PROTOCOL unless a REPLICATE_MANY of `count` entries and `bytes` is within its bounds. */
function checkReplicateMany(count: number, bytes: number): void {
  if (count > REPLICATE_MANY_MAX_ENTRIES) throw protocolError(`REPLICATE_MANY of ${count} entries (at most ${REPLICATE_MANY_MAX_ENTRIES})`);
  if (count > 1 && bytes > REPLICATE_MANY_MAX_BYTES) throw protocolError(`REPLICATE_MANY of ${count} entries carries ${bytes} bytes (at most ${REPLICATE_MANY_MAX_BYTES} unless alone)`);
}

function writeBound(w: FrameWriter, b: TokenBound): void {
  w.u32(b.end ? 0 : b.hi);
  w.u32(b.end ? 0 : b.lo);
  w.u8(b.end ? 1 : 0);
}

/** A token bound; only an upper bound (`to`) may be the end of the ring. */
function readBound(r: FrameReader, mayEnd: boolean): TokenBound {
  const hi = r.u32();
  const lo = r.u32();
  const end = r.u8();
  if (end > 1 || (end === 1 && !mayEnd)) throw protocolError(`bad token bound flag ${end}`);
  return end === 1 ? { hi: 0, lo: 0, end: true } : { hi, lo, end: false };
}

function putOptions(req: PutRequest): number {
  return (req.lww ? 1 : 0) | (req.overwrite ? 2 : 0) | (req.increment ? 4 : 0);
}

