// Runs on: any thread. Counters of the version module, one set per thread (each shard
// worker has its own module instance and reports them with its stats). Plain numbers:
// incrementing one costs nothing on the hot path.

export const versionMetrics = {
  /** Puts refused with ERR_TOO_MANY_SIBLINGS. */
  tooManySiblings: 0,
  /** Puts that created a sibling (the result held more than one value). */
  siblingPuts: 0,
  /** Clock entries dropped by pruneObject. */
  prunedEntries: 0,
};

export type VersionMetrics = typeof versionMetrics;

/** A copy of this thread's counters. */
export function versionMetricsSnapshot(): VersionMetrics {
  return { ...versionMetrics };
}
