// Runs on: the main thread. `ringkv bench --embedded <dir>`: the same SET/GET tests as over
// RESP, against a store opened in this process with open({ dir }) (no server, no sockets).
// --clients x --pipeline callers each keep one request in flight (a caller issues its next
// request when the last one settles), so as many requests are in flight as over RESP.
// The load generator shares the main thread with the store's coordinator, so it allocates
// nothing per request: keys are encoded once, one value buffer serves every SET, and each
// caller's callbacks are made once.
import { open, type PutOptions, type Store } from '../index.js';
import { type BenchResult, type ProgressSink, showProgress, TestRun } from './bench-report.js';
import { type BenchOptions, type EmbeddedOptions, keyName, type TestName } from './bench-options.js';

/** Keyspaces up to this many keys are encoded once up front (~30 MB at the limit); larger ones per request. */
const KEY_CACHE_LIMIT = 1_000_000;
/** SET replaces what the key holds, as the RESP server's SET does (no siblings pile up). */
const SET_OPTIONS: PutOptions = Object.freeze({ overwrite: true });

/** The keys of the keyspace, or a function naming a random one. */
function keySource(keyspace: number): () => Uint8Array | string {
  if (keyspace > KEY_CACHE_LIMIT) return () => keyName(Math.floor(Math.random() * keyspace));
  const keys = Array.from({ length: keyspace }, (_, i) => Buffer.from(keyName(i)));
  return () => keys[Math.floor(Math.random() * keyspace)]!;
}

function runTest(store: Store, o: BenchOptions, test: TestName, nextKey: () => Uint8Array | string, progress: ProgressSink | undefined): Promise<BenchResult> {
  const value = Buffer.alloc(o.dataSize, 'x');
  const run = new TestRun(test.toUpperCase(), o.requests);
  const stopProgress = showProgress(run, progress);
  const callers = Math.min(o.clients * o.pipeline, o.requests);
  let issued = 0;
  let running = callers;
  return new Promise<BenchResult>((resolve) => {
    const caller = (): void => {
      let sentAt = 0;
      const settle = (error: boolean): void => {
        run.record(performance.now() - sentAt, error);
        issue();
      };
      const ok = (): void => settle(false);
      const failed = (): void => settle(true);
      const issue = (): void => {
        if (issued >= o.requests) {
          if (--running === 0) {
            stopProgress();
            resolve(run.result());
          }
          return;
        }
        issued++;
        sentAt = performance.now();
        const op = test === 'set' ? store.put(nextKey(), value, SET_OPTIONS) : store.get(nextKey());
        op.then(ok, failed);
      };
      issue();
    };
    for (let i = 0; i < callers; i++) caller();
  });
}

/** The line printed before the results: what was loaded, so a pasted result says it. */
export function describeEmbedded(e: EmbeddedOptions, o: BenchOptions): string {
  return `# embedded store in ${e.dir}: ${e.shards} shards, N=${e.n} R=${e.r} W=${e.w}, sync-mode ${e.syncMode}; ` +
    `${o.clients} callers x ${o.pipeline} in flight, ${o.dataSize}-byte values, keyspace ${o.keyspace}`;
}

/** Opens the store (open() takes the dir's lock), runs every test (`report` per result), closes it. */
export async function benchEmbedded(o: BenchOptions, e: EmbeddedOptions, report: (r: BenchResult) => void, progress: ProgressSink | undefined): Promise<void> {
  let store: Store | undefined;
  try {
    store = await open({ dir: e.dir, shards: e.shards, n: e.n, r: e.r, w: e.w, storage: { syncMode: e.syncMode } });
    const nextKey = keySource(o.keyspace);
    for (const test of o.tests) report(await runTest(store, o, test, nextKey, progress));
  } finally {
    await store?.close();
  }
}
