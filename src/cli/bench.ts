// Runs on: the main thread. `ringkv bench`: a small redis-benchmark-like load generator,
// against a running server over RESP (bench-resp.ts) or a store opened in this process
// (--embedded <dir>, bench-embedded.ts). It prints one line per test:
//
//   SET: 41234.56 requests per second, p50=0.615 msec, p99=1.807 msec
//
// and, while a test runs, a live progress line on stderr when that is a terminal (or with
// --progress). Exit status 1 when any request failed.
import { describeEmbedded, benchEmbedded } from './bench-embedded.js';
import { BENCH_HELP, parseBenchOptions } from './bench-options.js';
import { type BenchResult, formatResult } from './bench-report.js';
import { benchResp } from './bench-resp.js';

export { BENCH_HELP } from './bench-options.js';
export { type BenchResult, formatResult } from './bench-report.js';

export async function bench(argv: readonly string[]): Promise<number> {
  const o = parseBenchOptions(argv, process.env);
  if (o === undefined) {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  const progress = o.progress || process.stderr.isTTY ? process.stderr : undefined;
  let errors = 0;
  const report = (r: BenchResult): void => {
    errors += r.errors;
    process.stdout.write(formatResult(r) + '\n');
  };
  if (o.embedded === undefined) {
    await benchResp(o, report, progress);
  } else {
    process.stdout.write(describeEmbedded(o.embedded, o) + '\n');
    await benchEmbedded(o, o.embedded, report, progress);
  }
  return errors > 0 ? 1 : 0;
}
