// Runs on: the browser (the dashboard page). A small live line chart in SVG: a few series
// over a sliding window of time, redrawn on every poll. Plain SVG polylines are enough for
// a few hundred points a series; no chart library is loaded (see README "Dashboard").
/// <reference lib="dom" />
import { s } from './dom.js';

const WIDTH = 560;
const HEIGHT = 170;
/** Room for the y-axis labels on the left and the time axis below. */
const LEFT = 44;
const BOTTOM = 18;
const TOP = 8;
/** The time axis spans the history there is, at least this much (a fresh page is not a dot). */
const MIN_SPAN_MS = 30_000;

export interface Series {
  readonly name: string;
  readonly colour: string;
  /** [time ms, value] points, oldest first. */
  readonly points: [number, number][];
}

export class LiveChart {
  constructor(
    private readonly host: HTMLElement,
    readonly series: readonly Series[],
    /** How much history is kept (and at most shown), in ms. */
    private readonly windowMs: number,
    private readonly unit: string,
  ) {}

  /** Adds one value per series (in series order) at time `t`, dropping points past the window. */
  add(t: number, values: readonly number[]): void {
    this.series.forEach((sr, i) => {
      sr.points.push([t, values[i] ?? 0]);
      while (sr.points.length > 0 && sr.points[0]![0] < t - this.windowMs) sr.points.shift();
    });
  }

  draw(now: number): void {
    const max = niceMax(Math.max(1, ...this.series.flatMap((sr) => sr.points.map((p) => p[1]))));
    const first = Math.min(now, ...this.series.map((sr) => sr.points[0]?.[0] ?? now));
    const span = Math.min(this.windowMs, Math.max(MIN_SPAN_MS, now - first));
    const x = (t: number): number => LEFT + ((t - (now - span)) / span) * (WIDTH - LEFT);
    const y = (v: number): number => TOP + (1 - v / max) * (HEIGHT - TOP - BOTTOM);
    const svg = s('svg', { class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: '100%', 'data-max': max });
    for (const frac of [0, 0.5, 1]) {
      svg.append(s('line', { class: 'axis', x1: LEFT, x2: WIDTH, y1: y(max * frac), y2: y(max * frac) }));
      svg.append(s('text', { x: LEFT - 4, y: y(max * frac) + 4, 'text-anchor': 'end' }, short(max * frac)));
    }
    svg.append(s('text', { x: LEFT, y: HEIGHT - 3 }, span >= 120_000 ? `-${Math.round(span / 60_000)} min` : `-${Math.round(span / 1000)} s`));
    svg.append(s('text', { x: WIDTH, y: HEIGHT - 3, 'text-anchor': 'end' }, 'now'));
    const legend: Node[] = [];
    for (const sr of this.series) {
      const last = sr.points.at(-1)?.[1] ?? 0;
      svg.append(s('polyline', {
        points: sr.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
        fill: 'none', stroke: sr.colour, 'stroke-width': 1.8,
        'data-series': sr.name, 'data-points': sr.points.length, 'data-last': last,
        'data-peak': Math.max(0, ...sr.points.map((p) => p[1])),
      }));
      legend.push(s('tspan', { fill: sr.colour, dx: 10 }, `● ${sr.name} ${short(last)}${this.unit}`));
    }
    svg.append(s('text', { x: LEFT + 6, y: TOP + 10 }, ...legend));
    this.host.replaceChildren(svg);
  }
}

/** 1, 2 or 5 times a power of ten at or above v: round axis labels. */
function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function short(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1);
}
