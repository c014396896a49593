// Runs on: the thread that owns a storage engine. One piscina pool per thread for
// compaction merges, shared by every engine on that thread and closed when the last
// engine using it closes (so no idle worker keeps a process alive). piscina itself is
// imported with the first merge, not when a shard starts (~35 ms of CPU per shard thread).
import type { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import type { JobRunner } from './job-runner.js';
import type { MergeJob, MergeResult } from './merge.js';

/** Merges are I/O and CPU heavy; more threads than cores would only slow the shards. */
const MAX_THREADS = Math.max(1, Math.min(2, availableParallelism() - 1));
/** An idle job thread exits after this long. */
const IDLE_TIMEOUT_MS = 30_000;

let pool: Promise<Piscina> | undefined;
let users = 0;

function started(): Promise<Piscina> {
  pool ??= import('piscina').then(({ Piscina }) => new Piscina({
    filename: new URL('./merge-tables.js', import.meta.url).href,
    minThreads: 0,
    maxThreads: MAX_THREADS,
    idleTimeout: IDLE_TIMEOUT_MS,
  }));
  return pool;
}

async function release(): Promise<void> {
  if (--users > 0 || !pool) return;
  const p = pool;
  pool = undefined;
  await (await p).destroy();
}

export class PiscinaRunner implements JobRunner {
  private closed = false;

  constructor() {
    users++;
  }

  async merge(job: MergeJob): Promise<MergeResult> {
    return (await started()).run(job) as Promise<MergeResult>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await release();
  }
}
