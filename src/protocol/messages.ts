// Runs on: any thread. The messages between a coordinator and a replica, as frames.
//
// Frame types (on the wire: numbers never change or get reused; add new ones at the end of
// their group). Requests go coordinator -> replica; every request gets exactly one reply
// carrying the same request id.
//
//   type          body
//   GET        1  hi u32, lo u32, key bytes
//   PUT        2  hi u32, lo u32, key bytes, context bytes, tombstone u8, value bytes,
//                 writtenAt f64, expiresAt f64, maxSiblings u32, lww u8
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
//   OBJECT    64  object bytes (empty: the replica holds nothing for the key)
//   ACK       65  (empty)
//   ERROR     66  code string, message string
//   HINTS     67  count u32, count x (hi u32, lo u32, key bytes, object bytes)
//
// `bytes` = varint length + bytes; `string` = UTF-8 bytes. Objects and contexts are the
// version module's encodings, opaque here. hi/lo are the key's token halves, computed once
// by the coordinator so replicas never hash again.
import { FrameReader, FrameWriter, protocolError } from './frame.js';

export const FrameType = {
  GET: 1,
  PUT: 2,
  REPLICATE: 3,
  HINT: 4,
  HINTS_FOR: 5,
  HINT_DONE: 6,
  OBJECT: 64,
  ACK: 65,
  ERROR: 66,
  HINTS: 67,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface KeyRef {
  hi: number;
  lo: number;
  key: Uint8Array;
}

export interface GetRequest extends KeyRef {
  type: typeof FrameType.GET;
}

export interface PutRequest extends KeyRef {
  type: typeof FrameType.PUT;
  context: Uint8Array;
  /** null: a delete (tombstone). */
  value: Uint8Array | null;
  writtenAt: number;
  expiresAt: number;
  maxSiblings: number;
  lww: boolean;
}

export interface ReplicateRequest extends KeyRef {
  type: typeof FrameType.REPLICATE;
  object: Uint8Array;
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

export type Request = GetRequest | PutRequest | ReplicateRequest | HintRequest | HintsForRequest | HintDoneRequest;

export interface HintEntry extends KeyRef {
  object: Uint8Array;
}

export type Reply =
  | { type: typeof FrameType.OBJECT; object: Uint8Array }
  | { type: typeof FrameType.ACK }
  | { type: typeof FrameType.ERROR; code: string; message: string }
  | { type: typeof FrameType.HINTS; hints: HintEntry[] };

/** Encodes `req` as one frame with `requestId`; the view is valid until `w` is reused. */
export function encodeRequest(w: FrameWriter, requestId: number, req: Request): Uint8Array {
  w.begin(req.type, requestId);
  if (req.type === FrameType.HINTS_FOR) {
    w.string(req.target);
    w.u32(req.max);
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
      w.u8(req.lww ? 1 : 0);
      break;
    case FrameType.REPLICATE:
    case FrameType.HINT:
    case FrameType.HINT_DONE:
      w.bytes(req.object);
      break;
  }
  return w.end();
}

/** Decodes the request frame `r` is aimed at. Views point into the frame's buffer. */
export function decodeRequest(r: FrameReader): Request {
  const type = r.type;
  if (type === FrameType.HINTS_FOR) {
    const req: HintsForRequest = { type, target: r.string(), max: r.u32() };
    r.done();
    return req;
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
    req = {
      type, hi, lo, key, context,
      value: tombstone ? null : value,
      writtenAt: r.f64(),
      expiresAt: r.f64(),
      maxSiblings: r.u32(),
      lww: r.u8() === 1,
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
  if (reply.type === FrameType.OBJECT) w.bytes(reply.object);
  else if (reply.type === FrameType.ERROR) {
    w.string(reply.code);
    w.string(reply.message);
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

export function decodeReply(r: FrameReader): Reply {
  let reply: Reply;
  switch (r.type) {
    case FrameType.OBJECT:
      reply = { type: FrameType.OBJECT, object: r.bytes() };
      break;
    case FrameType.ACK:
      reply = { type: FrameType.ACK };
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
    default:
      throw protocolError(`unknown reply type ${r.type}`);
  }
  r.done();
  return reply;
}

const EMPTY = new Uint8Array(0);
