// Runs on: any thread. The Bloom filter of an SSTable: one per table, keyed by the 64-bit
// token of each key, so a `get` for a key the table lacks usually costs no block read.
// Two layouts, chosen by the table's format version (sstable-format.ts): tables of version 1
// hold a standard filter, tables of version 2 (written today) a blocked one.
//
// Filter block contents (stored with a block trailer, never compressed: the bits are random):
//
//   +-------------------------------------------+--------+
//   | bit array: m/8 bytes (bit j = byte j>>3,  | k (u8) |
//   | mask 1 << (j & 7))                        |        |
//   +-------------------------------------------+--------+
//
// Version 1, standard: the token is already a good 64-bit hash, so the k probe positions are
// derived from its halves with no further hashing, by enhanced double hashing
// (Kirsch–Mitzenmacher, with a Dillinger–Manolios growing step so that a step of 0 mod m
// cannot pin every probe to one bit):
//   h_0 = lo mod m, d_0 = hi mod m; probe i is bit h_i;
//   d_{i+1} = d_i + i + 1, h_{i+1} = h_i + d_{i+1} (mod m).
//
// Version 2, blocked: the bit array is whole 64-byte lines (m = 512 · lines); a key's k
// probes all fall in one line, so a probe touches one or two cache lines, not k:
//   line = hi mod lines; g_0 = lo; probe i is bit (line · 512 + (g_i >>> 23));
//   g_{i+1} = g_i · 0x9e3779b9 (mod 2^32).
// Its false-positive rate is a little above the standard filter's at the same size (lines
// are unevenly loaded): ~0.95% at 10 bits per key against ~0.82% (measured, 200k keys).
//
// Changing either derivation changes which bits old filters set: it is part of the on-disk
// format and never changes (a new derivation would need a new table format version).
import { invariant } from '../../errors.js';

/** Default filter size per key: 10 bits gives ~1% false positives (k = 7). */
export const DEFAULT_BLOOM_BITS_PER_KEY = 10;
/** Most probes a filter may use. k > 30 never pays off and marks a damaged filter. */
export const MAX_BLOOM_PROBES = 30;
/** Smallest bit array: 64 bits, so a table of few keys still has a usable filter. */
const MIN_FILTER_BYTES = 8;
/** Largest bit array: probe positions stay below 2^32 (u32 arithmetic in `mayContain`). */
const MAX_FILTER_BYTES = 2 ** 29 - 8;

/** Bytes of a blocked filter's line: one cache line of most CPUs. */
export const BLOOM_LINE_BYTES = 64;
/** Bits of a line; a probe's bit in its line is the top 9 bits of a 32-bit value. */
const LINE_BITS = BLOOM_LINE_BYTES * 8;
const LINE_BIT_SHIFT = 32 - 9;
/** The multiplier that steps a blocked filter's probes (2^32 / golden ratio, odd). */
const PROBE_STEP = 0x9e3779b9 | 0;

/** Probes for a given filter density: k = round(bitsPerKey · ln 2), clamped to 1..30. */
export function bloomProbes(bitsPerKey: number): number {
  return Math.min(MAX_BLOOM_PROBES, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
}

/**
 * Empty filter contents for `expectedKeys` at `bitsPerKey`: a bit array of at least
 * `minBytes`, a whole number of `unit`s, then k.
 */
function newFilterContents(expectedKeys: number, bitsPerKey: number, minBytes: number, unit: number): Uint8Array {
  invariant(Number.isSafeInteger(expectedKeys) && expectedKeys >= 0, 'expectedKeys is a non-negative integer');
  invariant(bitsPerKey > 0 && bitsPerKey <= 64, 'bloom bitsPerKey in (0, 64]');
  const wanted = Math.min(MAX_FILTER_BYTES, Math.max(minBytes, Math.ceil((expectedKeys * bitsPerKey) / 8)));
  const bytes = Math.ceil(wanted / unit) * unit;
  const data = new Uint8Array(bytes + 1);
  data[bytes] = bloomProbes(bitsPerKey);
  return data;
}

/**
 * Builds a filter incrementally. The bit array is sized up front from an upper bound of the
 * keys to come (a merge of big tables knows its input count, not its output count), so no
 * key is buffered. Adding more keys than `expectedKeys` is allowed and only raises the false
 * positive rate; adding far fewer leaves the filter larger than needed.
 */
export class BloomBuilder {
  private readonly data: Uint8Array;
  private readonly m: number;
  private readonly k: number;

  constructor(expectedKeys: number, bitsPerKey = DEFAULT_BLOOM_BITS_PER_KEY) {
    this.data = newFilterContents(expectedKeys, bitsPerKey, MIN_FILTER_BYTES, 1);
    this.m = (this.data.length - 1) * 8;
    this.k = this.data[this.data.length - 1]!;
  }

  /** Adds the token (hi, lo). */
  add(hi: number, lo: number): void {
    const data = this.data;
    const m = this.m;
    let h = (lo >>> 0) % m;
    let d = (hi >>> 0) % m;
    for (let i = 0; i < this.k; i++) {
      data[h >>> 3]! |= 1 << (h & 7);
      d += i + 1;
      if (d >= m) d -= m;
      h += d;
      if (h >= m) h -= m;
    }
  }

  /** The filter block contents (bits then k). Valid until the next `add`. */
  finish(): Uint8Array {
    return this.data;
  }
}

/** Reads filter contents in place. */
export class BloomFilter {
  private readonly m: number;
  private readonly k: number;

  /** REQUIRES: `data` passed `BloomFilter.check`. */
  constructor(private readonly data: Uint8Array) {
    this.m = (data.length - 1) * 8;
    this.k = data[data.length - 1]!;
  }

  /**
   * Returns the reason `data` is not a valid filter, or undefined when it is (the caller
   * turns a reason into a corruption error naming its file).
   */
  static check(data: Uint8Array): string | undefined {
    if (data.length < MIN_FILTER_BYTES + 1) return `filter of ${data.length} bytes is too short`;
    const k = data[data.length - 1]!;
    if (k < 1 || k > MAX_BLOOM_PROBES) return `filter has ${k} probes`;
    return undefined;
  }

  /** False when the token (hi, lo) was certainly never added; true when it may have been. */
  mayContain(hi: number, lo: number): boolean {
    const data = this.data;
    const m = this.m;
    let h = (lo >>> 0) % m;
    let d = (hi >>> 0) % m;
    for (let i = 0; i < this.k; i++) {
      if ((data[h >>> 3]! & (1 << (h & 7))) === 0) return false;
      d += i + 1;
      if (d >= m) d -= m;
      h += d;
      if (h >= m) h -= m;
    }
    return true;
  }

  /** Bytes of the filter contents. */
  get byteLength(): number {
    return this.data.length;
  }
}

/** Builds a blocked filter (table format version 2), sized up front as `BloomBuilder`. */
export class BlockedBloomBuilder {
  private readonly data: Uint8Array;
  private readonly lines: number;
  private readonly k: number;

  constructor(expectedKeys: number, bitsPerKey = DEFAULT_BLOOM_BITS_PER_KEY) {
    this.data = newFilterContents(expectedKeys, bitsPerKey, BLOOM_LINE_BYTES, BLOOM_LINE_BYTES);
    this.lines = (this.data.length - 1) / BLOOM_LINE_BYTES;
    this.k = this.data[this.data.length - 1]!;
  }

  /** Adds the token (hi, lo). */
  add(hi: number, lo: number): void {
    const data = this.data;
    const base = ((hi >>> 0) % this.lines) * LINE_BITS;
    let g = lo | 0;
    for (let i = 0; i < this.k; i++) {
      const bit = base + (g >>> LINE_BIT_SHIFT);
      data[bit >>> 3]! |= 1 << (bit & 7);
      g = Math.imul(g, PROBE_STEP);
    }
  }

  /** The filter block contents (lines then k). Valid until the next `add`. */
  finish(): Uint8Array {
    return this.data;
  }
}

/** Reads blocked filter contents (table format version 2) in place. */
export class BlockedBloomFilter {
  private readonly lines: number;
  private readonly k: number;

  /** REQUIRES: `data` passed `BlockedBloomFilter.check`. */
  constructor(private readonly data: Uint8Array) {
    this.lines = (data.length - 1) / BLOOM_LINE_BYTES;
    this.k = data[data.length - 1]!;
  }

  /** The reason `data` is not a valid blocked filter, or undefined when it is. */
  static check(data: Uint8Array): string | undefined {
    const why = BloomFilter.check(data);
    if (why !== undefined) return why;
    if ((data.length - 1) % BLOOM_LINE_BYTES !== 0) return `blocked filter of ${data.length - 1} bytes is not whole ${BLOOM_LINE_BYTES}-byte lines`;
    return undefined;
  }

  /** False when the token (hi, lo) was certainly never added; true when it may have been. */
  mayContain(hi: number, lo: number): boolean {
    const data = this.data;
    const base = ((hi >>> 0) % this.lines) * LINE_BITS;
    let g = lo | 0;
    for (let i = 0; i < this.k; i++) {
      const bit = base + (g >>> LINE_BIT_SHIFT);
      if ((data[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      g = Math.imul(g, PROBE_STEP);
    }
    return true;
  }

  get byteLength(): number {
    return this.data.length;
  }
}

/** What a TableReader asks of either filter layout. */
export interface TokenFilter {
  mayContain(hi: number, lo: number): boolean;
  readonly byteLength: number;
}
