// Runs on: the main thread. Hinted handoff: gives replicas back the writes that fallbacks
// kept for them while they were down.
//
// For a target replica that is up, every other replica is asked for the hints it holds for
// the target (HINTS_FOR, a page at a time); each hint is replicated to the target
// (REPLICATE, which merges: delivering twice is harmless), and once the target acknowledged
// it, the holder is told to delete it (HINT_DONE, which keeps the hint if a newer write for
// the key arrived meanwhile). It runs when a replica comes back up and on a timer, one
// delivery at a time per target, throttled to `bytesPerSecond` per target (a replica that
// comes back after a long outage must not be flooded while it also serves clients).
import { FrameType } from '../protocol/index.js';
import type { Transport } from './transport.js';

/** Hints fetched per request: bounds the frame size and the work per turn. */
const PAGE = 256;
/** Default replay rate per target: a few percent of a disk's write bandwidth, and several
 *  thousand small hints per second (a node back from an hour away catches up in minutes). */
export const DEFAULT_HANDOFF_BYTES_PER_SECOND = 16 * 1024 * 1024;

/** One delivery run to a target: how many hints went, and whether every holder's were all delivered. */
interface RunOutcome {
  delivered: number;
  /** False when a holder or the target was down, a request failed, or a hint was not taken. */
  complete: boolean;
}

export class Handoff {
  private readonly running = new Map<string, Promise<RunOutcome>>();
  delivered = 0;

  constructor(
    private readonly transport: Transport,
    private readonly replicas: () => readonly string[],
    private readonly timeoutMs: number,
    /** Hint bytes (keys and objects) replayed per second to one target at most; 0: no limit. */
    private readonly bytesPerSecond = DEFAULT_HANDOFF_BYTES_PER_SECOND,
    /**
     * The replicas whose hints this handoff delivers (default: every replica). A cluster node
     * names its own shards: every node runs its own handoff, so asking the others' replicas too
     * would only repeat their work over the network.
     */
    private readonly holders: () => readonly string[] = replicas,
  ) {}

  /** Delivers every hint held for `target`; resolves with how many were delivered. */
  deliverTo(target: string): Promise<number> {
    return this.runFor(target).then((o) => o.delivered);
  }

  /**
   * Delivers every hint held for `target`; resolves true when every holder was reached and
   * had nothing left for it (the target then holds every write it missed that was hinted).
   */
  catchUp(target: string): Promise<boolean> {
    return this.runFor(target).then((o) => o.complete);
  }

  private runFor(target: string): Promise<RunOutcome> {
    const busy = this.running.get(target);
    if (busy) return busy;
    const run = this.run(target).finally(() => this.running.delete(target));
    this.running.set(target, run);
    return run;
  }

  /** One pass over every up replica (the timer's job). */
  async sweep(): Promise<number> {
    let n = 0;
    for (const target of this.replicas()) {
      if (!this.transport.isDown(target)) n += await this.deliverTo(target);
    }
    return n;
  }

  private async run(target: string): Promise<RunOutcome> {
    let delivered = 0;
    let complete = true;
    let started = performance.now();
    for (const holder of this.holders()) {
      if (holder === target) continue;
      for (;;) {
        if (this.transport.isDown(target) || this.transport.isDown(holder)) {
          complete = false;
          break;
        }
        let page;
        try {
          page = await this.transport.request(holder, { type: FrameType.HINTS_FOR, target, max: PAGE }, this.timeoutMs);
        } catch {
          complete = false;
          break;
        }
        if (page.type !== FrameType.HINTS) complete = false;
        if (page.type !== FrameType.HINTS || page.hints.length === 0) break;
        // The whole page at once: one round trip per page rather than two per hint (a
        // replica batches what arrives together; the page bounds what is in flight).
        const outcomes = await Promise.all(page.hints.map(async (h) => {
          try {
            const ack = await this.transport.request(target, { type: FrameType.REPLICATE, hi: h.hi, lo: h.lo, key: h.key, object: h.object }, this.timeoutMs);
            if (ack.type !== FrameType.ACK) return 0;
            const done = await this.transport.request(holder, { type: FrameType.HINT_DONE, target, hi: h.hi, lo: h.lo, key: h.key, object: h.object }, this.timeoutMs);
            return done.type === FrameType.ACK ? 1 : 0;
          } catch {
            return 0; // the target or holder went away: the hint stays for the next run
          }
        }));
        const progress = outcomes.reduce((a: number, b: number) => a + b, 0);
        await this.pace(page.hints, started);
        started = performance.now();
        delivered += progress;
        this.delivered += progress;
        if (progress < page.hints.length) complete = false;
        if (progress === 0 || page.hints.length < PAGE) break;
      }
    }
    return { delivered, complete };
  }

  /** Waits so that `hints`, replayed since `started`, went at no more than bytesPerSecond. */
  private async pace(hints: readonly { key: Uint8Array; object: Uint8Array }[], started: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    let bytes = 0;
    for (const h of hints) bytes += h.key.length + h.object.length;
    const due = (bytes * 1000) / this.bytesPerSecond - (performance.now() - started);
    if (due > 0) await new Promise((r) => setTimeout(r, due));
  }
}
