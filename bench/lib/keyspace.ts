// Runs on: any thread. The bench's keys and values, all derived from a seed, none stored.
//
// Key j (0 <= j < n) is the 16 ASCII hex digits of j, so keys sort in counter order.
// "Sequential" puts write j = 0, 1, 2, ...; "random" puts write j = perm(i), a seeded
// permutation of [0, n). Gets read every key once, in the order of a second permutation.
// Nothing is precomputed per key, so the harness's own memory stays small and constant even
// for the 4M-key large run (its RSS is reported).

/** sfc32 seeded through splitmix32: a small, fast, well-mixed 32-bit PRNG. */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  fill(out: Uint8Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.nextU32() & 0xff;
  }
}

/**
 * A seeded bijection on [0, n), n <= 2^32: rounds of (multiply by an odd constant, add a key,
 * xor-shift) on k = ceil(log2 n) bits, each invertible mod 2^k, with cycle-walking to stay
 * below n (fewer than two rounds on average, since n > 2^(k-1)).
 */
export class Permutation {
  private readonly bits: number;
  private readonly mask: number;
  private readonly shift: number;
  private readonly keys: Uint32Array;

  constructor(
    readonly n: number,
    seed: number,
  ) {
    if (!(n >= 1 && n <= 2 ** 32)) throw new RangeError(`permutation size out of range: ${n}`);
    this.bits = Math.max(1, Math.ceil(Math.log2(n)));
    this.mask = this.bits >= 32 ? 0xffffffff : (1 << this.bits) - 1;
    this.shift = Math.max(1, this.bits >>> 1);
    const rnd = new Random(seed);
    this.keys = new Uint32Array(8);
    for (let i = 0; i < this.keys.length; i++) this.keys[i] = rnd.nextU32();
  }

  at(i: number): number {
    let x = i;
    do x = this.round(x);
    while (x >= this.n);
    return x;
  }

  private round(input: number): number {
    const mask = this.mask;
    let x = input;
    for (let r = 0; r < 4; r++) {
      const k = this.keys[r] ?? 0;
      const m = (this.keys[r + 4] ?? 0) | 1;
      x = ((Math.imul(x, m) >>> 0) & mask) >>> 0;
      x = ((x + k) & mask) >>> 0;
      x = (x ^ (x >>> this.shift)) >>> 0;
    }
    return x;
  }
}

export const KEY_BYTES = 16;

const HEX = new Uint8Array([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);

/** A fresh 16-byte key: 16 lowercase hex digits of j (0 <= j < 2^53). */
export function keyOf(j: number): Uint8Array {
  const out = new Uint8Array(KEY_BYTES);
  let lo = j >>> 0;
  let hi = Math.floor(j / 2 ** 32) >>> 0;
  for (let p = KEY_BYTES - 1; p >= 8; p--) {
    out[p] = HEX[lo & 15] ?? 48;
    lo >>>= 4;
  }
  for (let p = 7; p >= 0; p--) {
    out[p] = HEX[hi & 15] ?? 48;
    hi >>>= 4;
  }
  return out;
}

/**
 * Values are windows of one seeded random pool (incompressible, like encrypted or compressed
 * payloads), at an offset derived from the key number so a get can be checked.
 */
export class ValuePool {
  private readonly pool: Uint8Array;
  private readonly span: number;

  constructor(
    readonly size: number,
    seed: number,
    poolBytes = 1 << 20,
  ) {
    this.pool = new Uint8Array(poolBytes + size);
    new Random(seed ^ 0x5eed).fill(this.pool);
    this.span = poolBytes;
  }

  private offset(j: number): number {
    return (Math.imul(j, 0x9e3779b1) >>> 0) % this.span;
  }

  /**
   * A view into the pool. Every engine here copies what it is given (ringkv into memtable
   * slabs), so views are safe, and unlike fresh copies they leave no garbage backing stores
   * whose lazy collection would show in the RSS figures as if an engine held them.
   */
  valueOf(j: number): Uint8Array {
    const off = this.offset(j);
    return this.pool.subarray(off, off + this.size);
  }

  /** Whether `got` is the value written for key j. */
  matches(j: number, got: Uint8Array): boolean {
    if (got.length !== this.size) return false;
    const off = this.offset(j);
    for (let i = 0; i < got.length; i++) if (got[i] !== this.pool[off + i]) return false;
    return true;
  }
}
