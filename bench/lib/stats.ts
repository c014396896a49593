// Runs on: main thread of a bench process. Latency samples, percentiles and number formatting.

import { hrtime } from 'node:process';

/**
 * A fixed-capacity store of latency samples in nanoseconds. Preallocated so adding a sample in
 * a timed loop allocates nothing.
 */
export class LatencySampler {
  private readonly samples: Float64Array;
  private count = 0;

  constructor(
    capacity: number,
    /** Subtracted from every sample: the cost of the two hrtime calls that bracket it. */
    private readonly overheadNs = 0,
  ) {
    this.samples = new Float64Array(Math.max(1, capacity));
  }

  add(ns: number): void {
    if (this.count < this.samples.length) this.samples[this.count++] = Math.max(0, ns - this.overheadNs);
  }

  get size(): number {
    return this.count;
  }

  summary(): LatencySummary {
    const sorted = this.samples.slice(0, this.count).sort();
    return {
      samples: this.count,
      p50Ns: percentile(sorted, 0.5),
      p99Ns: percentile(sorted, 0.99),
      maxNs: this.count > 0 ? (sorted[this.count - 1] ?? 0) : 0,
    };
  }
}

export interface LatencySummary {
  samples: number;
  p50Ns: number;
  p99Ns: number;
  maxNs: number;
}

/** Nearest-rank percentile of an ascending array; 0 when empty. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** Median cost of `hrtime.bigint()` twice in a row, i.e. what bracketing one op adds to it. */
export function timerOverheadNs(rounds = 20_000): number {
  const s = new LatencySampler(rounds);
  for (let i = 0; i < rounds; i++) {
    const t0 = hrtime.bigint();
    const t1 = hrtime.bigint();
    s.add(Number(t1 - t0));
  }
  return s.summary().p50Ns;
}

export function formatOps(perSec: number): string {
  if (!Number.isFinite(perSec) || perSec <= 0) return '-';
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)}M`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)}k`;
  return perSec.toFixed(0);
}

export function formatNs(ns: number): string {
  if (!Number.isFinite(ns) || ns <= 0) return '-';
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function formatCount(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
}
