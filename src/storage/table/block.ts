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
import { NATIVE_COMPARE_FROM, searchIkeys, type IkeyProbe } from './ikey-search.js';

/** Scratch for decoding varints on the lookup path (one thread, no re-entry). */
const VARINT = { value: 0 };

const EMPTY = Buffer.alloc(0);
/** Longest ikey a valid block holds: token + a 64 KiB user key. */
const MAX_IKEY_BYTES = IKEY_TOKEN_BYTES + 64 * 1024;
export class Block implements IkeyProbe {
  /** The buffer holding the block's contents (a cache slab, or the block's own buffer). */
  buf: Buffer = EMPTY;
  /** Where the contents start and end in `buf`; entry offsets are relative to `base`. */
  private base = 0;
  private end = 0;
  /** Number of entries. */
  count = 0;
  private offsetsAt = 0;
  /** Length of the ikey found by the last `probeIkey`. */
  probeLength = 0;

  // The entry decoded by the last `entry(i)`; ikey and value are `buf` ranges.
  kind = 0;
  seq = 0;
  ikeyStart = 0;
  ikeyLength = 0;
  valueStart = 0;
  valueLength = 0;

  /**
   * Aims the cursor at the contents `buf[start, end)` (all of `buf` by default). Positions it
   * reports (ikeyStart, valueStart) index `buf`. REQUIRES: the contents passed `Block.check`.
   */
  reset(buf: Buffer, start = 0, end = buf.length): void {
    this.buf = buf;
    this.base = start;
    this.end = end;
    this.count = getFixed32(buf, end - 4);
    this.offsetsAt = end - 4 - 4 * this.count;
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
    return searchIkeys(this, this.count, target, hi, lo, lowToken, highToken);
  }

  /** IkeyProbe: where entry i's ikey starts (its length into `probeLength`). */
  probeIkey(i: number): number {
    const buf = this.buf;
    // Skip kind and seq, read ikeyLen, skip valueLen.
    let p = this.base + getFixed32(buf, this.offsetsAt + 4 * i) + 1;
    while (buf[p++]! >= 0x80);
    p = getVarint(buf, p, this.end, VARINT);
    this.probeLength = VARINT.value;
    while (buf[p++]! >= 0x80);
    return p;
  }

  /** Decodes entry i into kind, seq, ikeyStart/Length, valueStart/Length. REQUIRES: 0 <= i < count. */
  entry(i: number): void {
    const buf = this.buf;
    const end = this.end;
    let p = this.base + getFixed32(buf, this.offsetsAt + 4 * i);
    this.kind = buf[p++]!;
    const v = VARINT;
    p = getVarint(buf, p, end, v); // the block passed check(): no bounds to fear
    this.seq = v.value;
    p = getVarint(buf, p, end, v);
    this.ikeyLength = v.value;
    p = getVarint(buf, p, end, v);
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
