// Runs on: any thread (it imports nothing). A latency histogram over microseconds, cheap
// enough for a hot path: recording is a few typed-array increments, no allocation. Kept by
// the RESP server per command (server/resp/latency.ts), by the coordinator per shard link
// (the round trip of each request), and by each shard for its fsyncs (the real Vfs).
//
// Buckets are log-linear: values 0..15 µs have a bucket each, then every power of two is
// split into SUB_BUCKETS equal parts (at most 12.5% wide), up to 2^MAX_EXPONENT µs (~71
// minutes); longer ones land in the last bucket. A percentile answers its bucket's upper
// bound. A histogram crosses threads and JSON as a HistogramSummary (its non-empty buckets).

/** Sub-buckets per power of two: 8 keeps a bucket within 12.5% of its value. */
const SUB_BITS = 3;
const SUB_BUCKETS = 1 << SUB_BITS;
/** Values below this (µs) have a bucket each. */
const LINEAR = 2 * SUB_BUCKETS;
/** Longest value tracked apart: 2^32 µs. */
const MAX_EXPONENT = 32;
/** Bucket count: the linear part, then SUB_BUCKETS per power of two from LINEAR up. */
export const BUCKETS = LINEAR + (MAX_EXPONENT - (SUB_BITS + 1)) * SUB_BUCKETS;

/** The bucket of `us` microseconds (an integer >= 0). */
export function bucketOf(us: number): number {
  if (us < LINEAR) return us;
  if (us >= 2 ** MAX_EXPONENT) return BUCKETS - 1;
  const exponent = 31 - Math.clz32(us); // >= SUB_BITS + 1
  const sub = (us >>> (exponent - SUB_BITS)) & (SUB_BUCKETS - 1);
  return LINEAR + (exponent - SUB_BITS - 1) * SUB_BUCKETS + sub;
}

/** The largest value (µs) in bucket `i`. */
export function bucketUpperBound(i: number): number {
  if (i < LINEAR) return i;
  const exponent = Math.floor((i - LINEAR) / SUB_BUCKETS) + SUB_BITS + 1;
  const sub = (i - LINEAR) % SUB_BUCKETS;
  return (1 << SUB_BITS | sub) * 2 ** (exponent - SUB_BITS) + 2 ** (exponent - SUB_BITS) - 1;
}

/**
 * A histogram as it crosses a thread or goes out as JSON (/stats): its totals, p50 and p99,
 * and its non-empty buckets as [upper bound µs, count], lowest first.
 */
export interface HistogramSummary {
  count: number;
  sumUs: number;
  p50Us: number;
  p99Us: number;
  buckets: [number, number][];
}

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sumUs = 0;

  /** REQUIRES: `us` is an integer >= 0 (see recordElapsed for a clock difference). */
  record(us: number): void {
    this.counts[bucketOf(us)]!++;
    this.count++;
    this.sumUs += us;
  }

  /** Records `ms` milliseconds (a performance.now() difference; negative counts as 0). */
  recordMs(ms: number): void {
    this.record(ms > 0 ? Math.round(ms * 1000) : 0);
  }

  /** The value (µs) at or below which a fraction `q` of the recorded values lie; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return bucketUpperBound(i);
    }
    return bucketUpperBound(BUCKETS - 1);
  }

  summary(): HistogramSummary {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([bucketUpperBound(i), this.counts[i]!]);
    return { count: this.count, sumUs: this.sumUs, p50Us: this.percentile(0.5), p99Us: this.percentile(0.99), buckets };
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumUs = 0;
  }
}

/** An empty summary (a shard that is down, a histogram not kept). */
export function emptySummary(): HistogramSummary {
  return { count: 0, sumUs: 0, p50Us: 0, p99Us: 0, buckets: [] };
}

/** Reads a summary back from JSON or a thread's message: anything malformed reads as empty. */
export function readSummary(v: unknown): HistogramSummary {
  if (typeof v !== 'object' || v === null) return emptySummary();
  const o = v as Record<string, unknown>;
  const n = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  const buckets = Array.isArray(o.buckets)
    ? o.buckets.filter((b): b is [number, number] => Array.isArray(b) && b.length === 2 && typeof b[0] === 'number' && typeof b[1] === 'number')
    : [];
  return { count: n(o.count), sumUs: n(o.sumUs), p50Us: n(o.p50Us), p99Us: n(o.p99Us), buckets };
}
