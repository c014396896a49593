// Runs on: the main thread. Gives the memory of a big client buffer back to the system when
// the server lets go of it (a client over a limit, or one that left mid-command), instead
// of when V8 next happens to run a full GC, which on an idle server can be minutes later.
//
// Dropping the references is not enough: the buffers are freed only by a full GC (their
// backing stores are released by its sweeper, on a background thread, shortly after). So
// a release of RELEASE_MIN_BYTES or more asks for one, at most once per
// RELEASE_INTERVAL_MS. The collector is V8's `gc`: global when node runs with --expose-gc,
// otherwise taken from a fresh VM context with the flag on for that moment (the flag is
// turned off again, so no script sees a global `gc`). Without it, nothing is forced.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Below this, the GC that allocation triggers anyway comes soon enough. */
const RELEASE_MIN_BYTES = 16 * 1024 * 1024;
/** A full GC pauses the server a few ms (more on a big heap): at most one per second. */
const RELEASE_INTERVAL_MS = 1000;

let collect: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return (collect = global as () => void);
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    collect = typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    collect = null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return collect;
}

/** One per server. */
export class MemoryRelease {
  private timer: NodeJS.Timeout | undefined;
  private lastAt = -Infinity;
  /** Forced collections run (for tests and INFO). */
  collections = 0;

  /** `bytes` of client buffers were just dropped. */
  released(bytes: number): void {
    if (bytes < RELEASE_MIN_BYTES || this.timer !== undefined) return;
    const wait = Math.max(0, this.lastAt + RELEASE_INTERVAL_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastAt = performance.now();
      const gc = collector();
      if (gc === null) return;
      this.collections++;
      gc();
    }, wait);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
