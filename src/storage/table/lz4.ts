// Runs on: any thread. Our own LZ4 block compressor, and a decompressor that writes into a
// caller's buffer (a block cache slot) so that a cache miss allocates nothing; lz4-napi's
// native `uncompressSync` (which returns a new Buffer each call) still decodes where a fresh
// buffer is wanted anyway.
//
// Why our own: lz4-napi 2.10.0's `compressSync` leaks ~390 bytes of native memory per call
// (measured here: RSS +75 MiB per 200k calls of a 4 KiB block, with or without GC; its
// `uncompressSync` does not leak). A flush or merge compresses every block it writes, so
// the leak grew a shard's RSS without bound.
//
// Output = [uncompressed length u32 LE][LZ4 block] — the framing lz4-napi reads. The LZ4
// block format: a sequence of (token, literals, match) where token = literal length (high
// nibble) | match length - 4 (low nibble), each nibble 15 continued by 255-bytes in extra
// length bytes; a match is a 2-byte little-endian offset back into the output. The end rules
// of the format hold: the last 5 bytes are literals, and no match starts in the last 12.
// Greedy matching with a 4096-entry hash table of 4-byte sequences and LZ4's fast-mode skip
// over incompressible stretches (~0.5 GB/s on a 4 KiB block here; lz4-napi: ~2 GB/s).

const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
const HASH_BITS = 12;
const MAX_OFFSET = 65535;

const table = new Int32Array(1 << HASH_BITS);

function read32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

function hash(v: number): number {
  return Math.imul(v, 2654435761) >>> (32 - HASH_BITS);
}

/** Bound on the compressed size of `n` bytes, framing included. */
export function lz4Bound(n: number): number {
  return 4 + n + Math.floor(n / 255) + 16;
}

/** Compresses `src` into a new Buffer: [length u32 LE][LZ4 block]. */
export function lz4Compress(src: Uint8Array): Buffer {
  const n = src.length;
  const out = Buffer.allocUnsafe(lz4Bound(n));
  out.writeUInt32LE(n, 0);
  let op = 4;
  let anchor = 0;
  table.fill(-1);
  const limit = n - MF_LIMIT;
  let i = 0;
  let misses = 0; // as LZ4's fast mode: after every 64 misses in a row, step one byte further
  while (i < limit) {
    const v = read32(src, i);
    const h = hash(v);
    const ref = table[h]!;
    table[h] = i;
    if (ref < 0 || i - ref > MAX_OFFSET || read32(src, ref) !== v) {
      i += 1 + (misses++ >> 6);
      continue;
    }
    misses = 0;
    // Extend the match forward, stopping LAST_LITERALS before the end.
    let len = MIN_MATCH;
    const maxLen = n - LAST_LITERALS - i;
    while (len < maxLen && src[i + len] === src[ref + len]) len++;
    op = writeSequence(out, op, src, anchor, i - anchor, i - ref, len);
    i += len;
    anchor = i;
  }
  // The last literals.
  const lit = n - anchor;
  op = writeLiteralLength(out, op, lit);
  out.set(src.subarray(anchor, n), op);
  op += lit;
  return out.subarray(0, op);
}

function writeSequence(out: Buffer, op: number, src: Uint8Array, from: number, lit: number, offset: number, len: number): number {
  const tokenAt = op;
  op = writeLiteralLength(out, op, lit);
  out.set(src.subarray(from, from + lit), op);
  op += lit;
  out[op++] = offset & 0xff;
  out[op++] = offset >>> 8;
  let m = len - MIN_MATCH;
  if (m >= 15) {
    out[tokenAt] = out[tokenAt]! | 15;
    m -= 15;
    while (m >= 255) { out[op++] = 255; m -= 255; }
    out[op++] = m;
  } else {
    out[tokenAt] = out[tokenAt]! | m;
  }
  return op;
}

/** Writes the token (literal nibble only) and the literal length's extra bytes. */
function writeLiteralLength(out: Buffer, op: number, lit: number): number {
  if (lit >= 15) {
    out[op++] = 15 << 4;
    let rest = lit - 15;
    while (rest >= 255) { out[op++] = 255; rest -= 255; }
    out[op++] = rest;
  } else {
    out[op++] = lit << 4;
  }
  return op;
}

/** The length `readLengthTail` decoded (one thread, no re-entry: no object per call). */
let tailLength = 0;

/**
 * Adds the extra length bytes at `src[ip...]` (each 0..255, continued while 255) to `length`
 * into `tailLength`; returns the offset after them, or -1 when they run past `to`.
 */
function readLengthTail(src: Uint8Array, ip: number, to: number, length: number): number {
  let b: number;
  do {
    if (ip >= to) return -1;
    b = src[ip++]!;
    length += b;
  } while (b === 255);
  tailLength = length;
  return ip;
}

/**
 * Decodes the LZ4 block `src[from, to)` (no framing: the caller read the length word) into
 * `dst[at, at + length)`. Returns true when it decodes to exactly `length` bytes within both
 * ranges, false for any damage (a bad offset, a run past either end, a short result): never
 * reads or writes outside the ranges.
 */
export function lz4DecompressInto(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number, length: number): boolean {
  let ip = from;
  let op = at;
  const end = at + length;
  while (ip < to) {
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      ip = readLengthTail(src, ip, to, lit);
      if (ip < 0) return false;
      lit = tailLength;
    }
    if (lit > to - ip || lit > end - op) return false;
    if (lit > 16) {
      dst.set(src.subarray(ip, ip + lit), op);
    } else {
      for (let i = 0; i < lit; i++) dst[op + i] = src[ip + i]!;
    }
    ip += lit;
    op += lit;
    if (ip === to) break; // the last sequence has literals only
    if (to - ip < 2) return false;
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op - at) return false;
    let len = (token & 15) + MIN_MATCH;
    if ((token & 15) === 15) {
      ip = readLengthTail(src, ip, to, len);
      if (ip < 0) return false;
      len = tailLength;
    }
    if (len > end - op) return false;
    // Byte by byte: a match may overlap its own output (offset < len repeats a pattern).
    let m = op - offset;
    const stop = op + len;
    while (op < stop) dst[op++] = dst[m++]!;
  }
  return op === end;
}
