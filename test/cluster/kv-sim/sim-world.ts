// A deterministic world for whole-cluster simulations: virtual time and one event queue,
// driven from one seed. An event runs, then every promise continuation it caused runs
// (one macrotask turn) before the next event, so a run is a pure function of its seed.
import { Random } from '../../../src/storage/env/random.js';

interface Event {
  at: number;
  seq: number;
  fn: () => void;
}

export class SimWorld {
  readonly random: Random;
  private time = 0;
  private seq = 0;
  private readonly queue: Event[] = [];

  constructor(readonly seed: number) {
    this.random = new Random(seed);
  }

  now(): number {
    return this.time;
  }

  /** Runs `fn` `delayMs` of virtual time from now (events at the same time run in the order scheduled). */
  schedule(delayMs: number, fn: () => void): void {
    const e: Event = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn };
    // Binary search: the queue stays sorted by (at, seq).
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.queue[mid]!;
      if (m.at < e.at || (m.at === e.at && m.seq < e.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, e);
  }

  /** Runs events until virtual time `until` or until none are left. */
  async runUntil(until: number): Promise<void> {
    while (this.queue.length > 0 && this.queue[0]!.at <= until) {
      const e = this.queue.shift()!;
      this.time = e.at;
      e.fn();
      await settle();
    }
    if (this.time < until) this.time = until;
  }

  /** A uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.random.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.random.next() < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[this.random.int(list.length)]!;
  }
}

/** Lets every pending promise continuation run (they all run before a macrotask). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
