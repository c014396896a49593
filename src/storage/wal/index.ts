// Runs on: the thread that owns an engine. storage/wal/: the commit log, `<n>.log` segments.
// wal-format.ts lays out its bytes, wal-writer.ts appends and fsyncs them, wal-reader.ts
// reads them back at recovery (resyncing past damage).
export { DAMAGED_WAL_SUFFIX, MAX_WAL_PAYLOAD, parseWalFileName, walFileName } from './wal-format.js';
export { readWal } from './wal-reader.js';
export { WalWriter } from './wal-writer.js';
