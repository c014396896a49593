// Runs on: any thread. The frame: the one message format between a coordinator and a
// replica, whether the replica is a shard behind a SharedArrayBuffer ring or (later) a node
// behind a TCP link. The same bytes travel on both.
//
// A frame (all integers little-endian; on the wire: never change, only add types/fields at
// the end of a body, guarded by the protocol version the peers agreed on):
//
//    0        4      5       6          8            12
//   +--------+------+-------+----------+------------+----------------------------+
//   | length | type | flags | reserved | request id | body (length - 8 bytes)    |
//   | u32    | u8   | u8    | u16 = 0  | u32        |                            |
//   +--------+------+-------+----------+------------+----------------------------+
//   length = bytes after the length field (8 + body). A reader checks it against what it
//   holds and against MAX_FRAME_BYTES before reading anything else.
//
// Bodies are sequences of fields written by FrameWriter and read back in the same order by
// FrameReader: u8, u32, f64 (ms timestamps), varint-length-prefixed bytes and strings. Every
// read is bounds-checked; a frame that lies about a length raises ERR_PROTOCOL, never reads
// outside the frame and never allocates more than the frame implies.
import { MAX_VARINT_BYTES, getVarint, putVarint } from '../encoding/index.js';
import { ErrorCode, RingkvError } from '../errors.js';

/** Protocol versions this build speaks; a TCP handshake agrees on one (append-only). */
export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 12;
/** Largest frame: a 16 MiB value plus its key, clocks and siblings headroom. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export function protocolError(what: string): RingkvError {
  return new RingkvError(ErrorCode.PROTOCOL, `bad frame: ${what}`);
}

/** Encodes frames into one reused buffer (grown, never re-created per frame). */
export class FrameWriter {
  buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  at = 0;
  private start = 0;

  /** Starts a frame; finish it with `end()`. */
  begin(type: number, requestId: number, flags = 0): void {
    this.at = 0;
    this.start = 0;
    this.ensure(FRAME_HEADER_BYTES);
    this.buf[4] = type;
    this.buf[5] = flags;
    this.buf[6] = 0;
    this.buf[7] = 0;
    this.view.setUint32(8, requestId, true);
    this.at = FRAME_HEADER_BYTES;
  }

  /** Ends the frame started by `begin`; returns a view of it, valid until the next `begin`. */
  end(): Uint8Array {
    const length = this.at - this.start - 4;
    if (length + 4 > MAX_FRAME_BYTES) throw new RingkvError(ErrorCode.TOO_LARGE, `frame of ${length + 4} bytes exceeds ${MAX_FRAME_BYTES}`);
    this.view.setUint32(this.start, length, true);
    return this.buf.subarray(this.start, this.at);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.at++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }

  varint(v: number): void {
    this.ensure(MAX_VARINT_BYTES);
    this.at = putVarint(this.buf, this.at, v);
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  string(s: string): void {
    // Strings in frames are short (member ids, error messages): encode then copy.
    this.bytes(encoder.encode(s));
  }

  private ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY_BYTES = new Uint8Array(0);
/** Scratch for FrameReader.varint (readers never nest a varint read in another). */
const VARINT = { value: 0 };

// ---- in-place encoding -------------------------------------------------------------------
// For a frame written straight into a queue reservation: compute its size first (frameSize
// helpers in messages.ts), reserve, then write with these. Same bytes as FrameWriter.

/** Writes the 12-byte header of a frame of `frameBytes` bytes (header included) at buf[at]. */
export function putHeader(buf: Uint8Array, at: number, frameBytes: number, type: number, requestId: number): void {
  putU32(buf, at, frameBytes - 4);
  buf[at + 4] = type;
  buf[at + 5] = 0;
  buf[at + 6] = 0;
  buf[at + 7] = 0;
  putU32(buf, at + 8, requestId);
}

export function putU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v;
  buf[at + 1] = v >>> 8;
  buf[at + 2] = v >>> 16;
  buf[at + 3] = v >>> 24;
}

/** Writes varint length + bytes at buf[at]; returns the position after them. */
export function putBytes(buf: Uint8Array, at: number, b: Uint8Array): number {
  const n = b.length;
  at = putVarint(buf, at, n);
  if (n <= 32) for (let i = 0; i < n; i++) buf[at + i] = b[i]!;
  else buf.set(b, at);
  return at + n;
}

const f64Scratch = new DataView(new ArrayBuffer(8));

export function putF64(buf: Uint8Array, at: number, v: number): void {
  f64Scratch.setFloat64(0, v, true);
  for (let i = 0; i < 8; i++) buf[at + i] = f64Scratch.getUint8(i);
}

/** Reads one frame's header and fields, bounds-checked. Reusable: call `reset` per frame. */
export class FrameReader {
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.buf.buffer);
  private at = 0;
  private end = 0;
  type = 0;
  flags = 0;
  requestId = 0;

  /** Aims the reader at the frame starting at `buf[at]` (its length field included). */
  reset(buf: Uint8Array, at = 0, available = buf.length - at): void {
    if (available < FRAME_HEADER_BYTES) throw protocolError(`${available} bytes is shorter than a frame header`);
    if (buf !== this.buf) {
      // A ring hands every record as a view of the same buffer: one DataView serves them all.
      this.buf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const length = this.view.getUint32(at, true);
    if (length < FRAME_HEADER_BYTES - 4 || length + 4 > available || length + 4 > MAX_FRAME_BYTES) {
      throw protocolError(`length ${length} does not fit the ${available} bytes at hand`);
    }
    this.type = buf[at + 4]!;
    this.flags = buf[at + 5]!;
    this.requestId = this.view.getUint32(at + 8, true);
    this.at = at + FRAME_HEADER_BYTES;
    this.end = at + 4 + length;
  }

  get remaining(): number {
    return this.end - this.at;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }

  varint(): number {
    const at = getVarint(this.buf, this.at, this.end, VARINT);
    if (at < 0) {
      if (this.end - this.at >= MAX_VARINT_BYTES) throw protocolError(`varint longer than ${MAX_VARINT_BYTES} bytes`);
      this.need(this.end - this.at + 1); // throws: the frame ends inside the varint
    }
    this.at = at;
    return VARINT.value;
  }

  /** A view into the frame: valid while the frame's buffer is (copy to keep it). */
  bytes(): Uint8Array {
    const n = this.varint();
    if (n === 0) return EMPTY_BYTES; // an empty field (a PUT's context, mostly) costs no view
    this.need(n);
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }

  string(): string {
    return decoder.decode(this.bytes());
  }

  /** REQUIRES: the body was read completely; trailing bytes mean a malformed frame. */
  done(): void {
    if (this.at !== this.end) throw protocolError(`${this.end - this.at} unread bytes at the end of a type ${this.type} frame`);
  }

  private need(n: number): void {
    if (this.at + n > this.end) throw protocolError(`a type ${this.type} frame ends ${this.at + n - this.end} bytes too early`);
  }
}
