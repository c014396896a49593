// Runs on: the main thread. Latency per command type and per consistency level, for INFO
// commandstats / latencystats and the admin port's /metrics histograms.
//
// The hot path is one clock read per reply (connection.ts reads the clock once per socket
// read for the start of its commands, once per reply for the end) and a few typed-array
// increments. The buckets are src/histogram.ts's log-linear ones; a percentile answers its
// bucket's upper bound (Redis's own latencystats are HdrHistogram estimates, too).

import { Histogram } from '../../histogram.js';

export { BUCKETS, bucketOf, bucketUpperBound, Histogram } from '../../histogram.js';

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
