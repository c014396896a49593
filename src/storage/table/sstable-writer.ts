// Runs on: a shard worker (memtable flush) or a piscina job (merge). Writes one SSTable
// (layout in sstable-format.ts) from records added in ikey order.
//
// Output streams through one reused 256 KiB buffer, appended to the file each time it
// fills, so a table of any size costs ~the index plus the filter in memory. The caller owns
// the file: it opens it ('create'), calls `finish()` (which fsyncs), then closes it, renames
// it into place or syncs its directory as its protocol requires. After an error the file is
// garbage: the caller deletes it.
import { invariant, ioError } from '../../errors.js';
import { BlockBuilder } from './block-builder.js';
import { BLOCK_TRAILER_SIZE, CompressionType, DEFAULT_BLOCK_SIZE, entryLength, maybeCompress, putTrailer } from './block-format.js';
import { BlockedBloomBuilder, BloomBuilder, DEFAULT_BLOOM_BITS_PER_KEY } from './bloom.js';
import { FOOTER_SIZE, IndexBuilder, OLDEST_TABLE_FORMAT_VERSION, TABLE_FORMAT_VERSION, encodeFooter } from './sstable-format.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, RecordKind, ikeyHi, ikeyLo } from '../record/index.js';
import type { VfsFile } from '../env/index.js';

/** Bytes gathered before each `append`: big enough that syscalls do not matter, small enough to stream. */
export const WRITE_CHUNK_BYTES = 256 * 1024;
/** Largest blockSize option: keeps every data block below MAX_BLOCK_CONTENTS with its one big entry. */
const MAX_BLOCK_SIZE = 4 * 1024 * 1024;

export interface TableWriterOptions {
  /** Target bytes of a data block's contents (default 4 KiB). */
  blockSize?: number;
  /** Bloom filter bits per key (default 10, ~1% false positives). */
  bloomBitsPerKey?: number;
  /** Table format version to write (default TABLE_FORMAT_VERSION; 1 only to test old tables). */
  formatVersion?: number;
  /** Data block compression (default 'lz4'; a block is compressed only when that saves >= 12.5%). */
  compression?: 'lz4' | 'none';
  /** Upper bound of the records to be added: sizes the Bloom filter up front. */
  expectedKeys: number;
}

export interface TableProperties {
  entries: number;
  fileSize: number;
  /** First and last ikey; undefined for an empty table. */
  smallest: Uint8Array | undefined;
  largest: Uint8Array | undefined;
  /** Smallest and largest sequence number (0 and 0 for an empty table). */
  minSeq: number;
  maxSeq: number;
  /** Bytes of the data blocks as stored (compressed, with trailers) = offset of the filter. */
  dataBytes: number;
  /** Bytes of the data blocks' contents before compression. */
  rawDataBytes: number;
  dataBlocks: number;
  filterBytes: number;
  indexBytes: number;
}

/** REQUIRES: one thread; `add` in strictly increasing ikey order, then `finish` once. */
export class TableWriter {
  private readonly file: VfsFile;
  private readonly blockSize: number;
  private readonly compress: boolean;
  private readonly block = new BlockBuilder();
  private readonly bloom: BloomBuilder | BlockedBloomBuilder;
  private readonly version: number;
  private readonly index = new IndexBuilder();
  private readonly out = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  private outPos = 0;
  private readonly trailer = new Uint8Array(BLOCK_TRAILER_SIZE);
  /** Bytes handed to `file.append` so far; the next byte written lands at appended + outPos. */
  private appended = 0;
  private last = Buffer.allocUnsafe(256);
  private lastLength = -1;
  private smallest: Uint8Array | undefined;
  private count = 0;
  private minSeq = Number.MAX_SAFE_INTEGER;
  private maxSeq = 0;
  private rawDataBytes = 0;
  private finished: TableProperties | undefined;

  constructor(file: VfsFile, options: TableWriterOptions) {
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    invariant(Number.isSafeInteger(blockSize) && blockSize >= 64 && blockSize <= MAX_BLOCK_SIZE, 'blockSize in [64, 4 MiB]');
    this.file = file;
    this.blockSize = blockSize;
    this.compress = (options.compression ?? 'lz4') === 'lz4';
    this.version = options.formatVersion ?? TABLE_FORMAT_VERSION;
    invariant(this.version >= OLDEST_TABLE_FORMAT_VERSION && this.version <= TABLE_FORMAT_VERSION, 'a table format version readers read');
    const bits = options.bloomBitsPerKey ?? DEFAULT_BLOOM_BITS_PER_KEY;
    this.bloom = this.version === 1 ? new BloomBuilder(options.expectedKeys, bits) : new BlockedBloomBuilder(options.expectedKeys, bits);
  }

  /** Records added so far. */
  get entries(): number {
    return this.count;
  }

  /** Bytes written so far (appended or buffered); the file's final size after `finish()`. */
  get fileSize(): number {
    return this.appended + this.outPos;
  }

  /**
   * Adds a record. REQUIRES: ikey strictly greater than the previous one (checked), 8 <= ikey
   * length <= 8 + 64 KiB, value <= 16 MiB, seq a non-negative safe integer.
   */
  add(ikey: Uint8Array, kind: RecordKind, seq: number, value: Uint8Array): void {
    invariant(this.finished === undefined, 'TableWriter.add after finish');
    invariant(ikey.length >= 8 && ikey.length <= 8 + MAX_KEY_BYTES, 'ikey length in [8, 8 + 64 KiB]');
    invariant(value.length <= MAX_VALUE_BYTES, 'value at most 16 MiB');
    invariant(kind === RecordKind.PUT || kind === RecordKind.DELETE, 'kind is PUT or DELETE');
    invariant(Number.isSafeInteger(seq) && seq >= 0, 'seq is a non-negative safe integer');
    invariant(this.lastLength < 0 || this.last.compare(ikey, 0, ikey.length, 0, this.lastLength) < 0,
      'ikeys added in strictly increasing order');

    if (this.block.count > 0 && this.block.sizeEstimate + entryLength(seq, ikey.length, value.length) + 4 > this.blockSize) {
      this.flushBlock();
    }
    this.block.add(ikey, kind, seq, value);
    this.bloom.add(ikeyHi(ikey), ikeyLo(ikey));
    if (this.count === 0) this.smallest = new Uint8Array(ikey);
    this.count++;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
    if (ikey.length > this.last.length) this.last = Buffer.allocUnsafe(Math.max(ikey.length, this.last.length * 2));
    this.last.set(ikey, 0);
    this.lastLength = ikey.length;
  }

  /** Writes the last data block, the filter, the index and the footer, then fsyncs the file. */
  finish(): TableProperties {
    invariant(this.finished === undefined, 'TableWriter.finish twice');
    if (this.block.count > 0) this.flushBlock();
    const dataBytes = this.fileSize;
    const filter = this.bloom.finish();
    const filterOffset = this.fileSize;
    this.writeStored(filter, CompressionType.NONE);
    const dataBlocks = this.index.count;
    const indexContents = this.index.finish();
    const indexOffset = this.fileSize;
    this.writeStored(indexContents, CompressionType.NONE);
    const footer = new Uint8Array(FOOTER_SIZE);
    const empty = this.count === 0;
    encodeFooter({
      filterOffset,
      filterSize: filter.length,
      indexOffset,
      indexSize: indexContents.length,
      entries: this.count,
      minSeq: empty ? 0 : this.minSeq,
      maxSeq: this.maxSeq,
      rawDataBytes: this.rawDataBytes,
      version: this.version,
    }, footer);
    this.put(footer);
    this.flushOut();
    try {
      this.file.sync();
    } catch (err) {
      throw ioError(err, this.file.path, 'fsync');
    }
    this.finished = {
      entries: this.count,
      fileSize: this.fileSize,
      smallest: this.smallest,
      largest: empty ? undefined : new Uint8Array(this.last.subarray(0, this.lastLength)),
      minSeq: empty ? 0 : this.minSeq,
      maxSeq: this.maxSeq,
      dataBytes,
      rawDataBytes: this.rawDataBytes,
      dataBlocks,
      filterBytes: filter.length + BLOCK_TRAILER_SIZE,
      indexBytes: indexContents.length + BLOCK_TRAILER_SIZE,
    };
    return this.finished;
  }

  private flushBlock(): void {
    const contents = this.block.finish();
    this.rawDataBytes += contents.length;
    const offset = this.fileSize;
    let size: number;
    const compressed = this.compress ? maybeCompress(contents) : undefined;
    if (compressed !== undefined) {
      size = compressed.length;
      this.writeStored(compressed, CompressionType.LZ4);
    } else {
      size = contents.length;
      this.writeStored(contents, CompressionType.NONE);
    }
    this.index.add(this.last.subarray(0, this.lastLength), offset, size);
    this.block.reset();
  }

  private writeStored(stored: Uint8Array, type: CompressionType): void {
    putTrailer(this.trailer, 0, stored, type);
    this.put(stored);
    this.put(this.trailer);
  }

  /** Buffers `data`; data bigger than the buffer goes to the file directly (after what is buffered). */
  private put(data: Uint8Array): void {
    if (this.outPos + data.length <= this.out.length) {
      this.out.set(data, this.outPos);
      this.outPos += data.length;
      if (this.outPos === this.out.length) this.flushOut();
      return;
    }
    if (data.length < this.out.length) {
      const first = this.out.length - this.outPos;
      this.out.set(data.subarray(0, first), this.outPos);
      this.outPos = this.out.length;
      this.flushOut();
      this.out.set(data.subarray(first), 0);
      this.outPos = data.length - first;
      return;
    }
    this.flushOut();
    this.append(data);
  }

  private flushOut(): void {
    if (this.outPos === 0) return;
    this.append(this.out.subarray(0, this.outPos));
    this.outPos = 0;
  }

  private append(data: Uint8Array): void {
    try {
      this.file.append(data);
    } catch (err) {
      throw ioError(err, this.file.path, 'append');
    }
    this.appended += data.length;
  }
}
