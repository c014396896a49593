// Runs on: any thread (pure format code, no I/O). The data block of an SSTable and the
// trailer that follows every stored block (data, filter and index) in the file.
//
// Data block contents (uncompressed), fixed-width integers little-endian:
//
//   +---------+---------+-----+-----------+-----------+-----------+-------------+-------------+
//   | entry 0 | entry 1 | ... | entry n-1 | offset[0] |    ...    | offset[n-1] | n (u32)     |
//   +---------+---------+-----+-----------+-----------+-----------+-------------+-------------+
//                                           u32: where entry i starts in the block
//
//   entry:
//   +---------+-------------+-----------------+-------------------+--------------+---------------+
//   | kind u8 | seq varint  | ikeyLen varint  | valueLen varint   | ikey bytes   | value bytes   |
//   +---------+-------------+-----------------+-------------------+--------------+---------------+
//
//   Entries are sorted by ikey (unsigned bytes), strictly increasing, contiguous (entry i ends
//   where entry i+1 starts, the last where the offset array starts), n >= 1. kind is a
//   RecordKind (PUT=1, DELETE=2); seq a sequence number < 2^53; ikey >= 8 bytes (token ‖ key).
//
// Stored block (in the file): the contents, maybe compressed, then a 5-byte trailer:
//
//   +----------------------------------+------------+---------------------------------------+
//   | stored bytes (`size` in handle)  | type u8    | masked crc32c (u32 LE) of stored‖type |
//   +----------------------------------+------------+---------------------------------------+
//
//   type NONE: stored bytes = contents.
//   type LZ4:  stored bytes = [contents length u32 LE][LZ4 block-format data] (the framing
//              lz4-napi's uncompressSync reads; written by our own lz4.ts).
//              Chosen only when it saves >= 1/8 of the bytes.
import { uncompressSync } from 'lz4-napi';
import { lz4Compress, lz4DecompressInto } from './lz4.js';
import { corruption } from '../../errors.js';
import { crc32c, getFixed32, maskCrc, unmaskCrc, varintLength } from '../record/index.js';

/** Block compression types. On disk in every block trailer: never renumber, only add. */
export const CompressionType = {
  NONE: 0,
  LZ4: 1,
} as const;
export type CompressionType = (typeof CompressionType)[keyof typeof CompressionType];

/** Bytes after every stored block: type u8 + masked crc u32. On disk: never change. */
export const BLOCK_TRAILER_SIZE = 5;

/** Default target size of a data block's contents, as LevelDB: one page, a few dozen entries. */
export const DEFAULT_BLOCK_SIZE = 4 * 1024;

/** Bytes of an entry's ikey that hold the token. */
export const IKEY_TOKEN_BYTES = 8;

/**
 * Largest contents length an LZ4 block may claim. A block holds at least one entry and the
 * largest entry is a 16 MiB value with a 64 KiB key; anything bigger is a damaged length
 * (refused before the decompressor allocates it).
 */
export const MAX_BLOCK_CONTENTS = 32 * 1024 * 1024;

/** Bytes an entry takes in a block (excluding its offset-array slot). */
export function entryLength(seq: number, ikeyLength: number, valueLength: number): number {
  return 1 + varintLength(seq) + varintLength(ikeyLength) + varintLength(valueLength) + ikeyLength + valueLength;
}

const TYPE_BYTE: readonly Uint8Array[] = [Uint8Array.of(CompressionType.NONE), Uint8Array.of(CompressionType.LZ4)];

/** The unmasked crc32c of `stored ‖ type`, as the trailer covers it. */
export function storedBlockCrc(stored: Uint8Array, type: CompressionType): number {
  return crc32c(TYPE_BYTE[type]!, crc32c(stored));
}

/**
 * Compresses `contents` with LZ4 when that saves at least 1/8 of the bytes (LevelDB's rule:
 * smaller savings are not worth the decompression on every read). Returns the compressed
 * bytes, or undefined to store the block as it is.
 */
export function maybeCompress(contents: Buffer): Buffer | undefined {
  if (contents.length < 64) return undefined;
  const compressed = lz4Compress(contents);
  return compressed.length <= contents.length - (contents.length >>> 3) ? compressed : undefined;
}

/** Writes the trailer of a stored block at `out[at]`. */
export function putTrailer(out: Uint8Array, at: number, stored: Uint8Array, type: CompressionType): void {
  out[at] = type;
  const masked = maskCrc(storedBlockCrc(stored, type));
  out[at + 1] = masked; out[at + 2] = masked >>> 8; out[at + 3] = masked >>> 16; out[at + 4] = masked >>> 24;
}

/**
 * Checks the trailer of the stored block `raw[start .. start+size)` (trailer right after it)
 * and returns its contents: a view of `raw` when stored uncompressed, a new Buffer when it
 * was compressed. `fileOffset` is where the block starts in `file`, for the error message.
 * Throws ERR_CORRUPTION naming the file on a bad checksum, type or compressed length.
 */
export function decodeStoredBlock(raw: Buffer, start: number, size: number, file: string, fileOffset: number): Buffer {
  const t = start + size;
  if (start < 0 || t + BLOCK_TRAILER_SIZE > raw.length) {
    throw corruption(file, `block at offset ${fileOffset}: extends past the bytes read`);
  }
  const stored = raw.subarray(start, t);
  const type = raw[t]!;
  if (type !== CompressionType.NONE && type !== CompressionType.LZ4) {
    throw corruption(file, `block at offset ${fileOffset}: unknown compression type ${type}`);
  }
  const expected = unmaskCrc(getFixed32(raw, t + 1));
  if (storedBlockCrc(stored, type) !== expected) {
    throw corruption(file, `block at offset ${fileOffset}: checksum mismatch`);
  }
  if (type === CompressionType.NONE) return stored;
  const claimed = size >= 4 ? getFixed32(stored, 0) : -1;
  if (claimed < 0 || claimed > MAX_BLOCK_CONTENTS) {
    throw corruption(file, `block at offset ${fileOffset}: bad LZ4 contents length ${claimed}`);
  }
  let contents: Buffer;
  try {
    contents = uncompressSync(stored);
  } catch (err) {
    throw corruption(file, `block at offset ${fileOffset}: LZ4 data does not decompress (${(err as Error).message})`);
  }
  if (contents.length !== claimed) {
    throw corruption(file, `block at offset ${fileOffset}: LZ4 data decompresses to ${contents.length} bytes, not ${claimed}`);
  }
  return contents;
}

/** Bytes of the LZ4 framing's length word in front of the compressed data. */
const LZ4_LENGTH_BYTES = 4;

/**
 * Checks the trailer of the stored block `raw[start .. start+size)` as `decodeStoredBlock`
 * does (range, type, checksum, LZ4 length claim) and returns the length its contents will
 * have, without decoding them: the caller picks where they go (a cache slot or a buffer of
 * its own) and calls `decodeStoredBlockInto`.
 */
export function storedContentsLength(raw: Uint8Array, start: number, size: number, file: string, fileOffset: number): number {
  const t = start + size;
  if (start < 0 || t + BLOCK_TRAILER_SIZE > raw.length) {
    throw corruption(file, `block at offset ${fileOffset}: extends past the bytes read`);
  }
  const type = raw[t]!;
  if (type !== CompressionType.NONE && type !== CompressionType.LZ4) {
    throw corruption(file, `block at offset ${fileOffset}: unknown compression type ${type}`);
  }
  if (storedBlockCrc(raw.subarray(start, t), type) !== unmaskCrc(getFixed32(raw, t + 1))) {
    throw corruption(file, `block at offset ${fileOffset}: checksum mismatch`);
  }
  if (type === CompressionType.NONE) return size;
  const claimed = size >= LZ4_LENGTH_BYTES ? getFixed32(raw, start) : -1;
  if (claimed < 0 || claimed > MAX_BLOCK_CONTENTS) {
    throw corruption(file, `block at offset ${fileOffset}: bad LZ4 contents length ${claimed}`);
  }
  return claimed;
}

/**
 * Writes the contents of the stored block `raw[start .. start+size)`, which passed
 * `storedContentsLength` (returning `length`), into `dst[at, at + length)`. Allocates nothing.
 * Throws ERR_CORRUPTION when LZ4 data does not decode to exactly `length` bytes.
 */
export function decodeStoredBlockInto(raw: Uint8Array, start: number, size: number, length: number, dst: Uint8Array, at: number, file: string, fileOffset: number): void {
  if (raw[start + size] === CompressionType.NONE) {
    dst.set(raw.subarray(start, start + size), at);
    return;
  }
  if (!lz4DecompressInto(raw, start + LZ4_LENGTH_BYTES, start + size, dst, at, length)) {
    throw corruption(file, `block at offset ${fileOffset}: LZ4 data does not decode to its ${length} bytes`);
  }
}
