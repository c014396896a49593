// Runs on: any thread. Reads a decoded data block (format in block-format.ts) in place.
//
// A `Block` is a reusable cursor, not a container: `reset(contents)` points it at a block's
// contents without copying or allocating, so a TableReader keeps one Block and re-aims it
// at whichever cached block a `get` lands in. Contents must have passed `Block.check` once
// (when read from disk); after that every accessor trusts the lengths and never reads
// outside the block.
import { corruption } from '../../errors.js';
import { getFixed32, getVarint, RecordKind } from '../record/index.js';
import { IKEY_TOKEN_BYTES } from './block-format.js';

/** Scratch for decoding varints on the lookup path (one thread, no re-entry). */
const VARINT = { value: 0 };

const EMPTY = Buffer.alloc(0);
/** Longest ikey a valid block holds: token + a 64 KiB user key. */
const MAX_IKEY_BYTES = IKEY_TOKEN_BYTES + 64 * 1024;
/** Past this many bytes of user key, a native compare beats a JS byte loop. */
const NATIVE_COMPARE_FROM = 32;

/**
 * Compares the ikey `buf[start .. start+len)` with `target` as unsigned bytes: <0, 0, >0.
 * `hi`/`lo` are target's token halves (its first 8 bytes, big-endian): the tokens, which
 * decide almost every comparison, compare as two u32s without touching `target`.
 * REQUIRES: len >= 8, target.length >= 8. Does not allocate.
 */
export function compareIkeyAt(buf: Buffer, start: number, len: number, target: Uint8Array, hi: number, lo: number): number {
  const h = ((buf[start]! << 24) | (buf[start + 1]! << 16) | (buf[start + 2]! << 8) | buf[start + 3]!) >>> 0;
  if (h !== hi) return h < hi ? -1 : 1;
  const l = ((buf[start + 4]! << 24) | (buf[start + 5]! << 16) | (buf[start + 6]! << 8) | buf[start + 7]!) >>> 0;
  if (l !== lo) return l < lo ? -1 : 1;
  const tlen = target.length;
  const n = len < tlen ? len : tlen;
  if (n - IKEY_TOKEN_BYTES > NATIVE_COMPARE_FROM) {
    return buf.compare(target, IKEY_TOKEN_BYTES, tlen, start + IKEY_TOKEN_BYTES, start + len);
  }
  for (let i = IKEY_TOKEN_BYTES; i < n; i++) {
    const d = buf[start + i]! - target[i]!;
    if (d !== 0) return d;
  }
  return len - tlen;
}

/** A token as a double, hi · 2^32 + lo: exact below 2^53, ordered and close enough above for interpolation. */
export function tokenValue(hi: number, lo: number): number {
  return hi * 4294967296 + lo;
}

/** `tokenValue` of the ikey at `buf[p]`. */
export function tokenAt(buf: Uint8Array, p: number): number {
  const h = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
  const l = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
  return h * 4294967296 + l;
}

/**
 * Interpolation steps before a search falls back to bisection. Keys sorted by a hash token
 * are uniform, so interpolation converges in a few steps; skewed data (equal tokens, tests
 * with crafted tokens) cannot make a search worse than this many probes plus bisection.
 */
const INTERPOLATION_STEPS = 3;

/**
 * The probe for a search of [left, right) (left < right) for token t, given that the tokens
 * there lie in [low, high]: interpolated while that is informative, else the midpoint.
 * Always in [left, right), so the caller's bisection loop stays correct whatever it returns.
 */
export function searchProbe(left: number, right: number, t: number, low: number, high: number, step: number): number {
  if (step < INTERPOLATION_STEPS && t > low && t <= high) {
    const mid = left + Math.floor(((t - low) / (high - low)) * (right - left));
    return mid < right ? mid : right - 1;
  }
  return (left + right) >>> 1;
}

export class Block {
  /** The block's contents. */
  buf: Buffer = EMPTY;
  /** Number of entries. */
  count = 0;
  private offsetsAt = 0;

  // The entry decoded by the last `entry(i)`; ikey and value are `buf` ranges.
  kind = 0;
  seq = 0;
  ikeyStart = 0;
  ikeyLength = 0;
  valueStart = 0;
  valueLength = 0;

  /** Aims the cursor at `contents`. REQUIRES: contents passed `Block.check`. */
  reset(contents: Buffer): void {
    this.buf = contents;
    this.count = getFixed32(contents, contents.length - 4);
    this.offsetsAt = contents.length - 4 - 4 * this.count;
  }

  /**
   * Index of the first entry whose ikey is >= target (`count` if none). No allocation.
   * When the caller knows that every entry's token lies in [lowToken, highToken] (tokens as
   * doubles, see `tokenValue`; the index knows this from the neighbouring blocks' last keys),
   * the search interpolates: tokens are uniform hashes, so it lands in ~2 probes instead of
   * the ~5 of bisection in a 4 KiB block, and each probe is a cache miss on a cold block.
   * Without bounds (NaN) it bisects.
   */
  seek(target: Uint8Array, hi: number, lo: number, lowToken = NaN, highToken = NaN): number {
    const buf = this.buf;
    const t = tokenValue(hi, lo);
    let low = lowToken;
    let high = highToken;
    let left = 0;
    let right = this.count;
    let step = 0;
    while (left < right) {
      const mid = searchProbe(left, right, t, low, high, step++);
      // Entry mid's ikey: skip kind and seq, read ikeyLen, skip valueLen.
      let p = getFixed32(buf, this.offsetsAt + 4 * mid) + 1;
      while (buf[p++]! >= 0x80);
      p = getVarint(buf, p, buf.length, VARINT);
      const len = VARINT.value;
      while (buf[p++]! >= 0x80);
      if (compareIkeyAt(buf, p, len, target, hi, lo) < 0) {
        left = mid + 1;
        low = tokenAt(buf, p);
      } else {
        right = mid;
        high = tokenAt(buf, p);
      }
    }
    return left;
  }

  /** Decodes entry i into kind, seq, ikeyStart/Length, valueStart/Length. REQUIRES: 0 <= i < count. */
  entry(i: number): void {
    const buf = this.buf;
    let p = getFixed32(buf, this.offsetsAt + 4 * i);
    this.kind = buf[p++]!;
    const v = VARINT;
    p = getVarint(buf, p, buf.length, v); // the block passed check(): no bounds to fear
    this.seq = v.value;
    p = getVarint(buf, p, buf.length, v);
    this.ikeyLength = v.value;
    p = getVarint(buf, p, buf.length, v);
    this.valueLength = v.value;
    this.ikeyStart = p;
    this.valueStart = p + this.ikeyLength;
  }

  /** After `entry(i)`: whether entry i's ikey equals target. */
  ikeyEquals(target: Uint8Array): boolean {
    const len = this.ikeyLength;
    if (len !== target.length) return false;
    const buf = this.buf;
    const s = this.ikeyStart;
    if (len > IKEY_TOKEN_BYTES + NATIVE_COMPARE_FROM) return buf.compare(target, 0, len, s, s + len) === 0;
    for (let i = 0; i < len; i++) if (buf[s + i] !== target[i]) return false;
    return true;
  }

  /**
   * Validates the structure of block contents read from disk: the count, the offset array,
   * and every entry's kind and lengths, so that no accessor can read outside the block.
   * (Key order is the writer's invariant, and the block checksum guards it on disk.)
   * Throws ERR_CORRUPTION naming `file` and the block's offset.
   */
  static check(contents: Buffer, file: string, fileOffset: number): void {
    const bad = (what: string) => corruption(file, `block at offset ${fileOffset}: ${what}`);
    const size = contents.length;
    if (size < 4) throw bad(`${size} bytes is too short for a data block`);
    const n = getFixed32(contents, size - 4);
    const offsetsAt = size - 4 - 4 * n;
    if (n === 0 || offsetsAt < 0) throw bad(`bad entry count ${n} for ${size} bytes`);
    const v = { value: 0 };
    let expected = 0;
    for (let i = 0; i < n; i++) {
      let p = getFixed32(contents, offsetsAt + 4 * i);
      if (p !== expected) throw bad(`entry ${i} starts at ${p}, expected ${expected}`);
      const kind = contents[p++];
      if (kind !== RecordKind.PUT && kind !== RecordKind.DELETE) throw bad(`entry ${i} has unknown kind ${kind}`);
      p = getVarint(contents, p, offsetsAt, v);
      if (p < 0 || v.value > Number.MAX_SAFE_INTEGER) throw bad(`entry ${i} has a bad sequence number`);
      p = getVarint(contents, p, offsetsAt, v);
      const ikeyLength = v.value;
      if (p < 0 || ikeyLength < IKEY_TOKEN_BYTES || ikeyLength > MAX_IKEY_BYTES) throw bad(`entry ${i} has a bad key length`);
      p = getVarint(contents, p, offsetsAt, v);
      if (p < 0) throw bad(`entry ${i} has a bad value length`);
      expected = p + ikeyLength + v.value;
      if (expected > offsetsAt) throw bad(`entry ${i} runs past the entries (${expected} > ${offsetsAt})`);
    }
    if (expected !== offsetsAt) throw bad(`entries end at ${expected}, offsets start at ${offsetsAt}`);
  }
}
