// Runs on: the main thread. What `ringkv bench` measures and prints, whatever it loads (a
// server over RESP, or a store in this process): per-request latencies of one test, the
// redis-benchmark-like result line, and the live progress line.
//
//   SET: rps=48211.0 (overall: 45120.3) avg_msec=1.012 (overall: 1.087)      (progress, \r-updated)
//   SET: 45120.30 requests per second, p50=0.615 msec, p99=1.807 msec       (result)

/** The progress line is rewritten this often: redis-benchmark's cadence. */
const PROGRESS_INTERVAL_MS = 250;

export interface BenchResult {
  test: string;
  requests: number;
  errors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

/** The latencies and counts of one test while it runs. */
export class TestRun {
  readonly startedAt = performance.now();
  done = 0;
  errors = 0;
  /** Sum of the recorded latencies (for the progress line's averages). */
  latencySumMs = 0;
  private readonly latencies: Float64Array;

  constructor(
    /** Upper case, as printed. */
    readonly test: string,
    requests: number,
  ) {
    this.latencies = new Float64Array(requests);
  }

  record(latencyMs: number, error: boolean): void {
    this.latencies[this.done++] = latencyMs;
    this.latencySumMs += latencyMs;
    if (error) this.errors++;
  }

  result(): BenchResult {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const sorted = this.latencies.subarray(0, this.done).sort();
    const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
    return { test: this.test, requests: this.done, errors: this.errors, seconds, p50Ms: pct(50), p99Ms: pct(99) };
  }
}

export function formatResult(r: BenchResult): string {
  const rps = r.requests / r.seconds;
  return `${r.test}: ${rps.toFixed(2)} requests per second, p50=${r.p50Ms.toFixed(3)} msec, p99=${r.p99Ms.toFixed(3)} msec` +
    (r.errors > 0 ? ` (${r.errors} errors)` : '');
}

/** redis-benchmark's progress line: the last interval's rate and mean latency, and the test's so far. */
export function formatProgress(test: string, rps: number, overallRps: number, avgMs: number, overallAvgMs: number): string {
  return `${test}: rps=${rps.toFixed(1)} (overall: ${overallRps.toFixed(1)}) avg_msec=${avgMs.toFixed(3)} (overall: ${overallAvgMs.toFixed(3)})`;
}

export interface ProgressSink {
  write(text: string): unknown;
}

/**
 * Rewrites the progress line of `run` on `out` every PROGRESS_INTERVAL_MS (with '\r');
 * the returned function stops it and clears the line. `out` undefined: no progress.
 */
export function showProgress(run: TestRun, out: ProgressSink | undefined): () => void {
  if (out === undefined) return () => {};
  let lastAt = run.startedAt;
  let lastDone = 0;
  let lastSum = 0;
  let shown = false;
  const timer = setInterval(() => {
    const now = performance.now();
    const n = run.done - lastDone;
    const rps = (n * 1000) / Math.max(1, now - lastAt);
    const overall = (run.done * 1000) / Math.max(1, now - run.startedAt);
    const avg = n > 0 ? (run.latencySumMs - lastSum) / n : 0;
    const overallAvg = run.done > 0 ? run.latencySumMs / run.done : 0;
    out.write(`\r\x1b[K${formatProgress(run.test, rps, overall, avg, overallAvg)}`);
    shown = true;
    lastAt = now;
    lastDone = run.done;
    lastSum = run.latencySumMs;
  }, PROGRESS_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    if (shown) out.write('\r\x1b[K');
  };
}
