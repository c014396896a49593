// Runs on: the browser (the dashboard page). Histograms as the shard stats send them
// (HistogramSummary of src/histogram.ts: non-empty [upper bound µs, count] buckets): the
// difference between two polls (what happened in between), percentiles of a bucket list,
// several merged into one, and a bar picture of one (log-spaced buckets left to right).
/// <reference lib="dom" />
import type { HistogramSummary } from '../../../../histogram.js';
import { s } from './dom.js';

type Buckets = readonly (readonly [number, number])[];

const WIDTH = 560;
const HEIGHT = 150;
const BOTTOM = 18;
/** Room above the bars for the totals line. */
const TOP = 20;

/** The buckets of `now` less those of `before` (the same histogram read one poll earlier); all of `now` if it was reset since. */
export function bucketsBetween(now: HistogramSummary, before: HistogramSummary | undefined): [number, number][] {
  if (before === undefined || before.count > now.count) return now.buckets.map(([u, c]) => [u, c]);
  const earlier = new Map(before.buckets.map(([u, c]) => [u, c]));
  const out: [number, number][] = [];
  for (const [u, c] of now.buckets) {
    const d = c - (earlier.get(u) ?? 0);
    if (d > 0) out.push([u, d]);
  }
  return out;
}

/** The upper bound (µs) of the bucket holding the `q` quantile; 0 for no values. */
export function percentileOf(buckets: Buckets, q: number): number {
  let total = 0;
  for (const [, c] of buckets) total += c;
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [u, c] of buckets) {
    seen += c;
    if (seen >= rank) return u;
  }
  return buckets.at(-1)![0];
}

/** Several histograms' buckets added up (same bucket bounds everywhere), lowest first. */
export function mergeBuckets(lists: readonly Buckets[]): [number, number][] {
  const sum = new Map<number, number>();
  for (const list of lists) for (const [u, c] of list) sum.set(u, (sum.get(u) ?? 0) + c);
  return [...sum].sort((a, b) => a[0] - b[0]);
}

/** A duration in µs, short: 850 µs, 1.2 ms, 3.4 s. */
export function micros(us: number): string {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1_000_000).toFixed(1)} s`;
}

/** Bars of `buckets` (their counts), each labelled below by its upper bound now and then; p50 and p99 marked. */
export function histogramSvg(buckets: Buckets, colour: string): SVGElement {
  const total = buckets.reduce((n, [, c]) => n + c, 0);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: '100%', 'data-buckets': buckets.length, 'data-count': total });
  if (total === 0) {
    svg.append(s('text', { x: WIDTH / 2, y: HEIGHT / 2, 'text-anchor': 'middle' }, 'no fsync yet'));
    return svg;
  }
  const max = Math.max(...buckets.map(([, c]) => c));
  const slot = WIDTH / Math.max(buckets.length, 8);
  const p50 = percentileOf(buckets, 0.5);
  const p99 = percentileOf(buckets, 0.99);
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 6));
  buckets.forEach(([upper, count], i) => {
    const height = Math.max(1, (count / max) * (HEIGHT - TOP - BOTTOM));
    svg.append(s('rect', { x: i * slot + 1, y: HEIGHT - BOTTOM - height, width: Math.max(1, slot - 2), height, fill: colour, 'data-upper-us': upper, 'data-count': count }));
    if (i % labelEvery === 0) svg.append(s('text', { x: i * slot + 1, y: HEIGHT - 3 }, `≤${micros(upper)}`));
  });
  svg.append(s('text', { x: WIDTH, y: TOP - 6, 'text-anchor': 'end' }, `${total} fsyncs · p50 ${micros(p50)} · p99 ${micros(p99)}`));
  return svg;
}
