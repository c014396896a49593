// Runs on: a shard worker (gets, scans) or a piscina job (merges). Reads one SSTable
// (layout in sstable-format.ts). Owned by one thread: not safe for concurrent use.
//
// `open` reads and checks the footer, filter and index (pinned: charged to the block cache's
// budget while the reader is open); data blocks are read on demand and their checksums
// verified on every read from disk, so damage surfaces as ERR_CORRUPTION naming the file,
// never as a wrong value. A block served from the cache is not checked again (it was when it
// was read, as in LevelDB). Point reads go through the shared BlockCache: a miss reads the
// stored block into a scratch buffer of this thread and decodes it straight into a cache
// slot, so it allocates nothing. Iterators read ahead in 256 KiB chunks of their own and
// leave the cache alone, so a merge or scan does not flush the blocks that gets need.
//
// `get` returns a copy of the value (cache slots are reused). Every ikey/value view an
// iterator hands out points into a buffer that is never written again (a read-ahead chunk):
// the bytes stay valid for as long as the view lives, even after close. A view pins its whole
// 256 KiB chunk: copy it to keep it long.
import { ErrorCode, RingkvError, corruption, invariant, ioError } from '../../errors.js';
import type { BlockCache } from './block-cache.js';
import { BLOCK_TRAILER_SIZE, decodeStoredBlock, decodeStoredBlockInto, storedContentsLength } from './block-format.js';
import { Block } from './block.js';
import { BlockedBloomFilter, BloomFilter, type TokenFilter } from './bloom.js';
import { FOOTER_SIZE, TableIndex, decodeFooter, type Footer } from './sstable-format.js';
import type { TableProperties } from './sstable-writer.js';
import { ikeyHi, ikeyLo } from '../record/index.js';
import type { Vfs, VfsFile } from '../env/index.js';

/** Bytes an iterator reads at a time: sequential I/O for merges and range scans. */
export const READ_AHEAD_BYTES = 256 * 1024;

/** What `TableReader.get` fills in. Make one per caller and reuse it. */
export interface TableGetResult {
  kind: number;
  seq: number;
  value: Uint8Array;
}

export function newTableGetResult(): TableGetResult {
  return { kind: 0, seq: 0, value: new Uint8Array(0) };
}

/** Largest stored block the thread's scratch buffer grows to hold; bigger ones get their own. */
const MAX_SCRATCH_BYTES = 1024 * 1024;
/** Where a cache miss reads the stored block before decoding it into a slot (one thread). */
let scratch = Buffer.allocUnsafeSlow(16 * 1024);

function scratchOf(length: number): Buffer {
  if (length <= scratch.length) return scratch;
  if (length > MAX_SCRATCH_BYTES) return Buffer.allocUnsafeSlow(length);
  scratch = Buffer.allocUnsafeSlow(Math.min(MAX_SCRATCH_BYTES, Math.max(length, scratch.length * 2)));
  return scratch;
}

/** Bytes of a chunk that returned values are carved from: one allocation serves many gets. */
const VALUE_POOL_BYTES = 64 * 1024;
/** Values above this get an array of their own rather than a pool chunk's tail. */
const MAX_POOLED_VALUE = 4 * 1024;
/** Values up to this long are copied by a loop (a native copy call costs more). */
const LOOP_COPY_BYTES = 128;
/** The chunk values are carved from now (not zero-filled: every byte handed out is written first). */
let valuePool = newValuePool();
let valuePoolAt = 0;

function newValuePool(): ArrayBuffer {
  const b = Buffer.allocUnsafeSlow(VALUE_POOL_BYTES);
  return b.buffer as ArrayBuffer;
}

/**
 * Copies `length` bytes of `buf` at `start` into an array the caller owns. Small values are
 * carved from a shared chunk (as Buffer's pool does): allocating a backing store per value
 * costs ~1 µs, a view into a chunk ~0.1 µs. A chunk is never written again once carved, so
 * a value is stable; it pins at most its 64 KiB chunk.
 */
function copyOut(buf: Buffer, start: number, length: number): Uint8Array {
  let out: Uint8Array;
  if (length > MAX_POOLED_VALUE) {
    out = new Uint8Array(length);
  } else {
    if (valuePoolAt + length > VALUE_POOL_BYTES) {
      valuePool = newValuePool();
      valuePoolAt = 0;
    }
    out = new Uint8Array(valuePool, valuePoolAt, length);
    valuePoolAt += (length + 7) & ~7; // 8-byte aligned, as Buffer's pool
  }
  if (length <= LOOP_COPY_BYTES) {
    for (let i = 0; i < length; i++) out[i] = buf[start + i]!;
  } else {
    buf.copy(out, 0, start, start + length);
  }
  return out;
}

/** Reads exactly `length` bytes at `position` into a new Buffer; a short read is corruption. */
function readExact(file: VfsFile, path: string, position: number, length: number): Buffer {
  // allocUnsafeSlow: a block may live long in the cache; it must not pin a shared pool slab.
  return readExactInto(file, path, position, length, Buffer.allocUnsafeSlow(length));
}

/** Reads exactly `length` bytes at `position` into `buf[0, length)`; returns `buf`. */
function readExactInto(file: VfsFile, path: string, position: number, length: number, buf: Buffer): Buffer {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = file.read(buf, done, length - done, position + done);
    } catch (err) {
      throw ioError(err, path, 'read');
    }
    if (n === 0) throw corruption(path, `file ends early: wanted ${length} bytes at offset ${position}, got ${done}`);
    done += n;
  }
  return buf;
}

export class TableReader {
  private file: VfsFile | undefined;
  private readonly cacheId: number;
  /** Cursor re-aimed at whichever block a `get` lands in. */
  private readonly block = new Block();
  private props: TableProperties | undefined;

  private constructor(
    readonly path: string,
    readonly fileNumber: number,
    file: VfsFile,
    private readonly fileSize: number,
    private readonly footer: Footer,
    /** @internal shared with iterators */
    readonly index: TableIndex,
    private readonly filter: TokenFilter,
    private readonly cache: BlockCache | undefined,
    /** The filter and index blocks as read (pinned in the cache's budget while open). */
    private readonly meta: Buffer,
  ) {
    this.file = file;
    this.cacheId = cache === undefined ? -1 : cache.allocateId();
    cache?.pin(meta.length);
  }

  /**
   * Opens the table at `path`, reading and checking its footer, filter and index (one read
   * for the footer, one for filter + index). A damaged or truncated file throws ERR_CORRUPTION
   * naming it; an I/O failure ERR_IO. `cache` may be shared by every reader of the engine.
   */
  static open(vfs: Vfs, path: string, fileNumber: number, cache: BlockCache | undefined): TableReader {
    let file: VfsFile;
    try {
      file = vfs.open(path, 'read');
    } catch (err) {
      throw ioError(err, path, 'open');
    }
    try {
      const size = file.size();
      if (size < FOOTER_SIZE) throw corruption(path, `file of ${size} bytes is too short for a table`);
      const footer = decodeFooter(readExact(file, path, size - FOOTER_SIZE, FOOTER_SIZE), size, path);
      const meta = readExact(file, path, footer.filterOffset, size - FOOTER_SIZE - footer.filterOffset);
      const filterContents = decodeStoredBlock(meta, 0, footer.filterSize, path, footer.filterOffset);
      const blocked = footer.version !== 1;
      const why = blocked ? BlockedBloomFilter.check(filterContents) : BloomFilter.check(filterContents);
      if (why !== undefined) throw corruption(path, `filter block: ${why}`);
      const indexAt = footer.indexOffset - footer.filterOffset;
      const indexContents = decodeStoredBlock(meta, indexAt, footer.indexSize, path, footer.indexOffset);
      const index = TableIndex.decode(indexContents, footer.filterOffset, path);
      if ((footer.entries === 0) !== (index.count === 0)) {
        throw corruption(path, `footer says ${footer.entries} entries, index has ${index.count} blocks`);
      }
      return new TableReader(path, fileNumber, file, size, footer, index, blocked ? new BlockedBloomFilter(filterContents) : new BloomFilter(filterContents), cache, meta);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /**
   * Looks up the exact `ikey`, whose token halves are (hi, lo). Returns true and fills `out`
   * when the table holds it (a PUT or a DELETE), false when it does not. Order: Bloom filter,
   * index binary search, the block from the cache or the disk (checked, decompressed, then
   * cached), binary search in the block. Allocates only the value, a copy the caller owns
   * (nothing on a cache miss either, unless the block is bigger than a cache slot).
   */
  get(ikey: Uint8Array, hi: number, lo: number, out: TableGetResult): boolean {
    if (this.file === undefined) throw this.closedError();
    if (!this.filter.mayContain(hi, lo)) return false;
    const index = this.index;
    const i = index.find(ikey, hi, lo);
    if (i === index.count) return false;
    index.handle(i);
    const block = this.block;
    this.aimAtBlock(block, index.offset, index.size);
    const j = block.seek(ikey, hi, lo, index.lastToken(i - 1), index.lastToken(i));
    if (j === block.count) return false;
    block.entry(j);
    if (!block.ikeyEquals(ikey)) return false;
    out.kind = block.kind;
    out.seq = block.seq;
    out.value = copyOut(block.buf, block.valueStart, block.valueLength);
    return true;
  }

  /** Whether the Bloom filter admits the token (hi, lo): false means the table certainly lacks it. */
  mayContain(hi: number, lo: number): boolean {
    return this.filter.mayContain(hi, lo);
  }

  /** A new iterator over the whole table, unpositioned: call `seekToFirst()` or `seek()`. */
  iterator(): TableIterator {
    if (this.file === undefined) throw this.closedError();
    return new TableIterator(this);
  }

  get properties(): TableProperties {
    if (this.props !== undefined) return this.props;
    const f = this.footer;
    const n = this.index.count;
    let smallest: Uint8Array | undefined;
    if (n > 0) {
      // The footer does not hold the smallest key: read it from the first block, once, bypassing the cache.
      this.index.handle(0);
      const first = new Block();
      first.reset(this.readBlock(this.index.offset, this.index.size));
      first.entry(0);
      smallest = new Uint8Array(first.buf.subarray(first.ikeyStart, first.ikeyStart + first.ikeyLength));
    }
    this.props = {
      entries: f.entries,
      fileSize: this.fileSize,
      smallest,
      largest: n > 0 ? this.index.lastIkey(n - 1) : undefined,
      minSeq: f.minSeq,
      maxSeq: f.maxSeq,
      dataBytes: f.filterOffset,
      rawDataBytes: f.rawDataBytes,
      dataBlocks: n,
      filterBytes: f.filterSize + BLOCK_TRAILER_SIZE,
      indexBytes: f.indexSize + BLOCK_TRAILER_SIZE,
    };
    return this.props;
  }

  /** Offset where data blocks end (the filter block starts). */
  get dataEnd(): number {
    return this.footer.filterOffset;
  }

  /** Closes the file and drops this table's cached blocks. Idempotent. Views handed out stay valid. */
  close(): void {
    if (this.file === undefined) return;
    const file = this.file;
    this.file = undefined;
    if (this.cache !== undefined) {
      this.cache.releaseId(this.cacheId);
      this.cache.unpin(this.meta.length, this.meta);
    }
    file.close();
  }

  /** @internal Reads, checks and decompresses data block (offset, size) from disk; no cache. */
  readBlock(offset: number, size: number): Buffer {
    if (this.file === undefined) throw this.closedError();
    const raw = readExact(this.file, this.path, offset, size + BLOCK_TRAILER_SIZE);
    const contents = decodeStoredBlock(raw, 0, size, this.path, offset);
    Block.check(contents, this.path, offset);
    return contents;
  }

  /** @internal Reads `length` bytes at `position` into a new Buffer (iterators' read-ahead). */
  readRaw(position: number, length: number): Buffer {
    if (this.file === undefined) throw this.closedError();
    return readExact(this.file, this.path, position, length);
  }

  /** Aims `block` at data block (offset, size): from the cache, or read, checked and cached. */
  private aimAtBlock(block: Block, offset: number, size: number): void {
    const cache = this.cache;
    if (cache === undefined) {
      block.reset(this.readBlock(offset, size));
      return;
    }
    const id = this.cacheId;
    if (cache.find(id, offset)) {
      block.reset(cache.buf, cache.start, cache.end);
      return;
    }
    if (this.file === undefined) throw this.closedError();
    const stored = size + BLOCK_TRAILER_SIZE;
    const raw = readExactInto(this.file, this.path, offset, stored, scratchOf(stored));
    const length = storedContentsLength(raw, 0, size, this.path, offset);
    const slot = length <= cache.slotBytes ? cache.claim() : -1;
    if (slot < 0) {
      // Bigger than a slot (one huge entry), or no slot to be had: a buffer of its own.
      const contents = Buffer.allocUnsafeSlow(length);
      decodeStoredBlockInto(raw, 0, size, length, contents, 0, this.path, offset);
      Block.check(contents, this.path, offset);
      if (length > cache.slotBytes) cache.setBig(id, offset, contents);
      block.reset(contents);
      return;
    }
    const buf = cache.slotBuffer(slot);
    const start = cache.slotStart(slot);
    try {
      decodeStoredBlockInto(raw, 0, size, length, buf, start, this.path, offset);
      Block.check(buf.subarray(start, start + length), this.path, offset);
    } catch (err) {
      cache.unclaim(slot);
      throw err;
    }
    cache.commit(slot, id, offset, length);
    block.reset(buf, start, start + length);
  }

  private closedError(): RingkvError {
    return new RingkvError(ErrorCode.CLOSED, `table ${this.path} is closed`, { file: this.path });
  }
}

/**
 * Walks a table in ikey order. Reads ahead in 256 KiB chunks (one read serves ~60 blocks of
 * a merge or scan) into fresh buffers, so views it handed out never change; the block cache
 * is neither read nor filled. Owned by the reader's thread; invalid once the reader closes.
 */
export class TableIterator {
  /** Whether the iterator is at an entry. */
  valid = false;
  private readonly block = new Block();
  private blockIndex = -1;
  private pos = 0;
  private chunk: Buffer = Buffer.alloc(0);
  private chunkStart = 0;

  /** @internal Use `TableReader.iterator()`. */
  constructor(private readonly table: TableReader) {}

  /** Positions at the first entry (invalid for an empty table). */
  seekToFirst(): void {
    if (this.table.index.count === 0) {
      this.valid = false;
      return;
    }
    this.loadBlock(0);
    this.at(0);
  }

  /** Positions at the first entry whose ikey is >= target (invalid if none). REQUIRES: target.length >= 8. */
  seek(target: Uint8Array): void {
    invariant(target.length >= 8, 'seek target is an ikey (>= 8 bytes)');
    const hi = ikeyHi(target);
    const lo = ikeyLo(target);
    const i = this.table.index.find(target, hi, lo);
    if (i === this.table.index.count) {
      this.valid = false;
      return;
    }
    this.loadBlock(i);
    const j = this.block.seek(target, hi, lo);
    if (j < this.block.count) this.at(j);
    else this.nextBlock();
  }

  /** Moves to the next entry. REQUIRES: valid. */
  next(): void {
    invariant(this.valid, 'TableIterator.next on an invalid iterator');
    if (this.pos + 1 < this.block.count) this.at(this.pos + 1);
    else this.nextBlock();
  }

  /** The current entry's ikey (a view; see the reader's file comment). REQUIRES: valid. */
  get ikey(): Uint8Array {
    const b = this.block;
    return b.buf.subarray(b.ikeyStart, b.ikeyStart + b.ikeyLength);
  }

  get kind(): number {
    return this.block.kind;
  }

  get seq(): number {
    return this.block.seq;
  }

  /** The current entry's value (a view; see the reader's file comment). REQUIRES: valid. */
  get value(): Uint8Array {
    const b = this.block;
    return b.buf.subarray(b.valueStart, b.valueStart + b.valueLength);
  }

  private at(j: number): void {
    this.pos = j;
    this.block.entry(j);
    this.valid = true;
  }

  private nextBlock(): void {
    if (this.blockIndex + 1 >= this.table.index.count) {
      this.valid = false;
      return;
    }
    this.loadBlock(this.blockIndex + 1);
    this.at(0);
  }

  private loadBlock(i: number): void {
    const table = this.table;
    const index = table.index;
    index.handle(i);
    const offset = index.offset;
    const size = index.size;
    const need = size + BLOCK_TRAILER_SIZE;
    if (offset < this.chunkStart || offset + need > this.chunkStart + this.chunk.length) {
      // A fresh buffer per chunk, never a reused one: views handed out must not change.
      const length = Math.min(Math.max(READ_AHEAD_BYTES, need), table.dataEnd - offset);
      this.chunk = table.readRaw(offset, length);
      this.chunkStart = offset;
    }
    const contents = decodeStoredBlock(this.chunk, offset - this.chunkStart, size, table.path, offset);
    Block.check(contents, table.path, offset);
    this.block.reset(contents);
    this.blockIndex = i;
  }
}
