// Runs on: any thread (pure format code, no I/O). The layout of an SSTable file: footer,
// index block and file names. Data blocks and trailers are in block-format.ts, the filter
// in bloom.ts. All fixed-width integers are little-endian; u64s are safe JS integers.
//
//   +---------------------------------------+  offset 0
//   | data block 0        | trailer (5 B)   |
//   | data block 1        | trailer         |  data blocks, sorted by ikey, contiguous;
//   | ...                                   |  ~blockSize each (one big entry may exceed it)
//   | data block n-1      | trailer         |
//   +---------------------------------------+  filter offset (= data bytes)
//   | filter block        | trailer         |  bloom.ts, never compressed
//   +---------------------------------------+  index offset
//   | index block         | trailer         |  below, never compressed
//   +---------------------------------------+  file size - 80
//   | footer (80 bytes)                     |
//   +---------------------------------------+  file size
//
// Index block contents: one entry per data block, in file order, searchable in place:
//
//   +---------------+-----------------------+--------------------+------------------+
//   | ikeyLen varint| last ikey of block i  | block offset varint| block size varint|  x n
//   +---------------+-----------------------+--------------------+------------------+
//   | offset[0] u32 | ... | offset[n-1] u32 (where index entry i starts) | n u32      |
//   +--------------------------------------------------------------------------------+
//   Block size excludes the trailer; block i+1 starts at offset_i + size_i + 5.
//
// Footer (fixed 80 bytes at the end of the file):
//
//    0  filter block offset u64      8  filter block size u64
//   16  index block offset u64      24  index block size u64
//   32  entry count u64             40  smallest seq u64     48  largest seq u64
//   56  data bytes before compression (sum of data block contents) u64
//   64  format version u32          68  masked crc32c u32 of footer bytes [0, 68)
//       version 1: standard Bloom filter; version 2: blocked Bloom filter (bloom.ts).
//       Readers read both; writers write TABLE_FORMAT_VERSION.
//   72  magic, 8 bytes: 72 6b 76 73 73 74 0d 0a ("rkvsst\r\n": a text-mode copy breaks it)
//
// Files are named `<number>.sst`, the number zero-padded to at least 6 digits. A table taken
// out of service because a block failed its checksum (tableDamage 'quarantine') is renamed
// `<number>.sst.damaged` (`.damaged.2`, ... if taken): never opened, never deleted by the engine.
import { corruption, invariant } from '../../errors.js';
import { searchIkeys, tokenAt, type IkeyProbe } from './ikey-search.js';
import { grownBuffer } from './grow-buffer.js';
import { crc32c, getFixed32, getFixed64, getVarint, maskCrc, putFixed32, putFixed64, putVarint, unmaskCrc, varintLength } from '../record/index.js';

/** Scratch for decoding varints on the lookup path (one thread, no re-entry). */
const VARINT = { value: 0 };
import { BLOCK_TRAILER_SIZE, IKEY_TOKEN_BYTES } from './block-format.js';

/** Above every token (2^64): the upper bound of an index search. */
const TOKEN_LIMIT = 2 ** 64;

/** Footer size. On disk: never change (a new layout gets a new format version). */
export const FOOTER_SIZE = 80;
/** Table format version written; readers read OLDEST_TABLE_FORMAT_VERSION..this and refuse others. On disk: only ever increase. */
export const TABLE_FORMAT_VERSION = 2;
/** Oldest format version readers still read (its filter is the standard Bloom filter). */
export const OLDEST_TABLE_FORMAT_VERSION = 1;
/** Last 8 bytes of every table file. On disk: never change. */
export const TABLE_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x72, 0x6b, 0x76, 0x73, 0x73, 0x74, 0x0d, 0x0a);
/** Footer byte offsets. On disk: never change. */
const F_FILTER_OFFSET = 0;
const F_FILTER_SIZE = 8;
const F_INDEX_OFFSET = 16;
const F_INDEX_SIZE = 24;
const F_ENTRIES = 32;
const F_MIN_SEQ = 40;
const F_MAX_SEQ = 48;
const F_RAW_DATA_BYTES = 56;
const F_VERSION = 64;
const F_CRC = 68;
const F_MAGIC = 72;

export interface Footer {
  filterOffset: number;
  filterSize: number;
  indexOffset: number;
  indexSize: number;
  entries: number;
  minSeq: number;
  maxSeq: number;
  rawDataBytes: number;
  /** Format version: which filter layout the table holds. Written as TABLE_FORMAT_VERSION when absent. */
  version?: number;
}

export function encodeFooter(f: Footer, out: Uint8Array): void {
  invariant(out.length === FOOTER_SIZE, 'footer buffer is FOOTER_SIZE bytes');
  putFixed64(out, F_FILTER_OFFSET, f.filterOffset);
  putFixed64(out, F_FILTER_SIZE, f.filterSize);
  putFixed64(out, F_INDEX_OFFSET, f.indexOffset);
  putFixed64(out, F_INDEX_SIZE, f.indexSize);
  putFixed64(out, F_ENTRIES, f.entries);
  putFixed64(out, F_MIN_SEQ, f.minSeq);
  putFixed64(out, F_MAX_SEQ, f.maxSeq);
  putFixed64(out, F_RAW_DATA_BYTES, f.rawDataBytes);
  putFixed32(out, F_VERSION, f.version ?? TABLE_FORMAT_VERSION);
  putFixed32(out, F_CRC, maskCrc(crc32c(out.subarray(0, F_CRC))));
  out.set(TABLE_MAGIC, F_MAGIC);
}

/**
 * Decodes and checks the footer of a table of `fileSize` bytes: magic, crc, version, and
 * that the filter and index blocks tile the file exactly up to the footer.
 */
export function decodeFooter(buf: Uint8Array, fileSize: number, file: string): Footer {
  for (let i = 0; i < TABLE_MAGIC.length; i++) {
    if (buf[F_MAGIC + i] !== TABLE_MAGIC[i]) throw corruption(file, 'bad magic number in the footer (not a table, or truncated)');
  }
  if (unmaskCrc(getFixed32(buf, F_CRC)) !== crc32c(buf.subarray(0, F_CRC))) throw corruption(file, 'footer checksum mismatch');
  const version = getFixed32(buf, F_VERSION);
  if (version < OLDEST_TABLE_FORMAT_VERSION || version > TABLE_FORMAT_VERSION) throw corruption(file, `unknown table format version ${version}`);
  const f: Footer = {
    filterOffset: getFixed64(buf, F_FILTER_OFFSET),
    filterSize: getFixed64(buf, F_FILTER_SIZE),
    indexOffset: getFixed64(buf, F_INDEX_OFFSET),
    indexSize: getFixed64(buf, F_INDEX_SIZE),
    entries: getFixed64(buf, F_ENTRIES),
    minSeq: getFixed64(buf, F_MIN_SEQ),
    maxSeq: getFixed64(buf, F_MAX_SEQ),
    rawDataBytes: getFixed64(buf, F_RAW_DATA_BYTES),
    version,
  };
  if (f.filterOffset + f.filterSize + BLOCK_TRAILER_SIZE !== f.indexOffset
    || f.indexOffset + f.indexSize + BLOCK_TRAILER_SIZE !== fileSize - FOOTER_SIZE) {
    throw corruption(file, `footer block handles do not tile the file (filter ${f.filterOffset}+${f.filterSize}, index ${f.indexOffset}+${f.indexSize}, size ${fileSize})`);
  }
  return f;
}

/** Builds the index block contents; the buffer grows and is kept for the writer's life. */
export class IndexBuilder {
  private buf = Buffer.allocUnsafe(16 * 1024);
  private pos = 0;
  private starts = new Uint32Array(1024);
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Adds data block (offset, size) whose last ikey is `lastIkey`. REQUIRES: ikeys increasing. */
  add(lastIkey: Uint8Array, offset: number, size: number): void {
    this.reserve(varintLength(lastIkey.length) + lastIkey.length + varintLength(offset) + varintLength(size));
    if (this.n === this.starts.length) {
      const grown = new Uint32Array(this.n * 2);
      grown.set(this.starts);
      this.starts = grown;
    }
    this.starts[this.n++] = this.pos;
    let p = putVarint(this.buf, this.pos, lastIkey.length);
    this.buf.set(lastIkey, p);
    p = putVarint(this.buf, p + lastIkey.length, offset);
    this.pos = putVarint(this.buf, p, size);
  }

  /** The index block contents (a view of the builder's buffer). */
  finish(): Buffer {
    this.reserve(4 * this.n + 4);
    let p = this.pos;
    for (let i = 0; i < this.n; i++, p += 4) putFixed32(this.buf, p, this.starts[i]!);
    putFixed32(this.buf, p, this.n);
    return this.buf.subarray(0, p + 4);
  }

  private reserve(extra: number): void {
    this.buf = grownBuffer(this.buf, this.pos, this.pos + extra);
  }
}

/**
 * A decoded index, searched in place: the index block contents as one Buffer plus a
 * Uint32Array of where each entry starts (no object per block: a 4 GB table has ~1M blocks).
 * Immutable after decode; `handle(i)` writes its result into `offset`/`size` (no allocation),
 * so one TableIndex serves one thread.
 */
export class TableIndex implements IkeyProbe {
  /** Result of the last `handle(i)`: data block i's file offset and stored size (no trailer). */
  offset = 0;
  size = 0;
  /** Length of the ikey found by the last `probeIkey`. */
  probeLength = 0;

  private constructor(
    /** The index block contents. */
    readonly buf: Buffer,
    private readonly starts: Uint32Array,
    /** Number of data blocks. */
    readonly count: number,
  ) {}

  /**
   * Checks and decodes index block contents: entries in bounds, last ikeys strictly
   * increasing, data blocks contiguous from offset 0 to `dataEnd`.
   */
  static decode(contents: Buffer, dataEnd: number, file: string): TableIndex {
    const bad = (what: string) => corruption(file, `index block: ${what}`);
    const size = contents.length;
    if (size < 4) throw bad(`${size} bytes is too short`);
    const n = getFixed32(contents, size - 4);
    const startsAt = size - 4 - 4 * n;
    if (startsAt < 0) throw bad(`bad entry count ${n} for ${size} bytes`);
    const starts = new Uint32Array(n);
    const v = { value: 0 };
    let expected = 0;
    let blockOffset = 0;
    let prevStart = 0;
    let prevLength = 0;
    for (let i = 0; i < n; i++) {
      const start = getFixed32(contents, startsAt + 4 * i);
      if (start !== expected) throw bad(`entry ${i} starts at ${start}, expected ${expected}`);
      starts[i] = start;
      let p = getVarint(contents, start, startsAt, v);
      const klen = v.value;
      if (p < 0 || klen < IKEY_TOKEN_BYTES || p + klen > startsAt) throw bad(`entry ${i} has a bad key length`);
      const keyStart = p;
      if (i > 0 && contents.compare(contents, prevStart, prevStart + prevLength, keyStart, keyStart + klen) <= 0) {
        throw bad(`entry ${i}: keys out of order`);
      }
      prevStart = keyStart;
      prevLength = klen;
      p = getVarint(contents, keyStart + klen, startsAt, v);
      if (p < 0 || v.value !== blockOffset) throw bad(`entry ${i}: block offset ${v.value}, expected ${blockOffset}`);
      p = getVarint(contents, p, startsAt, v);
      if (p < 0 || v.value < 4) throw bad(`entry ${i} has a bad block size`);
      blockOffset += v.value + BLOCK_TRAILER_SIZE;
      expected = p;
    }
    if (expected !== startsAt) throw bad(`entries end at ${expected}, offsets start at ${startsAt}`);
    if (blockOffset !== dataEnd) throw bad(`data blocks end at ${blockOffset}, filter starts at ${dataEnd}`);
    return new TableIndex(contents, starts, n);
  }

  /**
   * The first data block whose last ikey is >= target (`count` if none). No allocation.
   * Interpolates on the token first (tokens are uniform over [0, 2^64)), then bisects.
   */
  find(target: Uint8Array, hi: number, lo: number): number {
    return searchIkeys(this, this.count, target, hi, lo, -1, TOKEN_LIMIT);
  }

  /** IkeyProbe: where data block i's last ikey starts (its length into `probeLength`). */
  probeIkey(i: number): number {
    const p = getVarint(this.buf, this.starts[i]!, this.buf.length, VARINT);
    this.probeLength = VARINT.value;
    return p;
  }

  /**
   * `tokenValue` of data block i's last ikey; -1 for i = -1 (below every token). Every entry
   * of block i has a token in [lastToken(i - 1), lastToken(i)]: the bounds `Block.seek` takes.
   */
  lastToken(i: number): number {
    if (i < 0) return -1;
    let p = this.starts[i]!;
    while (this.buf[p++]! >= 0x80);
    return tokenAt(this.buf, p);
  }

  /** Decodes data block i's handle into `offset` and `size`. REQUIRES: 0 <= i < count. */
  handle(i: number): void {
    const buf = this.buf;
    let p = this.starts[i]!;
    const v = VARINT;
    p = getVarint(buf, p, buf.length, v); // the index was checked at decode: no bounds to fear
    p = getVarint(buf, p + v.value, buf.length, v);
    this.offset = v.value;
    getVarint(buf, p, buf.length, v);
    this.size = v.value;
  }

  /** A copy of data block i's last ikey. Allocates: not for hot paths. */
  lastIkey(i: number): Uint8Array {
    const v = { value: 0 };
    const p = getVarint(this.buf, this.starts[i]!, this.buf.length, v);
    return new Uint8Array(this.buf.subarray(p, p + v.value));
  }

  /** Bytes the decoded index holds in memory. */
  get memoryBytes(): number {
    return this.buf.length + this.starts.byteLength;
  }
}

/** Name of table file number `n`: 12 → '000012.sst'. */
export function tableFileName(n: number): string {
  invariant(Number.isSafeInteger(n) && n >= 0, 'table file number is a non-negative integer');
  return `${String(n).padStart(6, '0')}.sst`;
}

/**
 * Suffix of a table taken out of service because a block failed its checksum (tableDamage
 * 'quarantine': `000012.sst.damaged`). Not a table name: never opened as one, never an
 * orphan, never deleted by the engine. On disk (file names): never changes.
 */
export const DAMAGED_TABLE_SUFFIX = '.damaged';

/** The number of a table file name ('000012.sst' → 12), or undefined for any other name. */
export function parseTableFileName(name: string): number | undefined {
  const m = /^(\d{6,16})\.sst$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
