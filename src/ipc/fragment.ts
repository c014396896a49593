// Runs on: any thread. The fragment record: how a frame larger than one queue record
// (queue-layout.ts: at most capacity/2 - 4 bytes) crosses a queue as several records that the
// consumer joins again (reassembler.ts). The writers are channel.ts (the coordinator streams
// fragments as the shard makes room; a shard writes its big replies blocking) and the reader
// is the Reassembler.
//
// A queue record's payload is either a whole frame or one fragment of a frame. A fragment
// (integers little-endian):
//
//    0         4         8         12        16                        16+n
//   +---------+---------+---------+---------+--------------------------+
//   | marker  | seq     | total   | offset  | frame bytes              |
//   | 'FRAG'  | u32     | u32     | u32     | [offset, offset + n)     |
//   +---------+---------+---------+---------+--------------------------+
//   n = record length - 16, at least 1
//
//   marker  the bytes 'F' 'R' 'A' 'G' (0x47415246 read as u32 LE). A whole frame never starts
//           with them: a protocol frame starts with its length (u32 LE, at most 64 MiB, so
//           its fourth byte is at most 0x04, never 'G'). A reader tells the two apart by
//           byte 3 first (one load per record on the small-frame path).
//   seq     the fragmented frame's number on this queue, from 1, +1 per fragmented frame
//           (mod 2^32): every fragment of one frame carries the same seq.
//   total   bytes of the whole frame, 1 .. the channel's maxFrameBytes (64 MiB: the
//           protocol's MAX_FRAME_BYTES).
//   offset  where these bytes go in the frame: 0 for the first fragment, then exactly the
//           bytes received so far; the frame is complete when offset + n = total.
//
// Fragments of one frame follow each other in order on their queue, but whole frames may sit
// between them (the coordinator lets small requests overtake a big one that waits for
// room); fragments of two frames never interleave (one fragmented frame at a time per queue).
// A frame is handed on only once complete: a producer that dies or closes the queue in the
// middle of a frame leaves a partial frame that the reader drops, never delivers.
//
// A fragment carries at most FRAGMENT_DATA_BYTES (128 KiB) of frame, less on a small queue:
// a 1 MiB queue holds ~7 in flight, so the consumer copies one while the producer writes the
// next, and a small frame waits behind at most one fragment. The 16-byte header keeps the
// frame bytes 8-aligned in the queue (queue payloads are 8-aligned), and n is a multiple of 8
// except in a frame's last fragment, so copies into the joined frame stay word-aligned.
//
// Like the queue layout, fragments live only in memory between two threads of one build: no
// compatibility promise; a fragment that breaks the rules above is ERR_CORRUPTION.
import { ErrorCode, RingkvError } from '../errors.js';
import type { SpscQueue } from './queue.js';

/** 'FRAG' as a u32 read little-endian. */
export const FRAGMENT_MARKER = 0x47415246;
/** Byte 3 of the marker ('G'): what a reader checks first. */
export const FRAGMENT_MARKER_BYTE3 = 0x47;
/** Bytes of a fragment's header. */
export const FRAGMENT_HEADER_BYTES = 16;
/** Frame bytes one fragment carries at most: ~7 fit a 1 MiB queue, so copying out overlaps writing in. */
export const FRAGMENT_DATA_BYTES = 128 * 1024;
/** Largest frame a channel joins unless told otherwise: the protocol's MAX_FRAME_BYTES (ipc imports no protocol). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Frame bytes per fragment on a queue whose records carry at most `maxRecordBytes`: the
 * smaller of FRAGMENT_DATA_BYTES and what a record leaves after the header, rounded down to
 * 8. 0 when the queue is too small to carry fragments at all.
 */
export function fragmentDataBytes(maxRecordBytes: number): number {
  const room = (maxRecordBytes - FRAGMENT_HEADER_BYTES) & ~7;
  return room <= 0 ? 0 : Math.min(FRAGMENT_DATA_BYTES, room);
}

/** True when the record `buf[at, at + length)` is a fragment (not a whole frame). */
export function isFragment(buf: Uint8Array, at: number, length: number): boolean {
  return length >= 4 && buf[at + 3] === FRAGMENT_MARKER_BYTE3 && getU32(buf, at) === FRAGMENT_MARKER;
}

/** Writes a fragment header at buf[at]; the caller writes the frame bytes after it. */
export function putFragmentHeader(buf: Uint8Array, at: number, seq: number, total: number, offset: number): void {
  putU32(buf, at, FRAGMENT_MARKER);
  putU32(buf, at + 4, seq);
  putU32(buf, at + 8, total);
  putU32(buf, at + 12, offset);
}

/** A fragment's header fields, read by readFragmentHeader (one object per reader, reused). */
export interface FragmentHeader {
  seq: number;
  total: number;
  offset: number;
  /** Frame bytes in this fragment. */
  dataBytes: number;
}

/**
 * Reads and checks the header of the fragment `buf[at, at + length)` into `out`.
 * Throws ERR_CORRUPTION if it is not a well-formed fragment of a frame of at most `maxFrameBytes`.
 */
export function readFragmentHeader(buf: Uint8Array, at: number, length: number, maxFrameBytes: number, out: FragmentHeader): void {
  if (length <= FRAGMENT_HEADER_BYTES || getU32(buf, at) !== FRAGMENT_MARKER) {
    throw fragmentCorruption(`a ${length}-byte record is not a fragment`);
  }
  const seq = getU32(buf, at + 4);
  const total = getU32(buf, at + 8);
  const offset = getU32(buf, at + 12);
  const dataBytes = length - FRAGMENT_HEADER_BYTES;
  if (total === 0 || total > maxFrameBytes) throw fragmentCorruption(`fragment of a ${total}-byte frame (limit ${maxFrameBytes})`);
  if (offset + dataBytes > total) throw fragmentCorruption(`fragment [${offset}, ${offset + dataBytes}) overruns its ${total}-byte frame`);
  out.seq = seq;
  out.total = total;
  out.offset = offset;
  out.dataBytes = dataBytes;
}

export function fragmentCorruption(what: string): RingkvError {
  return new RingkvError(ErrorCode.CORRUPTION, `bad fragment on a shard queue: ${what}`);
}

function getU32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

function putU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v;
  buf[at + 1] = v >>> 8;
  buf[at + 2] = v >>> 16;
  buf[at + 3] = v >>> 24;
}

/**
 * Writes the next fragment of the frame `src[start, start + total)`, from frame offset
 * `offset`, into `queue` if a record of it fits now. Returns the frame bytes it carried (0
 * when the queue has no room: nothing written). The caller publishes.
 * REQUIRES: queue is a producer; 0 <= offset < total; dataBytes = fragmentDataBytes(queue.maxRecordBytes) > 0.
 */
export function writeFragment(queue: SpscQueue, src: Uint8Array, start: number, total: number, offset: number, seq: number, dataBytes: number): number {
  const n = Math.min(dataBytes, total - offset);
  const r = queue.reserve(FRAGMENT_HEADER_BYTES + n);
  if (r === undefined) return 0;
  putFragmentHeader(r.buf, r.at, seq, total, offset);
  r.buf.set(src.subarray(start + offset, start + offset + n), r.at + FRAGMENT_HEADER_BYTES);
  queue.commit();
  return n;
}
