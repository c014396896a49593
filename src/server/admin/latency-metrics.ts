// Runs on: the main thread. /metrics histograms of latency, read on each scrape (nothing is
// done per request for Prometheus): the RESP server's per command and per consistency level
// (resp/latency.ts), and from the shard stats each shard's request round trip (kept by the
// coordinator's request table) and fsync times (kept by the shard's file layer). Each one
// arrives as a HistogramSummary (src/histogram.ts) and is turned into cumulative `le` buckets.
//
// A Prometheus bucket `le` counts every log-linear bucket whose upper bound is at most `le`:
// a value in a log-linear bucket that straddles `le` counts in the next `le` (an error of
// at most 12.5% of the value).
import type { Registry } from 'prom-client';
import type { HistogramSummary } from '../../histogram.js';
import type { ShardNumbers } from '../../shard/index.js';

/** The bounds (seconds) of the exported buckets: 10 µs to 10 s, about 2.5x apart. */
export const LATENCY_BUCKETS_SECONDS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One histogram as the RESP server keeps it (typed here: the admin port does not import resp). */
export interface HistogramView {
  readonly count: number;
  /** The value (µs) at or below which a fraction `q` of the values lie (its bucket's upper bound); 0 when empty. */
  percentile(q: number): number;
  summary(): HistogramSummary;
}

/** What the RESP server's LatencyRecorder offers. */
export interface LatencySource {
  readonly commands: ReadonlyMap<string, { readonly latency: HistogramView }>;
  readonly levels: ReadonlyMap<string, HistogramView>;
}

interface Value {
  value: number;
  labels: Record<string, string>;
  metricName: string;
}

type Summaries = () => Iterable<[string, HistogramSummary]>;

/** A histogram metric for prom-client's Registry whose values are read from `histograms()` on scrape. */
class ScrapedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly histograms: Summaries,
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = [];
    for (const [key, h] of this.histograms()) {
      if (h.count === 0) continue;
      let i = 0;
      let cumulative = 0;
      for (const le of LATENCY_BUCKETS_SECONDS) {
        const leUs = le * 1e6;
        while (i < h.buckets.length && h.buckets[i]![0] <= leUs) cumulative += h.buckets[i++]![1];
        values.push({ metricName: `${this.name}_bucket`, labels: { [this.label]: key, le: String(le) }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { [this.label]: key, le: '+Inf' }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: key }, value: h.sumUs / 1e6 });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: key }, value: h.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {}
}

function add(registry: Registry, m: ScrapedHistogram): void {
  registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
}

/** Registers the request-latency histograms of `source` in `registry`. */
export function registerLatencyMetrics(registry: Registry, source: LatencySource): void {
  add(registry, new ScrapedHistogram('ringkv_request_duration_seconds', 'RESP request latency, from the socket read to the reply, per command.', 'command', () =>
    [...source.commands].map(([name, c]) => [name, c.latency.summary()] as [string, HistogramSummary])));
  add(registry, new ScrapedHistogram('ringkv_request_consistency_duration_seconds', 'RESP request latency per consistency level of the connection (default: the store\'s R and W).', 'consistency', () =>
    [...source.levels].map(([name, h]) => [name, h.summary()] as [string, HistogramSummary])));
}

/**
 * Registers `ringkv_shard_request_duration_seconds` and `ringkv_fsync_seconds` (label
 * `shard`), read from the shard numbers of the scrape in progress (`shards()`).
 */
export function registerShardHistograms(registry: Registry, shards: () => readonly ShardNumbers[]): void {
  add(registry, new ScrapedHistogram('ringkv_shard_request_duration_seconds', 'Round trip of a request to a local shard, from its send to its reply, per shard (since the process started).', 'shard', () =>
    shards().map((sh) => [sh.id, sh.latency] as [string, HistogramSummary])));
  add(registry, new ScrapedHistogram('ringkv_fsync_seconds', 'fsync of a shard\'s files (WAL, flushed tables, manifest, directories) on the shard\'s thread, per shard, since its worker started (compactions\' fsyncs run in job threads and are not in it).', 'shard', () =>
    shards().map((sh) => [sh.id, sh.fsync] as [string, HistogramSummary])));
}

/** GET /latency (the dashboard's latency chart): per command type, calls and p50/p99 since start or CONFIG RESETSTAT, busiest first. */
export function latencyAnswer(source: LatencySource): { commands: { command: string; calls: number; p50Us: number; p99Us: number }[] } {
  const commands = [...source.commands]
    .filter(([, c]) => c.latency.count > 0)
    .map(([command, c]) => ({ command, calls: c.latency.count, p50Us: c.latency.percentile(0.5), p99Us: c.latency.percentile(0.99) }))
    .sort((a, b) => b.calls - a.calls);
  return { commands };
}
