// Runs on: any thread. LEB128 varints, the one codec of every format that has them (storage
// records and tables, frames, version clocks and contexts): 7 bits a byte, low bits first,
// high bit set on every byte but the last. Values are safe integers in [0, 2^53-1], so at
// most 8 bytes. Two readers:
// - lenient, `getVarint` (LevelDB's GetVarint: any form of at most 8 bytes), for formats
//   whose bytes a checksum already vouches for (storage) or that a peer of ours wrote (frames);
// - strict, `ByteReader.varint`, for the version formats (context.ts, codec.ts), so that every
//   value has exactly one encoding: more than 8 bytes, a value above 2^53-1, or a non-minimal
//   form (a last byte of 0 after the first) is rejected.
// Readers never read past `end`.

/** Most bytes of one varint: 8 x 7 = 56 bits >= 53. */
export const MAX_VARINT_BYTES = 8;

/** Bytes `v` takes as a varint. REQUIRES: v a safe integer >= 0. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x20_0000) return 3;
  if (v < 0x1000_0000) return 4;
  let n = 4;
  v = Math.floor(v / 0x1000_0000);
  while (v > 0) { v = Math.floor(v / 128); n++; }
  return n;
}

/** Writes `v` at buf[at]; returns the position after it. REQUIRES: room for varintSize(v). */
export function putVarint(buf: Uint8Array, at: number, v: number): number {
  if (v < 0x80) { buf[at] = v; return at + 1; }
  if (v <= 0xffff_ffff) {
    while (v >= 0x80) { buf[at++] = (v & 0x7f) | 0x80; v >>>= 7; }
  } else {
    while (v >= 0x80) { buf[at++] = (v % 128) | 0x80; v = Math.floor(v / 128); }
  }
  buf[at++] = v;
  return at;
}

/**
 * Reads a varint at `buf[at]` into `out.value`; returns the position after it, or -1 if the
 * varint runs past `end` or past MAX_VARINT_BYTES bytes (callers turn -1 into their error).
 */
export function getVarint(buf: Uint8Array, at: number, end: number, out: { value: number }): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES && at < end; i++) {
    const b = buf[at++]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) { out.value = result; return at; }
    scale *= 128;
  }
  return -1;
}

/**
 * A bounds-checked cursor over `bytes[pos..end)`. Every failure goes through `fail(what)`,
 * which returns the error to throw (corruption for stored objects, invalid argument for
 * caller-supplied contexts).
 */
export class ByteReader {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly fail: (what: string) => Error,
    pos = 0,
    readonly end = bytes.length,
  ) {
    this.pos = pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(what: string): number {
    if (this.pos >= this.end) throw this.fail(`${what} runs past the end`);
    return this.bytes[this.pos++]!;
  }

  varint(what: string): number {
    const bytes = this.bytes;
    let pos = this.pos;
    if (pos >= this.end) throw this.fail(`${what} runs past the end`);
    let b = bytes[pos++]!;
    if (b < 0x80) { this.pos = pos; return b; }
    let result = b & 0x7f;
    let mul = 128;
    for (let i = 1; i < MAX_VARINT_BYTES; i++) {
      if (pos >= this.end) throw this.fail(`${what} runs past the end`);
      b = bytes[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0) throw this.fail(`${what} is not minimally encoded`);
        if (result > Number.MAX_SAFE_INTEGER) throw this.fail(`${what} exceeds 2^53-1`);
        this.pos = pos;
        return result;
      }
      mul *= 128;
    }
    throw this.fail(`${what} is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** A varint that must be at most `max`. */
  varintUpTo(max: number, what: string): number {
    const v = this.varint(what);
    if (v > max) throw this.fail(`${what} ${v} exceeds ${max}`);
    return v;
  }
}
