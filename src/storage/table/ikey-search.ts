// Runs on: any thread. The one key search of the tables: the first entry whose ikey is >=
// a target, in a data block (block.ts) or in a table's index (sstable-format.ts), both
// sorted by ikey. Interpolates on the token (tokens are uniform hashes) before it bisects;
// compares tokens as two u32s before it touches the rest of the key. Does not allocate, and
// calls no closure: each sorted list finds its own i-th ikey through one method (IkeyProbe).
import { IKEY_TOKEN_BYTES } from './block-format.js';

/** Past this many bytes of user key, a native compare beats a JS byte loop. */
export const NATIVE_COMPARE_FROM = 32;

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

/** A list of ikeys sorted ascending, in one buffer, each reachable by its index. */
export interface IkeyProbe {
  /** The buffer the ikeys lie in. */
  readonly buf: Buffer;
  /** Where entry i's ikey starts in `buf`; sets `probeLength` to its length. REQUIRES: 0 <= i < count. */
  probeIkey(i: number): number;
  /** The length of the ikey the last `probeIkey` found. */
  readonly probeLength: number;
}

/**
 * Index of the first of `count` entries of `list` whose ikey is >= target (`count` if none).
 * `hi`/`lo` are target's token halves. When every entry's token is known to lie in
 * [lowToken, highToken] (`tokenValue` doubles) the search interpolates; NaN bounds bisect.
 */
export function searchIkeys(list: IkeyProbe, count: number, target: Uint8Array, hi: number, lo: number, lowToken: number, highToken: number): number {
  const buf = list.buf;
  const t = tokenValue(hi, lo);
  let low = lowToken;
  let high = highToken;
  let left = 0;
  let right = count;
  let step = 0;
  while (left < right) {
    const mid = searchProbe(left, right, t, low, high, step++);
    const p = list.probeIkey(mid);
    if (compareIkeyAt(buf, p, list.probeLength, target, hi, lo) < 0) {
      left = mid + 1;
      low = tokenAt(buf, p);
    } else {
      right = mid;
      high = tokenAt(buf, p);
    }
  }
  return left;
}
