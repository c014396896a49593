// Runs on: main thread (the cluster layer), but imports nothing thread-specific.
// The two things the cluster logic must never take from the environment directly: time and
// randomness. A real node passes `systemTime` and a seeded Random; the simulation passes its
// own clock and one seed, so a whole cluster run replays exactly.

/** Milliseconds on a monotonic scale (only differences matter). */
export interface TimeSource {
  now(): number;
}

/** A source of uniform floats in [0, 1). `Random` in src/storage/env/random.ts fits. */
export interface RandomSource {
  next(): number;
}

/** The real clock: performance.now() is monotonic (wall-clock jumps do not fake a failure). */
export const systemTime: TimeSource = { now: () => performance.now() };

/** A uniform integer in [0, n). REQUIRES: n is a positive integer. */
export function randomInt(random: RandomSource, n: number): number {
  return Math.min(n - 1, Math.floor(random.next() * n));
}

/** Up to k distinct items of `items`, chosen uniformly (a partial Fisher-Yates on a copy). */
export function sample<T>(random: RandomSource, items: readonly T[], k: number): T[] {
  const pool = [...items];
  const n = Math.min(k, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + randomInt(random, pool.length - i);
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
  }
  return pool.slice(0, n);
}
