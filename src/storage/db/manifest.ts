// Runs on: a shard worker. The manifest: which SSTables are live, and where recovery starts.
//
// The whole state is rewritten on every change (it is small: one line per table) with
// writeFileAtomic: MANIFEST.tmp is written and fsynced, renamed over MANIFEST, and the
// directory fsynced. After a crash MANIFEST is either the old or the new state.
//
// Format of the file MANIFEST (on disk; never change, bump the version to extend):
//
//   +------------+-------------+----------------+----------------------+-------------+
//   | magic u32  | version u32 | payload length | masked crc32c of the | payload     |
//   | 'RKMF'     | = 1         | u32            | payload u32          |             |
//   +------------+-------------+----------------+----------------------+-------------+
//   payload = [nextFileNumber u64][logNumber u64][lastSeq u64][tableCount u32]
//             tableCount x [fileNumber u64][fileSize u64][entries u64][minSeq u64][maxSeq u64]
//
// Tables are listed newest first: for a key in several tables, the first one listed wins.
// WAL segments numbered >= logNumber hold writes not yet in any table; older ones are garbage.
// All integers little-endian.
import { corruption } from '../../errors.js';
import { crc32c, getFixed32, getFixed64, maskCrc, putFixed32, putFixed64, unmaskCrc } from '../record/index.js';
import { readWholeFile, writeFileAtomic, type Vfs } from '../env/index.js';

export const MANIFEST_NAME = 'MANIFEST';
/** On disk: 'RKMF' read as a little-endian u32. Never changes. */
const MAGIC = 0x464d4b52;
const VERSION = 1;
const HEADER_BYTES = 16;
const TABLE_BYTES = 40;

export interface TableMeta {
  fileNumber: number;
  fileSize: number;
  entries: number;
  minSeq: number;
  maxSeq: number;
}

export interface ManifestState {
  nextFileNumber: number;
  logNumber: number;
  lastSeq: number;
  /** Newest first. */
  tables: TableMeta[];
}

export function encodeManifest(state: ManifestState): Uint8Array {
  const payloadBytes = 28 + TABLE_BYTES * state.tables.length;
  const buf = new Uint8Array(HEADER_BYTES + payloadBytes);
  const p = HEADER_BYTES;
  putFixed64(buf, p, state.nextFileNumber);
  putFixed64(buf, p + 8, state.logNumber);
  putFixed64(buf, p + 16, state.lastSeq);
  putFixed32(buf, p + 24, state.tables.length);
  let at = p + 28;
  for (const t of state.tables) {
    putFixed64(buf, at, t.fileNumber);
    putFixed64(buf, at + 8, t.fileSize);
    putFixed64(buf, at + 16, t.entries);
    putFixed64(buf, at + 24, t.minSeq);
    putFixed64(buf, at + 32, t.maxSeq);
    at += TABLE_BYTES;
  }
  putFixed32(buf, 0, MAGIC);
  putFixed32(buf, 4, VERSION);
  putFixed32(buf, 8, payloadBytes);
  putFixed32(buf, 12, maskCrc(crc32c(buf.subarray(HEADER_BYTES))));
  return buf;
}

export function decodeManifest(buf: Uint8Array, file: string): ManifestState {
  if (buf.length < HEADER_BYTES) throw corruption(file, `manifest is ${buf.length} bytes, shorter than its header`);
  if (getFixed32(buf, 0) !== MAGIC) throw corruption(file, 'bad manifest magic number');
  const version = getFixed32(buf, 4);
  if (version !== VERSION) throw corruption(file, `unsupported manifest version ${version}`);
  const payloadBytes = getFixed32(buf, 8);
  if (HEADER_BYTES + payloadBytes !== buf.length) throw corruption(file, 'manifest length does not match its header');
  const payload = buf.subarray(HEADER_BYTES);
  if (unmaskCrc(getFixed32(buf, 12)) !== crc32c(payload)) throw corruption(file, 'manifest checksum mismatch');
  if (payloadBytes < 28) throw corruption(file, 'manifest payload too short');
  const count = getFixed32(payload, 24);
  if (28 + count * TABLE_BYTES !== payloadBytes) throw corruption(file, 'manifest table count does not match its length');
  const tables: TableMeta[] = [];
  for (let i = 0, at = 28; i < count; i++, at += TABLE_BYTES) {
    tables.push({
      fileNumber: getFixed64(payload, at),
      fileSize: getFixed64(payload, at + 8),
      entries: getFixed64(payload, at + 16),
      minSeq: getFixed64(payload, at + 24),
      maxSeq: getFixed64(payload, at + 32),
    });
  }
  return {
    nextFileNumber: getFixed64(payload, 0),
    logNumber: getFixed64(payload, 8),
    lastSeq: getFixed64(payload, 16),
    tables,
  };
}

/** Reads `dir/MANIFEST`, or undefined if there is none yet. */
export function readManifest(vfs: Vfs, dir: string): ManifestState | undefined {
  const path = `${dir}/${MANIFEST_NAME}`;
  if (!vfs.exists(path)) return undefined;
  return decodeManifest(readWholeFile(vfs, path), path);
}

/** Replaces `dir/MANIFEST` atomically and durably. */
export function writeManifest(vfs: Vfs, dir: string, state: ManifestState): void {
  writeFileAtomic(vfs, dir, MANIFEST_NAME, encodeManifest(state));
}
