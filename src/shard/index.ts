// Runs on: any thread; the worker itself (worker.ts) runs on a shard worker thread and is
// started by URL, so only its types are exported here (importing it would run it). A shard:
// the replica logic that applies frames to its LSM engines, its hint store, Merkle trees,
// tombstone purge, and the typed reading of the stats it reports.
export { readAllShardNumbers, readShardNumbers, type EngineNumbers, type ObjectNumbers, type ShardNumbers } from './shard-stats.js';
export { RANGE_MAX_BYTES, RANGE_MAX_ENTRIES, TREE_MAX_ENTRIES, type Replica } from './replica.js';
export type { ShardControl, ShardStartError, ShardWorkerData } from './worker.js';
export { SAMPLE_OBJECTS, type ObjectSample } from './object-sample.js';
export { DEFAULT_HINT_MAX_AGE_MS } from './hint-store.js';
export { DEFAULT_TOMBSTONE_GRACE_MS, PURGE_MAX_ENTRIES, purgeBefore } from './tombstone-gc.js';
export { differingLeaves, leafBounds } from './merkle.js';
