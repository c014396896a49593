// Runs on: the browser (the dashboard page). The ring as an SVG circle: one arc per
// partition, clockwise from the top in token order, filled with its owner's colour; arcs
// whose owner is down are faded and outlined red (their writes go to fallbacks as hints).
// Each arc carries data-partition and data-owner (the browser test counts them).
/// <reference lib="dom" />
import { s } from './dom.js';

/** Drawing size in SVG units (scaled by CSS). */
const SIZE = 320;
const OUTER = 150;
const INNER = 100;

export interface RingPicture {
  readonly epoch: number;
  readonly q: number;
  readonly n: number;
  /** Member id per partition. */
  readonly owners: readonly string[];
  readonly preferenceLists: Readonly<Record<string, readonly string[]>>;
  readonly colours: ReadonlyMap<string, string>;
  readonly down: ReadonlySet<string>;
}

function point(r: number, turn: number): string {
  const a = turn * 2 * Math.PI - Math.PI / 2;
  return `${(SIZE / 2 + r * Math.cos(a)).toFixed(2)} ${(SIZE / 2 + r * Math.sin(a)).toFixed(2)}`;
}

function arc(p: number, q: number): string {
  const from = p / q;
  const to = (p + 1) / q;
  const large = to - from > 0.5 ? 1 : 0;
  return `M ${point(OUTER, from)} A ${OUTER} ${OUTER} 0 ${large} 1 ${point(OUTER, to)} L ${point(INNER, to)} A ${INNER} ${INNER} 0 ${large} 0 ${point(INNER, from)} Z`;
}

export function ringSvg(r: RingPicture): SVGElement {
  const svg = s('svg', { viewBox: `0 0 ${SIZE} ${SIZE}`, width: SIZE, height: SIZE, 'data-epoch': r.epoch, 'data-partitions': r.q, role: 'img' });
  svg.append(s('title', {}, `ring at epoch ${r.epoch}: ${r.q} partitions`));
  // A gap between arcs only when they are wide enough to show one.
  const stroke = r.q <= 512 ? 0.6 : 0;
  for (let p = 0; p < r.q; p++) {
    const owner = r.owners[p] ?? '?';
    const list = r.preferenceLists[p];
    const down = r.down.has(owner);
    const path = s('path', {
      d: arc(p, r.q), fill: r.colours.get(owner) ?? '#777', stroke: down ? '' : '#14161a', 'stroke-width': stroke,
      'data-partition': p, 'data-owner': owner, class: down ? 'owner-down' : 'owner-up',
    });
    path.append(s('title', {}, `partition ${p}: ${owner}${down ? ' (down: fallbacks hold its writes)' : ''}${list ? `; replicas ${list.join(', ')}` : ''}`));
    svg.append(path);
  }
  const mid = SIZE / 2;
  svg.append(s('text', { x: mid, y: mid - 8, 'text-anchor': 'middle', 'font-size': 22, 'font-weight': 600, id: 'ring-epoch' }, `epoch ${r.epoch}`));
  svg.append(s('text', { x: mid, y: mid + 16, 'text-anchor': 'middle', 'font-size': 13 }, `${r.q} partitions · N=${r.n}`));
  return svg;
}
