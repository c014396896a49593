// Runs on: the test's main thread. Simulated time: a clock that moves only when the
// scheduler runs the next event, and a queue of events ordered by (time, insertion order),
// so one seed gives one order of everything, every run.
import type { TimeSource } from '../../../src/cluster/membership/time-source.js';

interface Event {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

export class SimClock implements TimeSource {
  time = 0;
  now(): number {
    return this.time;
  }
}

/** A binary min-heap of events; ties run in the order they were scheduled. */
export class Scheduler {
  readonly clock = new SimClock();
  private readonly heap: Event[] = [];
  private seq = 0;
  /** Called after every event (invariant checks). */
  afterEach: (() => void) | undefined;

  get now(): number {
    return this.clock.time;
  }

  /** Runs `run` at now + delay (delay >= 0). */
  after(delay: number, run: () => void): void {
    if (!(delay >= 0)) throw new Error(`negative delay ${delay}`);
    this.push({ time: this.clock.time + delay, seq: this.seq++, run });
  }

  /** Runs every event due up to `time`, then sets the clock to `time`. */
  runUntil(time: number): void {
    while (this.heap.length > 0 && this.heap[0]!.time <= time) {
      const e = this.pop();
      this.clock.time = e.time;
      e.run();
      this.afterEach?.();
    }
    if (time > this.clock.time) this.clock.time = time;
  }

  run(ms: number): void {
    this.runUntil(this.clock.time + ms);
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Event {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
