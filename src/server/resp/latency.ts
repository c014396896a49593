// Runs on: the main thread. Latency per command type and per consistency level, for INFO
// commandstats / latencystats and the admin port's /metrics histograms.
//
// The hot path is one clock read per reply (connection.ts reads the clock once per socket
// read for the start of its commands, once per reply for the end) and a few typed-array
// increments. Buckets are log-linear over microseconds: values 0..15 have a bucket each,
// then every power of two is split into SUB_BUCKETS equal parts (at most 12.5% wide), up
// to 2^MAX_EXPONENT µs (~71 minutes); longer ones land in the last bucket. A percentile
// answers its bucket's upper bound (Redis's own latencystats are HdrHistogram
// estimates, too).

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

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sumUs = 0;

  record(us: number): void {
    this.counts[bucketOf(us)]!++;
    this.count++;
    this.sumUs += us;
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

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumUs = 0;
  }
}

/** One command type's figures (INFO commandstats). */
export class CommandStat {
  readonly latency = new Histogram();
  /** Answered with an error by the command itself. */
  failed = 0;
  /** Refused before running (wrong arity, not authenticated, an EXECABORT'd queue). */
  rejected = 0;

  reset(): void {
    this.latency.reset();
    this.failed = 0;
    this.rejected = 0;
  }
}

/** Label of requests without a consistency level of their own (the store's R and W). */
export const DEFAULT_LEVEL = 'default';

/** Every command's and every consistency level's latency, since start or CONFIG RESETSTAT. */
export class LatencyRecorder {
  readonly commands = new Map<string, CommandStat>();
  readonly levels = new Map<string, Histogram>();

  /** The figures of command `name` (lower case), made on first use. */
  command(name: string): CommandStat {
    let c = this.commands.get(name);
    if (c === undefined) this.commands.set(name, (c = new CommandStat()));
    return c;
  }

  level(name: string): Histogram {
    let h = this.levels.get(name);
    if (h === undefined) this.levels.set(name, (h = new Histogram()));
    return h;
  }

  /** A command answered after `us` microseconds under consistency `level`; `failed`: an error reply. */
  record(stat: CommandStat, level: Histogram, us: number, failed: boolean): void {
    const whole = us < 0 ? 0 : Math.round(us);
    stat.latency.record(whole);
    level.record(whole);
    if (failed) stat.failed++;
  }

  /** The largest value (µs) of bucket i (the admin port's /metrics reads the buckets). */
  bucketUpperBoundUs(i: number): number {
    return bucketUpperBound(i);
  }

  reset(): void {
    for (const c of this.commands.values()) c.reset();
    for (const h of this.levels.values()) h.reset();
  }
}

/** Redis's number format in INFO (up to 3 decimals, no trailing zeros). */
function decimal(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

/** INFO commandstats: `cmdstat_<cmd>:calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=..`. */
export function commandstatsFields(r: LatencyRecorder): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, c] of [...r.commands].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const calls = c.latency.count;
    if (calls === 0 && c.rejected === 0) continue;
    out[`cmdstat_${name}`] =
      `calls=${calls},usec=${c.latency.sumUs},usec_per_call=${decimal(calls === 0 ? 0 : c.latency.sumUs / calls)},` +
      `rejected_calls=${c.rejected},failed_calls=${c.failed}`;
  }
  return out;
}

/** INFO latencystats: `latency_percentiles_usec_<cmd>:p50=..,p99=..,p99.9=..`. */
export function latencystatsFields(r: LatencyRecorder): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, c] of [...r.commands].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const h = c.latency;
    if (h.count === 0) continue;
    out[`latency_percentiles_usec_${name}`] = `p50=${decimal(h.percentile(0.5))},p99=${decimal(h.percentile(0.99))},p99.9=${decimal(h.percentile(0.999))}`;
  }
  return out;
}
