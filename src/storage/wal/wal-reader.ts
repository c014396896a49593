// Runs on: a shard worker (recovery) or a piscina job. Reads back the records of one WAL
// segment file (format: wal-format.ts).
//
// Recovery contract: the reader returns the longest prefix of good records up to the first
// bad one (bad crc, unknown type, length past the maximum or past the end of the file), and
// reports the damage, never throws for it. It then resyncs (scans forward for the next good
// record) and counts the good records behind the damage: none means a torn tail, normal
// after a crash; some means damage in the middle of the log, and deciding what to do about
// it is the engine's business (walRecovery: refuse, or salvage them with `salvage`). Only
// I/O errors throw (ioError: ERR_IO / ERR_NO_SPACE).
//
// The file is streamed through one buffer that starts at READ_CHUNK_BYTES and grows only
// to hold a record bigger than that, so a large log is never loaded at once and a large
// record is read in one call, not piecewise.
import { ioError } from '../../errors.js';
import type { Vfs, VfsFile } from '../env/index.js';
import {
  MAX_WAL_PAYLOAD,
  WAL_HEADER_BYTES,
  WAL_TYPE_OFFSET,
  isKnownWalRecordType,
  walRecordCrcOk,
  walRecordLength,
  walRecordMaskedCrc,
} from './wal-format.js';

/**
 * A resync candidate longer than this is crc-checked only if another header (or the end of
 * the file) follows it: the crc of every false long candidate would cost seconds.
 */
const RESYNC_CHEAP_BYTES = 64 * 1024;

/** Bytes read per call: large enough that a log of small batches costs few read calls. */
const READ_CHUNK_BYTES = 1024 * 1024;

export interface WalReadReport {
  /** The segment's path. */
  file: string;
  /** Good records passed to onRecord. */
  records: number;
  /** Bytes of good records: the file can be cut to this size to drop the damage. */
  goodBytes: number;
  /** File size − goodBytes: bytes after the last good record, not replayed. */
  droppedBytes: number;
  /** Set whenever droppedBytes > 0: what was wrong with the first bad record, and its file offset. */
  damage?: string;
  /**
   * Good records found after the first bad one (by resyncing: see resync). 0 with damage
   * set means a torn tail; more means damage in the middle of the log, with records behind it.
   */
  recordsAfterDamage: number;
  /** Bytes in no good record (the damaged stretches, the torn tail): what salvage loses. */
  skippedBytes: number;
}

export interface WalReadOptions {
  /**
   * Also pass the good records after damage to onRecord (salvage, `skip-damaged`), not only
   * the good prefix. Off, they are only counted (recordsAfterDamage).
   */
  salvage?: boolean;
}

/**
 * Calls `onRecord` with the payload of each good record of the segment at `path`, in
 * order, and reports how far the good records go. Never throws for bad content; throws
 * ioError for I/O failures, and passes through whatever onRecord throws.
 *
 * The payload is a view into a buffer the reader reuses: it is valid only until onRecord
 * returns. Copy it (`payload.slice()`) to keep it.
 */
export function readWal(
  vfs: Vfs,
  path: string,
  onRecord: (payload: Uint8Array) => void,
  options: WalReadOptions = {},
): WalReadReport {
  let file: VfsFile;
  try {
    file = vfs.open(path, 'read');
  } catch (err) {
    throw ioError(err, path, 'open WAL segment');
  }
  let report: WalReadReport;
  try {
    report = scan(new Window(file, path), path, onRecord, options.salvage === true);
  } catch (err) {
    try { file.close(); } catch { /* the first error is the one to report */ }
    throw err;
  }
  try {
    file.close();
  } catch (err) {
    throw ioError(err, path, 'close WAL segment');
  }
  return report;
}

function scan(win: Window, path: string, onRecord: (payload: Uint8Array) => void, salvage: boolean): WalReadReport {
  const size = win.fileSize;
  let offset = 0;
  let records = 0;
  let goodBytes = -1;
  let damage: string | undefined;
  let recordsAfterDamage = 0;
  let skippedBytes = 0;
  while (offset < size) {
    const r = recordAt(win, offset);
    if (typeof r === 'string') {
      // A bad record: the first one ends the good prefix. Look for the next good record after
      // it (resync); none means the damage is a torn tail.
      if (damage === undefined) {
        damage = r;
        goodBytes = offset;
      }
      const next = resync(win, offset);
      skippedBytes += next - offset;
      offset = next;
      continue;
    }
    if (damage === undefined || salvage) {
      onRecord(win.buf.subarray(r.at + WAL_HEADER_BYTES, r.at + r.total));
      records++;
    }
    if (damage !== undefined) recordsAfterDamage++;
    offset += r.total;
  }
  if (goodBytes < 0) goodBytes = offset;
  const report: WalReadReport = { file: path, records, goodBytes, droppedBytes: size - goodBytes, recordsAfterDamage, skippedBytes };
  if (damage !== undefined) report.damage = damage;
  return report;
}

/**
 * The record at file `offset`: its place in the window and its total size, or why it is bad.
 * After it returns a record, win.buf[at .. at+total) holds it.
 */
function recordAt(win: Window, offset: number): { at: number; total: number } | string {
  const left = win.fileSize - offset;
  if (left < WAL_HEADER_BYTES) return describeTail(win, offset, `torn record header (${left} of ${WAL_HEADER_BYTES} bytes)`);
  let at = win.ensure(offset, WAL_HEADER_BYTES);
  if (at < 0) return shrunk(offset);
  const length = walRecordLength(win.buf, at);
  const type = win.buf[at + WAL_TYPE_OFFSET]!;
  if (length === 0 && type === 0 && walRecordMaskedCrc(win.buf, at) === 0) return describeTail(win, offset, 'zero record header');
  if (length > MAX_WAL_PAYLOAD) return `offset ${offset}: record length ${length} exceeds the maximum ${MAX_WAL_PAYLOAD}`;
  const total = WAL_HEADER_BYTES + length;
  if (total > left) {
    return `offset ${offset}: record of ${length} bytes runs past the end of the file ` +
      `(torn tail: ${left} of ${total} bytes present)`;
  }
  at = win.ensure(offset, total);
  if (at < 0) return shrunk(offset);
  if (!walRecordCrcOk(win.buf, at, length)) return `offset ${offset}: checksum mismatch in record of ${length} bytes`;
  if (!isKnownWalRecordType(type)) return `offset ${offset}: unknown record type ${type} (written by a newer version?)`;
  return { at, total };
}

/**
 * After a bad record at `bad`: the offset of the next good record, or the file size if none
 * follows (a torn tail). As LevelDB's log reader resyncs, but without its 32 KiB blocks to
 * jump to: first the end the bad record's header claims (the usual case, a damaged payload
 * under an intact header, costs one check), then every later byte offset. A candidate must
 * be a whole record of a known type whose crc matches, so a false match needs a 32-bit crc
 * collision on bytes that also parse as a header.
 */
function resync(win: Window, bad: number): number {
  const size = win.fileSize;
  if (bad + WAL_HEADER_BYTES <= size) {
    const at = win.ensure(bad, WAL_HEADER_BYTES);
    if (at >= 0) {
      const claimed = bad + WAL_HEADER_BYTES + walRecordLength(win.buf, at);
      if (claimed < size && claimed > bad && plausibleAt(win, claimed) && typeof recordAt(win, claimed) !== 'string') return claimed;
    }
  }
  for (let offset = bad + 1; offset + WAL_HEADER_BYTES <= size; offset++) {
    if (!plausibleAt(win, offset)) continue;
    // Bytes inside a big damaged record often pass the header filter; checking the crc of a
    // long candidate is the cost (a torn 16 MiB record would take seconds), so a long one
    // must also end where another header or the file ends, as a real record does.
    const end = offset + WAL_HEADER_BYTES + walRecordLength(win.buf, win.ensure(offset, WAL_HEADER_BYTES));
    if (end - offset > RESYNC_CHEAP_BYTES && end !== size && !plausibleAt(win, end) && !zeroHeaderAt(win, end)) continue;
    if (typeof recordAt(win, offset) !== 'string') return offset;
  }
  return size;
}

/** True if a zero-filled header (the start of a zero tail) is at `offset`. */
function zeroHeaderAt(win: Window, offset: number): boolean {
  if (offset + WAL_HEADER_BYTES > win.fileSize) return false;
  const at = win.ensure(offset, WAL_HEADER_BYTES);
  if (at < 0) return false;
  for (let i = at; i < at + WAL_HEADER_BYTES; i++) if (win.buf[i] !== 0) return false;
  return true;
}

/** A cheap filter before the crc: a known type and a length that fits in the file. */
function plausibleAt(win: Window, offset: number): boolean {
  if (offset + WAL_HEADER_BYTES > win.fileSize) return false;
  const at = win.ensure(offset, WAL_HEADER_BYTES);
  if (at < 0) return false;
  if (!isKnownWalRecordType(win.buf[at + WAL_TYPE_OFFSET]!)) return false;
  const length = walRecordLength(win.buf, at);
  return length <= MAX_WAL_PAYLOAD && offset + WAL_HEADER_BYTES + length <= win.fileSize;
}

/** Damage text for the bytes from `offset` on, naming a zero-filled tail as such. */
function describeTail(win: Window, offset: number, what: string): string {
  const dropped = win.fileSize - offset;
  if (win.allZeroFrom(offset)) return `offset ${offset}: zero-filled tail of ${dropped} bytes`;
  return `offset ${offset}: ${what}`;
}

function shrunk(offset: number): string {
  return `offset ${offset}: the file ended early (it shrank while being read)`;
}

/**
 * A sliding window over the file: buf[0..filled] holds the file bytes from `start` on.
 * Reads in chunks of READ_CHUNK_BYTES, growing the buffer only for a record that needs it.
 */
class Window {
  buf: Uint8Array;
  readonly fileSize: number;
  private start = 0;
  private filled = 0;

  constructor(private readonly file: VfsFile, private readonly path: string) {
    try {
      this.fileSize = file.size();
    } catch (err) {
      throw ioError(err, path, 'stat WAL segment');
    }
    this.buf = new Uint8Array(Math.min(READ_CHUNK_BYTES, this.fileSize));
  }

  /**
   * Makes file bytes [offset, offset+n) present in buf; returns the index of `offset` in
   * buf, or -1 if the file turned out shorter than its size said.
   * Cheapest when offsets only grow (the window slides forward); an offset before the
   * window is read again. REQUIRES: offset + n <= fileSize.
   */
  ensure(offset: number, n: number): number {
    const end = this.start + this.filled;
    if (offset >= this.start && offset + n <= end) return offset - this.start;
    // Keep the bytes from `offset` on that are already here; read the rest after them.
    const keep = offset >= this.start && offset < end ? end - offset : 0;
    const rest = this.fileSize - offset;
    if (n > this.buf.length) {
      const grown = new Uint8Array(Math.min(Math.max(n, this.buf.length * 2), rest));
      grown.set(this.buf.subarray(this.filled - keep, this.filled), 0);
      this.buf = grown;
    } else if (keep > 0) {
      this.buf.copyWithin(0, this.filled - keep, this.filled);
    }
    this.start = offset;
    this.filled = keep;
    const target = Math.min(this.buf.length, rest);
    while (this.filled < target) {
      let got: number;
      try {
        got = this.file.read(this.buf, this.filled, target - this.filled, this.start + this.filled);
      } catch (err) {
        throw ioError(err, this.path, 'read WAL segment');
      }
      if (got === 0) break;
      this.filled += got;
    }
    return this.filled >= n ? 0 : -1;
  }

  /** True if every byte from `offset` to the end of the file is zero. */
  allZeroFrom(offset: number): boolean {
    for (let pos = offset; pos < this.fileSize; ) {
      const n = Math.min(READ_CHUNK_BYTES, this.fileSize - pos);
      const at = this.ensure(pos, n);
      if (at < 0) return false;
      const buf = this.buf;
      for (let i = at; i < at + n; i++) if (buf[i] !== 0) return false;
      pos += n;
    }
    return true;
  }
}
