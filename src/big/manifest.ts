// Runs on: any thread. The manifest of a big value: the plain value stored under the user's
// key that names the chunks holding the value's bytes (docs/design.md, Big values).
//
//   +--------+---------+--------+------------+-----------+--------+----------------+--------+
//   | magic  | version | size   | chunkBytes | expiresAt | count  | hash x count   | crc    |
//   | 8 B    | u8      | u48 LE | u32 LE     | u48 LE    | u32 LE | 32 B (SHA-256) | u32 LE |
//   +--------+---------+--------+------------+-----------+--------+----------------+--------+
//   magic      F5 72 6B 76 62 69 67 01 ("\xF5rkvbig\x01"): 0xF5 never starts UTF-8 text
//   version    MANIFEST_VERSION (1)
//   size       the value's length in bytes
//   chunkBytes every chunk's length but the last's (which holds the rest, 1..chunkBytes)
//   expiresAt  ms since the epoch, 0 = never: a copy of the object's own expiry at the write
//              (the object's expiry is the one in force; readers may show this one)
//   count      ceil(size / chunkBytes) (0 for an empty value)
//   hash       SHA-256 of each chunk's bytes, in value order; chunk i's key is chunkKey(hash i)
//   crc        CRC32C of every byte before it (the checksum of every ringkv format)
//
// A value is a manifest exactly when decodeManifest accepts it: magic, version, length,
// count and CRC all check. Anything else, even with the magic, is a plain value.
//
// ON DISK AND ON THE WIRE: the layout, the magic and the version never change; a new layout
// gets a new version and decoders keep reading the old ones.
import { crc32c } from '@node-rs/crc32';

/** On disk: never changes. */
export const MANIFEST_MAGIC: Uint8Array = Uint8Array.of(0xf5, 0x72, 0x6b, 0x76, 0x62, 0x69, 0x67, 0x01);
/** The magic's first byte: the one look the small-value paths take at a value. */
export const MANIFEST_MAGIC0 = 0xf5;
/** On disk: never changes. */
export const MANIFEST_VERSION = 1;
/** SHA-256. */
export const HASH_BYTES = 32;
const HEADER_BYTES = 8 + 1 + 6 + 4 + 6 + 4;
const CRC_BYTES = 4;

export interface Manifest {
  size: number;
  chunkBytes: number;
  expiresAt: number;
  /** SHA-256 of each chunk, in order. */
  hashes: Uint8Array[];
}

/** The length of chunk `i` of `m`. */
export function chunkLength(m: Manifest, i: number): number {
  return Math.min(m.chunkBytes, m.size - i * m.chunkBytes);
}

export function encodeManifest(m: Manifest): Buffer {
  const count = m.hashes.length;
  const out = Buffer.allocUnsafe(HEADER_BYTES + count * HASH_BYTES + CRC_BYTES);
  out.set(MANIFEST_MAGIC, 0);
  out[8] = MANIFEST_VERSION;
  out.writeUIntLE(m.size, 9, 6);
  out.writeUInt32LE(m.chunkBytes, 15);
  out.writeUIntLE(m.expiresAt, 19, 6);
  out.writeUInt32LE(count, 25);
  let at = HEADER_BYTES;
  for (const h of m.hashes) {
    out.set(h, at);
    at += HASH_BYTES;
  }
  out.writeUInt32LE(crc32c(out.subarray(0, at)), at);
  return out;
}

/** Whether `v` may be a manifest: its first byte (the cheap test of the hot paths). */
export function mayBeManifest(v: Uint8Array): boolean {
  return v.length >= HEADER_BYTES + CRC_BYTES && v[0] === MANIFEST_MAGIC0;
}

/** The manifest `v` encodes, or undefined when `v` is a plain value. Hashes are views into `v`. */
export function decodeManifest(v: Uint8Array): Manifest | undefined {
  if (!mayBeManifest(v)) return undefined;
  for (let i = 1; i < MANIFEST_MAGIC.length; i++) if (v[i] !== MANIFEST_MAGIC[i]) return undefined;
  const b = Buffer.from(v.buffer, v.byteOffset, v.length);
  if (b[8] !== MANIFEST_VERSION) return undefined;
  const size = b.readUIntLE(9, 6);
  const chunkBytes = b.readUInt32LE(15);
  const expiresAt = b.readUIntLE(19, 6);
  const count = b.readUInt32LE(25);
  if (chunkBytes === 0 || count !== Math.ceil(size / chunkBytes)) return undefined;
  const end = HEADER_BYTES + count * HASH_BYTES;
  if (b.length !== end + CRC_BYTES || b.readUInt32LE(end) !== crc32c(b.subarray(0, end))) return undefined;
  const hashes = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) hashes[i] = v.subarray(HEADER_BYTES + i * HASH_BYTES, HEADER_BYTES + (i + 1) * HASH_BYTES);
  return { size, chunkBytes, expiresAt, hashes };
}
