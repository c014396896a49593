// Runs on: any thread. The opaque causal context handed to callers with every get and
// taken back with put/delete: an encoded version vector. Callers must treat it as opaque
// bytes (or a base64url string in text protocols); only this file reads it.
//
//   context (all varints LEB128, see varint.ts):
//
//   +---------+-------------+----------------------------------------------+
//   | version | count       | entry x count                                |
//   |   u8    | varint      | replica varint | epoch varint | counter varint |
//   +---------+-------------+----------------------------------------------+
//
//   version  CONTEXT_VERSION (1). A decoder rejects versions it does not know.
//   count    number of entries.
//   entry    replica and epoch are u32; counter is in [1, 2^53-1]; entries strictly
//            ascending by (replica, epoch) - the canonical clock, so one clock has exactly
//            one encoding.
//
// Zero bytes (an empty context) decode to the empty clock: a blind write that supersedes
// nothing. Anything else that does not parse exactly to the end is rejected with
// ERR_INVALID_ARGUMENT (the bytes come from callers, so garbage is their error, not
// corruption). A context is not authenticated: forging one only lets a caller supersede
// values, which a caller that reads first can do anyway.
//
// ON THE WIRE AND IN CALLERS' HANDS: the layout and the version number never change; a new
// layout gets a new version and decoders keep reading the old one.
import { ErrorCode, RingkvError } from '../errors.js';
import { MAX_ACTOR_FIELD, compareActors } from './actor.js';
import { EMPTY_CLOCK, type Dot, type VersionVector } from './clock.js';
import { ByteReader, putVarint, varintSize } from '../encoding/index.js';

/** The context layout version. On the wire: never changes. */
export const CONTEXT_VERSION = 1;

/** Smallest encoded entry: three one-byte varints. Bounds the count a decoder believes. */
const MIN_ENTRY_BYTES = 3;

function badContext(what: string): RingkvError {
  return new RingkvError(
    ErrorCode.INVALID_ARGUMENT,
    `invalid context: ${what} (pass back the context exactly as a get returned it, or none)`,
  );
}

/** Bytes encodeContext(vv) takes. */
export function contextSize(vv: VersionVector): number {
  let n = 1 + varintSize(vv.length);
  for (const e of vv) n += varintSize(e.replica) + varintSize(e.epoch) + varintSize(e.counter);
  return n;
}

/** Encodes `vv` (canonical) at buf[at]; returns the position after it. */
export function encodeContextInto(vv: VersionVector, buf: Uint8Array, at: number): number {
  buf[at++] = CONTEXT_VERSION;
  at = putVarint(buf, at, vv.length);
  for (const e of vv) {
    at = putVarint(buf, at, e.replica);
    at = putVarint(buf, at, e.epoch);
    at = putVarint(buf, at, e.counter);
  }
  return at;
}

/** The opaque bytes of a context. REQUIRES: `vv` canonical (an object's clock always is). */
export function encodeContext(vv: VersionVector): Uint8Array {
  const buf = new Uint8Array(contextSize(vv));
  encodeContextInto(vv, buf, 0);
  return buf;
}

/** The clock in an opaque context; throws ERR_INVALID_ARGUMENT for anything malformed. */
export function decodeContext(bytes: Uint8Array): VersionVector {
  if (!(bytes instanceof Uint8Array)) throw badContext('not bytes');
  if (bytes.length === 0) return EMPTY_CLOCK;
  const r = new ByteReader(bytes, badContext);
  const version = r.u8('version');
  if (version !== CONTEXT_VERSION) throw badContext(`unknown version ${version}`);
  const count = r.varint('entry count');
  if (count > r.remaining / MIN_ENTRY_BYTES) throw badContext(`entry count ${count} exceeds what ${bytes.length} bytes can hold`);
  const out: Dot[] = [];
  for (let i = 0; i < count; i++) {
    const replica = r.varintUpTo(MAX_ACTOR_FIELD, 'replica');
    const epoch = r.varintUpTo(MAX_ACTOR_FIELD, 'epoch');
    const counter = r.varint('counter');
    if (counter === 0) throw badContext('a counter of 0');
    const e: Dot = { replica, epoch, counter };
    if (i > 0 && compareActors(out[i - 1]!, e) >= 0) throw badContext('entries out of order or repeated');
    out.push(e);
  }
  if (r.remaining !== 0) throw badContext(`${r.remaining} trailing bytes`);
  return out;
}

/** The context as base64url text (RESP, HTTP headers, JSON). */
export function contextToString(vv: VersionVector): string {
  return Buffer.from(encodeContext(vv)).toString('base64url');
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The clock in a base64url context; '' = no context. Throws ERR_INVALID_ARGUMENT for garbage. */
export function contextFromString(text: string): VersionVector {
  if (typeof text !== 'string' || !BASE64URL.test(text) || text.length % 4 === 1) {
    throw badContext('not base64url text');
  }
  const b = Buffer.from(text, 'base64url');
  return decodeContext(new Uint8Array(b.buffer, b.byteOffset, b.length));
}
