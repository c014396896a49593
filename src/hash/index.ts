// Runs on: any thread. Ring tokens: the 64-bit xxhash64 (seed 0) of a key, from hash-wasm.
//
// A token is handled as two uint32 halves (hi, lo) or as its 8 big-endian bytes, never as
// a BigInt on a hot path (BigInt conversion doubles the cost, see docs/notes.md). Sorting by
// the 8 big-endian bytes is sorting by the unsigned 64-bit token.
import { createXXHash64, type IHasher } from 'hash-wasm';

export const TOKEN_BYTES = 8;

/** Hashes keys to tokens. Create once per thread with `await createTokenHasher()`. */
export class TokenHasher {
  /** High and low 32 bits of the last token computed by `hash()`. */
  hi = 0;
  lo = 0;

  constructor(private readonly xxh: IHasher) {}

  /** Computes the token of `key` into `this.hi` / `this.lo`. */
  hash(key: Uint8Array): void {
    const xxh = this.xxh;
    xxh.init();
    xxh.update(key);
    const d = xxh.digest('binary');
    this.hi = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
    this.lo = ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0;
  }

  /** The token of `key` as a BigInt (for APIs and tests, not hot paths). */
  token(key: Uint8Array): bigint {
    this.hash(key);
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

export async function createTokenHasher(): Promise<TokenHasher> {
  return new TokenHasher(await createXXHash64(0, 0));
}

/** The top 53 bits of a token as a safe integer: a good Map key for a token. */
export function token53(hi: number, lo: number): number {
  return hi * 0x200000 + (lo >>> 11);
}

/** Writes a token's 8 big-endian bytes at `out[at]`. */
export function writeToken(out: Uint8Array, at: number, hi: number, lo: number): void {
  out[at] = hi >>> 24; out[at + 1] = hi >>> 16; out[at + 2] = hi >>> 8; out[at + 3] = hi;
  out[at + 4] = lo >>> 24; out[at + 5] = lo >>> 16; out[at + 6] = lo >>> 8; out[at + 7] = lo;
}

/** Reads the token written at `buf[at]` as a BigInt. */
export function readToken(buf: Uint8Array, at: number): bigint {
  let t = 0n;
  for (let i = 0; i < TOKEN_BYTES; i++) t = (t << 8n) | BigInt(buf[at + i]!);
  return t;
}

/** One past the largest token: the exclusive upper bound of a scan over the whole ring. */
export const TOKEN_END = 1n << 64n;
export { XxHash64 } from './xxhash64.js';
