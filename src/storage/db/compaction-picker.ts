// Runs on: any thread (pure). Chooses which SSTables to merge: size-tiered compaction
// (Cassandra's STCS, in the form of RocksDB's "universal" compaction: single-file runs).
//
// The tables are sorted runs, newest first; a merge always takes a contiguous stretch of
// them, so "newest wins" still holds after the merged run takes their place. Rules, in order:
//
// 1. Space amplification. If the runs newer than the oldest add up to more than
//    `maxSpaceAmpPercent` of the oldest (they may be overwrites and tombstones of its data),
//    merge everything. Disk use stays under (1 + maxSpaceAmpPercent/100) x the live data,
//    plus the merge in flight. While data only grows this fires each time it doubles, which
//    costs ~2 rewrites per byte over the data's life.
// 2. Tiers. Runs belong to a tier by size: tier t holds runs of roughly
//    tierRatio^t x the smallest run. When `minMergeWidth` or more adjacent runs share a tier,
//    merge them into one run of the next tier. Each byte is rewritten once per tier:
//    O(log_tierRatio(data / memtable)) times.
// 3. Count. If there are still more than `maxRuns` runs, merge the adjacent stretch with the
//    fewest bytes that brings the count back to `maxRuns`. Bounds read amplification: a
//    lookup probes at most `maxRuns` Bloom filters (plus tables flushed during a merge).
//
// Tombstones can be dropped only by a merge that includes the oldest run (nothing older
// could hold a value they hide); the engine adds its purge rule on top.

export interface CompactionOptions {
  /** Runs of one tier that are merged together. */
  minMergeWidth: number;
  /** Size ratio between one tier and the next. */
  tierRatio: number;
  /** Read-amplification bound: most runs kept before merging regardless of tiers. */
  maxRuns: number;
  maxSpaceAmpPercent: number;
}

export const DEFAULT_COMPACTION: CompactionOptions = {
  minMergeWidth: 4,
  tierRatio: 4,
  maxRuns: 12,
  maxSpaceAmpPercent: 100,
};

export interface CompactionPick {
  /** Index of the newest table to merge (tables are newest first). */
  start: number;
  /** One past the oldest table to merge. */
  end: number;
  reason: 'space-amp' | 'tier' | 'run-count';
}

/** `sizes[i]` is the size of table i, newest first. Returns undefined when nothing needs merging. */
export function pickCompaction(sizes: readonly number[], options: CompactionOptions): CompactionPick | undefined {
  const n = sizes.length;
  if (n < 2) return undefined;

  const oldest = sizes[n - 1]!;
  let newer = 0;
  for (let i = 0; i < n - 1; i++) newer += sizes[i]!;
  if (newer * 100 > options.maxSpaceAmpPercent * oldest) return { start: 0, end: n, reason: 'space-amp' };

  const smallest = Math.max(1, Math.min(...sizes));
  const tier = (size: number) => Math.floor(Math.log(Math.max(size, 1) / smallest) / Math.log(options.tierRatio));
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && tier(sizes[end]!) === tier(sizes[start]!)) end++;
    if (end - start >= options.minMergeWidth) return { start, end, reason: 'tier' };
    start = end;
  }

  if (n <= options.maxRuns) return undefined;
  const width = n - options.maxRuns + 1;
  let best = 0;
  let bestBytes = Infinity;
  for (let start = 0; start + width <= n; start++) {
    let bytes = 0;
    for (let i = start; i < start + width; i++) bytes += sizes[i]!;
    if (bytes < bestBytes) { best = start; bestBytes = bytes; }
  }
  return { start: best, end: best + width, reason: 'run-count' };
}
