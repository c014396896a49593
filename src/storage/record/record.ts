// Runs on: any thread. What the engine stores per key, shared by the WAL, memtable and SSTables.
//
// Internal key ("ikey") = token (8 bytes, big-endian xxhash64 of the user key) ‖ user key.
// Comparing ikeys as unsigned bytes orders records by (token, key), as Cassandra orders
// rows by partitioner token, so a ring range is one contiguous run of an SSTable.
import { TOKEN_BYTES, writeToken } from '../../hash/index.js';

/** Record kinds. On disk in WAL batches and SSTable entries: never renumber, only add. */
export const RecordKind = {
  PUT: 1,
  DELETE: 2,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** Largest user key the engine accepts: 64 KiB. */
export const MAX_KEY_BYTES = 64 * 1024;
/** Largest value the engine accepts in one record: 16 MiB (bigger values get chunked above the engine). */
export const MAX_VALUE_BYTES = 16 * 1024 * 1024;

/** Builds the ikey of `key` whose token halves are (hi, lo). Allocates: not for hot paths. */
export function makeIkey(key: Uint8Array, hi: number, lo: number): Uint8Array {
  const ikey = new Uint8Array(TOKEN_BYTES + key.length);
  writeToken(ikey, 0, hi, lo);
  ikey.set(key, TOKEN_BYTES);
  return ikey;
}

/** The token halves stored in an ikey's first 8 bytes. */
export function ikeyHi(ikey: Uint8Array): number {
  return ((ikey[0]! << 24) | (ikey[1]! << 16) | (ikey[2]! << 8) | ikey[3]!) >>> 0;
}
export function ikeyLo(ikey: Uint8Array): number {
  return ((ikey[4]! << 24) | (ikey[5]! << 16) | (ikey[6]! << 8) | ikey[7]!) >>> 0;
}
