// Runs on: any thread. The sizes and times of big values, each with its reason
// (docs/design.md, Big values).

/** A chunk's length (the last chunk of a value holds the rest): Riak CS's 1 MiB. */
export const CHUNK_BYTES = 1024 * 1024;
/** Values longer than this are chunked; one that fits a chunk is stored plain, as before. */
export const BIG_VALUE_THRESHOLD = CHUNK_BYTES;
/** The largest value: Redis's proto-max-bulk-len default. */
export const MAX_BIG_VALUE_BYTES = 512 * 1024 * 1024;
/** Chunk writes (and reads ahead) in flight per value: enough to keep every shard busy, few enough to bound memory at a few MiB per value. */
export const CHUNKS_IN_FLIGHT = 4;
/** How long a chunk stays unreferenced and unchanged before the GC removes it: far longer than any upload takes. */
export const DEFAULT_CHUNK_GRACE_MS = 60 * 60 * 1000;
/** Between GC sweeps: a sweep lists every key, so not often. */
export const DEFAULT_CHUNK_GC_INTERVAL_MS = 10 * 60 * 1000;
