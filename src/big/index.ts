// Runs on: any thread. Big values (issue 15): the manifest format,
// the reserved key space of chunks and markers, the limits. The chunk writer and reader and
// the GC sweep are still to come (docs/design.md, Big values).
export { CHUNK_BYTES, BIG_VALUE_THRESHOLD, MAX_BIG_VALUE_BYTES, CHUNKS_IN_FLIGHT, DEFAULT_CHUNK_GRACE_MS, DEFAULT_CHUNK_GC_INTERVAL_MS } from './limits.js';
export { HASH_BYTES, MANIFEST_MAGIC, MANIFEST_MAGIC0, MANIFEST_VERSION, type Manifest, chunkLength, decodeManifest, encodeManifest, mayBeManifest } from './manifest.js';
export { CHUNK_PREFIX, MARKER_PREFIX, RESERVED_PREFIX, chunkHashOf, chunkKey, isChunkKey, isMarkerKey, isReservedKey, markedKey, markerKey } from './keys.js';
