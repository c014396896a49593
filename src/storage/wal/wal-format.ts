// Runs on: any thread. The on-disk format of the commit log (WAL), shared by wal-writer.ts
// (encode) and wal-reader.ts (decode).
//
// A WAL segment file is a plain sequence of records, nothing before or after them:
//
//   segment := record*
//
//   record (9-byte header + payload; all integers little-endian):
//
//    0       4       8   9                      9+length
//   +-------+-------+---+------------------------+
//   |  crc  |length |typ|  payload (length bytes)|
//   +-------+-------+---+------------------------+
//    u32 LE  u32 LE  u8
//            \____________ crc covers ___________/
//
//   crc     maskCrc(crc32c(length ‖ type ‖ payload)): covering the length means a flipped
//           length bit is caught rather than sending the reader off to a wrong offset.
//   length  payload bytes, at most MAX_WAL_PAYLOAD.
//   type    a WalRecordType; 0 is never valid, so a zero-filled tail (a preallocated or
//           zeroed-by-the-file-system end of file) reads as the end of the log.
//
// One record = one write batch (group commit): the engine hands the writer a whole batch
// as one payload, so a record is either entirely in the log or not at all. Unlike LevelDB
// there are no 32 KiB blocks and no FIRST/MIDDLE/LAST fragments: a reader streams records
// of any size. After a damaged record the reader resyncs: it looks for the next offset
// where a whole record with a matching crc starts. Damage with no good record after it is
// a torn tail (dropped); damage with good records after it is reported as such (the engine
// refuses to open, or salvages them: see engine.ts and docs/storage.md).
//
// A record is bad when: its length exceeds MAX_WAL_PAYLOAD; it runs past the end of the
// file; its type is not a known WalRecordType; or its crc does not match.
//
// Segment files are named `<number>.log`, the number zero-padded to at least 6 digits
// (`000007.log`); numbers grow with each new segment, so replay order is numeric order.
// `<number>.log.damaged` is the copy of a segment with damage in the middle that a salvaging
// open (walRecovery 'skip-damaged') kept: never replayed, never deleted by the engine.
//
// EVERYTHING IN THIS FILE IS ON DISK: the layout, the constants and the names never change.
// Record types are only ever added, never renumbered or reused.
import { crc32c, getFixed32, maskCrc, putFixed32 } from '../record/index.js';

/** Bytes of a record header: crc (4) + length (4) + type (1). On disk: never changes. */
export const WAL_HEADER_BYTES = 9;

/** Offsets of the header fields. On disk: never change. */
export const WAL_CRC_OFFSET = 0;
export const WAL_LENGTH_OFFSET = 4;
export const WAL_TYPE_OFFSET = 8;

/**
 * Largest payload of one record: 64 MiB. Room for a batch of several 16 MiB values, yet a
 * flipped high bit in a length is rejected at once instead of making the reader buffer
 * gigabytes. On disk (readers reject longer records): never changes.
 */
export const MAX_WAL_PAYLOAD = 64 * 1024 * 1024;

/** Record types. On disk: append-only, never renumber; 0 is reserved as "not a record". */
export const WalRecordType = {
  /** A whole write batch in one record. */
  FULL: 1,
} as const;
export type WalRecordType = (typeof WalRecordType)[keyof typeof WalRecordType];

/** True if `type` is a record type this version understands. */
export function isKnownWalRecordType(type: number): type is WalRecordType {
  return type === WalRecordType.FULL;
}

/**
 * Writes the length and type of a record into `header[4..9]` and then its crc into
 * `header[0..4]`, the crc computed over those 5 bytes followed by `payload`.
 * `lengthAndType` must be the view `header.subarray(4, 9)`; the caller keeps it so that
 * encoding allocates nothing.
 * REQUIRES: header.length >= WAL_HEADER_BYTES, payload.length <= MAX_WAL_PAYLOAD.
 */
export function encodeWalHeader(
  header: Uint8Array,
  lengthAndType: Uint8Array,
  type: WalRecordType,
  payload: Uint8Array,
): void {
  putFixed32(header, WAL_LENGTH_OFFSET, payload.length);
  header[WAL_TYPE_OFFSET] = type;
  putFixed32(header, WAL_CRC_OFFSET, maskCrc(crc32c(payload, crc32c(lengthAndType))));
}

/** The payload length stored in the header at `buf[at..]`. REQUIRES: 9 bytes there. */
export function walRecordLength(buf: Uint8Array, at: number): number {
  return getFixed32(buf, at + WAL_LENGTH_OFFSET);
}

/** The masked crc stored in the header at `buf[at..]`. */
export function walRecordMaskedCrc(buf: Uint8Array, at: number): number {
  return getFixed32(buf, at + WAL_CRC_OFFSET);
}

/**
 * True if the record at `buf[at..]` (header and its whole payload present in `buf`) has a
 * matching crc.
 */
export function walRecordCrcOk(buf: Uint8Array, at: number, length: number): boolean {
  const start = at + WAL_LENGTH_OFFSET;
  const actual = crc32c(buf.subarray(start, at + WAL_HEADER_BYTES + length));
  return maskCrc(actual) === walRecordMaskedCrc(buf, at);
}

/**
 * Suffix of the copy of a segment with damage in the middle, kept by walRecovery
 * 'skip-damaged' (`000007.log.damaged`). Not a segment name: never replayed, never an
 * orphan. On disk (file names): never changes.
 */
export const DAMAGED_WAL_SUFFIX = '.damaged';

/** Digits a segment number is padded to. On disk (file names): never changes. */
const WAL_NAME_DIGITS = 6;
const WAL_SUFFIX = '.log';
const WAL_NAME_RE = /^(\d{6,})\.log$/;

/** The file name of segment `n`: walFileName(7) === '000007.log'. REQUIRES: n a safe integer >= 0. */
export function walFileName(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad WAL segment number ${n}`);
  return String(n).padStart(WAL_NAME_DIGITS, '0') + WAL_SUFFIX;
}

/**
 * The segment number of a WAL file name, or undefined if `name` is not one. Only the
 * canonical spelling walFileName(n) is accepted ('0000007.log' is not), so no two files
 * can claim the same number.
 */
export function parseWalFileName(name: string): number | undefined {
  const m = WAL_NAME_RE.exec(name);
  if (m === null) return undefined;
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n) || walFileName(n) !== name) return undefined;
  return n;
}
