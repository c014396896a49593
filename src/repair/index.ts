// Runs on: the main thread. Repair between replicas, used by the embedded store and by the
// cluster alike: anti-entropy (Merkle tree exchange, tombstone purge) and the paged calls to
// replicas it, range cleanup and transfers make (replica-calls.ts), and the repair marks of
// shards whose WAL recovery skipped records (repair-marks.ts).
export { AntiEntropy, DEFAULT_PURGE_INTERVAL_MS, type AntiEntropyOptions, type AntiEntropyStats, type ExchangeAges, type ExchangeResult } from './anti-entropy.js';
export { BadReplies, ReplicaCalls, batches, bound, type LeafLevel, type RangePage } from './replica-calls.js';
export { RepairMarks, type RepairMarksOptions } from './repair-marks.js';
