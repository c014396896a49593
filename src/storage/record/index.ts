// Runs on: any thread. storage/record/: what every storage format shares and none writes
// alone: the internal key (token ‖ key), record kinds and size limits, checksums (CRC32C,
// masked) and the integer codecs. The WAL, the tables and the manifest all build on it.
export { RecordKind, MAX_KEY_BYTES, MAX_VALUE_BYTES, makeIkey, ikeyHi, ikeyLo } from './record.js';
export { compareBytes, crc32c, getFixed32, getFixed64, getVarint, maskCrc, putFixed32, putFixed64, putVarint, unmaskCrc, varintLength } from './coding.js';
