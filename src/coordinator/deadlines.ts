// Runs on: the main thread. Timeouts of a transport's requests in flight without a timer
// per request (the shard transport's and the peer transport's): one DeadlineQueue
// (deadline-queue.ts) per distinct timeout value, one timer armed for the earliest head (a setTimeout + clearTimeout per request
// costs more than the rest of a small request).
import { DeadlineQueue } from './deadline-queue.js';

/** setTimeout's longest delay. */
const MAX_TIMER_MS = 0x7fffffff;

/** What a tracked request carries. `id` 0 means settled (its queue entry goes stale). */
export interface Deadlined {
  id: number;
  timeoutMs: number;
  queue: DeadlineQueue<Deadlined> | undefined;
}

export class Deadlines<T extends Deadlined> {
  private readonly queues: DeadlineQueue<Deadlined>[] = [];
  private last: DeadlineQueue<Deadlined> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (Infinity: none armed). */
  private timerDeadline = Infinity;
  private readonly onTimer = (): void => this.expire();

  /** @param onExpire called for each request past its deadline; it must settle it (set id 0, call settled). */
  constructor(private readonly onExpire: (p: T) => void) {}

  /** Tracks `p` from now; returns now (performance.now()), for the caller's latency. */
  track(p: T): number {
    const timeoutMs = p.timeoutMs;
    let q = this.last;
    if (q === undefined || q.timeoutMs !== timeoutMs) q = this.queueFor(timeoutMs);
    p.queue = q;
    const now = performance.now();
    const deadline = now + timeoutMs;
    q.push(p, deadline);
    if (deadline < this.timerDeadline) this.arm(deadline);
    return now;
  }

  /** After `p` was settled (its id set to 0): drops stale entries at its queue's head. */
  settled(p: T): void {
    p.queue?.trim();
    p.queue = undefined;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDeadline = Infinity;
  }

  private queueFor(timeoutMs: number): DeadlineQueue<Deadlined> {
    let q = this.queues.find((x) => x.timeoutMs === timeoutMs || (Number.isNaN(x.timeoutMs) && Number.isNaN(timeoutMs)));
    if (q === undefined) {
      q = new DeadlineQueue<Deadlined>(timeoutMs);
      this.queues.push(q);
    }
    this.last = q;
    return q;
  }

  private arm(deadline: number): void {
    clearTimeout(this.timer);
    this.timerDeadline = deadline;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(deadline - performance.now())));
    this.timer = setTimeout(this.onTimer, delay);
  }

  private expire(): void {
    this.timer = undefined;
    this.timerDeadline = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const q of this.queues) {
      q.trim();
      while (q.size > 0 && !(q.headDeadline > now)) {
        this.onExpire(q.shift() as T);
        q.trim();
      }
      if (q.headDeadline < next) next = q.headDeadline;
    }
    if (next < this.timerDeadline) this.arm(next);
  }
}
