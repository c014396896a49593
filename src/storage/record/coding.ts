// Runs on: any thread. The storage formats' checksums (CRC32C, masked as in LevelDB), and
// the integer and byte codecs they share with every other format (src/encoding/: fixed-width
// little-endian integers, LEB128 varints read leniently as LevelDB does, byte comparison),
// re-exported so every storage file finds its codecs in one place.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export { compareBytes, getFixed32, getFixed64, getVarint, putFixed32, putFixed64, putVarint, varintSize as varintLength } from '../../encoding/index.js';

/** CRC32C (Castagnoli) of `data`, continuing from `initial`; hardware-accelerated native code. */
export function crc32c(data: Uint8Array, initial = 0): number {
  return nativeCrc32c(data, initial) >>> 0;
}

/**
 * A stored CRC is masked as in LevelDB, so that the CRC of data that itself contains
 * CRCs (a block holding records) does not degenerate.
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
