// Runs on: any thread. Little helpers to encode integers into byte arrays, shared by every
// on-disk format. Fixed-width integers are little-endian; varints are LEB128 (7 bits a byte,
// low bits first), as in LevelDB. 64-bit quantities (file offsets, sequence numbers) are JS
// numbers, safe up to 2^53, and stored as 8 bytes (low 32 bits, then high 32 bits).
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export function putFixed32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v; buf[at + 1] = v >>> 8; buf[at + 2] = v >>> 16; buf[at + 3] = v >>> 24;
}

export function getFixed32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

export function putFixed64(buf: Uint8Array, at: number, v: number): void {
  putFixed32(buf, at, v >>> 0);
  putFixed32(buf, at + 4, Math.floor(v / 0x100000000));
}

export function getFixed64(buf: Uint8Array, at: number): number {
  return getFixed32(buf, at) + getFixed32(buf, at + 4) * 0x100000000;
}

/** Bytes a varint of `v` takes (v a non-negative safe integer). */
export function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) { v = Math.floor(v / 128); n++; }
  return n;
}

/** Writes `v` as a varint at `buf[at]`; returns the position after it. */
export function putVarint(buf: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

/**
 * Reads a varint at `buf[at]` into `out.value`; returns the position after it, or -1 if the
 * varint runs past `end` or past 8 bytes (callers turn -1 into a corruption error).
 */
export function getVarint(buf: Uint8Array, at: number, end: number, out: { value: number }): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8 && at < end; i++) {
    const b = buf[at++]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) { out.value = result; return at; }
    scale *= 128;
  }
  return -1;
}

/** CRC32C (Castagnoli) of `data`, continuing from `initial`; hardware-accelerated native code. */
export function crc32c(data: Uint8Array, initial = 0): number {
  return nativeCrc32c(data, initial) >>> 0;
}

/**
 * A stored CRC is masked as in LevelDB, so that the CRC of data that itself contains
 * CRCs (a block holding records) does not degenerate.
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

/** Compares two byte ranges as unsigned bytes: <0, 0, >0. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}
