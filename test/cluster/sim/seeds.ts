// Runs on: the test's main thread. Which seeds a simulation test runs, and how a failing
// seed tells you to replay it:
//   RINGKV_SEED=<n>  run only seed n (what a failure prints)
//   RINGKV_LONG=1    run many more seeds than CI does
export function seedsToRun(ci: number, long: number): number[] {
  const one = process.env.RINGKV_SEED;
  if (one !== undefined && one !== '') return [Number(one)];
  const count = process.env.RINGKV_LONG === '1' ? long : ci;
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** Runs `fn(seed)`; if it throws, prints the replay command first. */
export function withReplay(file: string, seed: number, fn: (seed: number) => void): void {
  try {
    fn(seed);
  } catch (err) {
    console.log(`replay: RINGKV_SEED=${seed} node test/run.mjs ${file}`);
    throw err;
  }
}
