// Runs on: any thread. The byte encodings every format shares: LEB128 varints (a lenient
// and a strict reader), fixed-width little-endian integers, byte comparison, decimal int64
// text. Imports nothing.
export { ByteReader, MAX_VARINT_BYTES, getVarint, putVarint, varintSize } from './varint.js';
export { getFixed32, getFixed64, putFixed32, putFixed64 } from './fixed.js';
export { compareBytes, equalBytes } from './bytes.js';
export { isInt64, parseInt64 } from './decimal.js';
