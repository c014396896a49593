// Runs on: a shard worker (recovery) or a piscina job. Reads back the records of one WAL
// segment file (format: wal-format.ts).
//
// Recovery contract: the reader returns the longest prefix of good records and stops at
// the first bad one (bad crc, unknown type, length past the maximum or past the end of the
// file). Everything from there to the end of the file is dropped and reported, never
// thrown: a torn tail after a crash is normal, and deciding whether damage in the middle of
// a log is fatal is the engine's business (it can tell by `damage` and `droppedBytes`, and
// whether this is the newest segment). Only I/O errors throw (ioError: ERR_IO / ERR_NO_SPACE).
//
// The file is streamed through one buffer that starts at READ_CHUNK_BYTES and grows only
// to hold a record bigger than that, so a large log is never loaded at once and a large
// record is read in one call, not piecewise.
import { ioError } from '../errors.js';
import type { Vfs, VfsFile } from './vfs.js';
import {
  MAX_WAL_PAYLOAD,
  WAL_HEADER_BYTES,
  WAL_TYPE_OFFSET,
  isKnownWalRecordType,
  walRecordCrcOk,
  walRecordLength,
  walRecordMaskedCrc,
} from './wal-format.js';

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
  /** Set whenever droppedBytes > 0: what was wrong, and at which file offset. */
  damage?: string;
}

/**
 * Calls `onRecord` with the payload of each good record of the segment at `path`, in
 * order, and reports how far the good records go. Never throws for bad content; throws
 * ioError for I/O failures, and passes through whatever onRecord throws.
 *
 * The payload is a view into a buffer the reader reuses: it is valid only until onRecord
 * returns. Copy it (`payload.slice()`) to keep it.
 */
export function readWal(vfs: Vfs, path: string, onRecord: (payload: Uint8Array) => void): WalReadReport {
  let file: VfsFile;
  try {
    file = vfs.open(path, 'read');
  } catch (err) {
    throw ioError(err, path, 'open WAL segment');
  }
  let report: WalReadReport;
  try {
    report = scan(new Window(file, path), path, onRecord);
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

function scan(win: Window, path: string, onRecord: (payload: Uint8Array) => void): WalReadReport {
  const size = win.fileSize;
  let offset = 0;
  let records = 0;
  let damage: string | undefined;
  while (offset < size) {
    const left = size - offset;
    if (left < WAL_HEADER_BYTES) {
      damage = describeTail(win, offset, `torn record header (${left} of ${WAL_HEADER_BYTES} bytes)`);
      break;
    }
    let at = win.ensure(offset, WAL_HEADER_BYTES);
    if (at < 0) { damage = shrunk(offset); break; }
    const length = walRecordLength(win.buf, at);
    const type = win.buf[at + WAL_TYPE_OFFSET]!;
    if (length === 0 && type === 0 && walRecordMaskedCrc(win.buf, at) === 0) {
      damage = describeTail(win, offset, 'zero record header');
      break;
    }
    if (length > MAX_WAL_PAYLOAD) {
      damage = `offset ${offset}: record length ${length} exceeds the maximum ${MAX_WAL_PAYLOAD}`;
      break;
    }
    const total = WAL_HEADER_BYTES + length;
    if (total > left) {
      damage = `offset ${offset}: record of ${length} bytes runs past the end of the file ` +
        `(torn tail: ${left} of ${total} bytes present)`;
      break;
    }
    at = win.ensure(offset, total);
    if (at < 0) { damage = shrunk(offset); break; }
    if (!walRecordCrcOk(win.buf, at, length)) {
      damage = `offset ${offset}: checksum mismatch in record of ${length} bytes`;
      break;
    }
    if (!isKnownWalRecordType(type)) {
      damage = `offset ${offset}: unknown record type ${type} (written by a newer version?)`;
      break;
    }
    onRecord(win.buf.subarray(at + WAL_HEADER_BYTES, at + total));
    records++;
    offset += total;
  }
  const report: WalReadReport = { file: path, records, goodBytes: offset, droppedBytes: size - offset };
  if (damage !== undefined) report.damage = damage;
  return report;
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
   * REQUIRES: offset >= every offset asked before (the window only slides forward);
   * offset + n <= fileSize.
   */
  ensure(offset: number, n: number): number {
    const end = this.start + this.filled;
    if (offset >= this.start && offset + n <= end) return offset - this.start;
    // Keep the bytes from `offset` on that are already here; read the rest after them.
    const keep = offset < end ? end - offset : 0;
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
