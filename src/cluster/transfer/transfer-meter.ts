// Runs on: the main thread. How fast transfers stream and when they should be done: bytes
// per second over the last RATE_WINDOW_MS, and an ETA for what is pending. The ETA assumes
// a partition's bytes spread evenly over its token range (keys are hashed), so a task that
// has sent B bytes while its cursor moved a fraction f of its range has about B × (1 − p) / f
// left at progress p; a task not started yet is taken as the mean size of those measured.
// Counted from pages as they are acknowledged; nothing of it is saved (a restart measures anew).
import type { TransferProgress } from './transfer-file.js';

/** The rate is the bytes of the pages acknowledged in a window this long: smooths pages' bursts. */
const RATE_WINDOW_MS = 5000;

/** What a task sent since this process took it up. */
interface Sent {
  bytes: number;
  /** Its progress (0..1) when this process sent its first page. */
  fromProgress: number;
}

export class TransferMeter {
  private readonly sent = new WeakMap<TransferProgress, Sent>();
  private windowStart = -1;
  private windowBytes = 0;
  private lastRate = 0;
  private lastPageAt = -1;

  /** A page of `bytes` of `task` was acknowledged; `before` is the task's progress before it. */
  page(task: TransferProgress, bytes: number, before: number, now: number): void {
    let s = this.sent.get(task);
    if (s === undefined) this.sent.set(task, (s = { bytes: 0, fromProgress: before }));
    s.bytes += bytes;
    if (this.windowStart < 0 || now - this.lastPageAt > RATE_WINDOW_MS) {
      this.windowStart = now;
      this.windowBytes = 0;
      this.lastRate = 0;
    }
    this.windowBytes += bytes;
    this.lastPageAt = now;
    if (now - this.windowStart >= RATE_WINDOW_MS) {
      this.lastRate = (this.windowBytes * 1000) / (now - this.windowStart);
      this.windowStart = now;
      this.windowBytes = 0;
    }
  }

  /** Bytes per second lately (0 once no page came for a window). */
  rate(now: number): number {
    if (this.lastPageAt < 0 || now - this.lastPageAt > RATE_WINDOW_MS) return 0;
    if (this.lastRate > 0) return this.lastRate;
    const span = now - this.windowStart;
    return span > 0 ? (this.windowBytes * 1000) / span : 0;
  }

  /** Bytes `task` has sent since this process took it up. */
  bytesOf(task: TransferProgress): number {
    return this.sent.get(task)?.bytes ?? 0;
  }

  /**
   * Estimated bytes still to send for `tasks` (progress of each from `progressOf`), or null
   * while no task has measured a size yet.
   */
  remainingBytes(tasks: readonly TransferProgress[], progressOf: (t: TransferProgress) => number): number | null {
    let measured = 0;
    let measuredTotal = 0;
    let remaining = 0;
    let unmeasured = 0;
    for (const t of tasks) {
      const s = this.sent.get(t);
      const p = progressOf(t);
      const moved = s === undefined ? 0 : p - s.fromProgress;
      if (s === undefined || moved <= 0) {
        unmeasured += 1 - p;
        continue;
      }
      const total = s.bytes / moved;
      measured++;
      measuredTotal += total;
      remaining += total * (1 - p);
    }
    if (measured === 0) return tasks.length === 0 ? 0 : null;
    return remaining + (measuredTotal / measured) * unmeasured;
  }

  /**
   * Time (ms) to send `remaining` bytes of `pending` transfers at the current rate: 0 when
   * none is pending, null when the size or the rate is unknown (nothing streams: waiting).
   */
  etaMs(remaining: number | null, pending: number, now: number): number | null {
    if (pending === 0) return 0;
    if (remaining === null) return null;
    const r = this.rate(now);
    return r > 0 ? Math.round((remaining / r) * 1000) : null;
  }
}
