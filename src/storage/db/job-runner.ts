// Runs on: a shard worker. Where a compaction's merge runs.
//
// In production the merge runs in a piscina job thread (src/storage/db/job-pool.ts), over the real files,
// so the shard keeps serving. With an in-memory or fault-injecting Vfs the files exist only
// in this thread, so the same merge code runs here instead, in slices between requests.
import { mergeTables, type MergeJob, type MergeResult } from './merge.js';
import type { Vfs } from '../env/index.js';

export interface JobRunner {
  merge(job: MergeJob): Promise<MergeResult>;
  /** Releases the runner's threads (if any). */
  close(): Promise<void>;
}

/** Time one slice of inline work may take before yielding to the event loop. */
const SLICE_MS = 4;

/** Runs a generator in slices of ~SLICE_MS on this thread's event loop. */
export function runInSlices<T>(steps: Generator<void, T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const slice = (): void => {
      try {
        const until = performance.now() + SLICE_MS;
        for (;;) {
          const r = steps.next();
          if (r.done) return resolve(r.value);
          if (performance.now() >= until) break;
        }
        setImmediate(slice);
      } catch (err) {
        reject(err);
      }
    };
    setImmediate(slice);
  });
}

/** Runs generator steps to completion, synchronously. */
export function runToEnd<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

export class InlineRunner implements JobRunner {
  constructor(private readonly vfs: Vfs) {}

  merge(job: MergeJob): Promise<MergeResult> {
    return runInSlices(mergeTables(this.vfs, job));
  }

  async close(): Promise<void> {}
}
