// Runs on: any thread. The reserved key space: keys that begin with `\0ringkv:` belong to the
// store itself (big values' chunks and markers, the repair probe). Users cannot write them and
// SCAN does not list them.
//
//   chunk   \0ringkv:c: ‖ SHA-256 of the chunk's bytes (32 bytes)
//   marker  \0ringkv:m: ‖ the user's key (the key held, or holds, a manifest)
//
// ON DISK: these prefixes never change.
import { equalBytes } from '../encoding/index.js';

export const RESERVED_PREFIX: Uint8Array = new TextEncoder().encode('\u0000ringkv:');
export const CHUNK_PREFIX: Uint8Array = new TextEncoder().encode('\u0000ringkv:c:');
export const MARKER_PREFIX: Uint8Array = new TextEncoder().encode('\u0000ringkv:m:');

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  return key.length >= prefix.length && equalBytes(key.subarray(0, prefix.length), prefix);
}

/** Whether `key` is in the reserved key space (one byte compare for nearly every user key). */
export function isReservedKey(key: Uint8Array): boolean {
  return key.length > 0 && key[0] === 0 && startsWith(key, RESERVED_PREFIX);
}

export function isChunkKey(key: Uint8Array): boolean {
  return startsWith(key, CHUNK_PREFIX);
}

export function isMarkerKey(key: Uint8Array): boolean {
  return startsWith(key, MARKER_PREFIX);
}

function prefixed(prefix: Uint8Array, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + rest.length);
  out.set(prefix, 0);
  out.set(rest, prefix.length);
  return out;
}

export function chunkKey(hash: Uint8Array): Uint8Array {
  return prefixed(CHUNK_PREFIX, hash);
}

export function markerKey(userKey: Uint8Array): Uint8Array {
  return prefixed(MARKER_PREFIX, userKey);
}

/** The user key a marker key names. REQUIRES: isMarkerKey(key). */
export function markedKey(key: Uint8Array): Uint8Array {
  return key.subarray(MARKER_PREFIX.length);
}

/** The hash a chunk key names. REQUIRES: isChunkKey(key). */
export function chunkHashOf(key: Uint8Array): Uint8Array {
  return key.subarray(CHUNK_PREFIX.length);
}
