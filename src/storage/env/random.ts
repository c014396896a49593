// Runs on: any thread. A tiny seeded pseudo-random source, so that a test, a simulation or a
// fault schedule replays exactly from one seed. Not for anything needing real randomness.
//
// The generator is mulberry32 (a 32-bit counter stepped by an odd constant, then mixed by
// xorshifts and multiplies): one 32-bit word of state, period 2^32, good enough to pick ops,
// keys, torn-write lengths and delays in tests. Same seed, same sequence, on every platform.

/** Weyl-sequence increment of mulberry32 (odd, so the counter visits all 2^32 states). */
const STEP = 0x6d2b79f5;
const TWO_POW_32 = 4294967296;

export class Random {
  private state: number;

  /** REQUIRES: `seed` is a finite number; only its low 32 bits matter. */
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + STEP) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    z ^= z >>> 14;
    return (z >>> 0) / TWO_POW_32;
  }

  /** A uniform integer in [0, n). REQUIRES: n is a positive integer. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
