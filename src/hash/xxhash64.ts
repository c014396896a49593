// Runs on: any thread (used by the coordinator on the main thread). xxHash64 (seed 0) of a
// key in plain JavaScript, 64-bit arithmetic on two uint32 halves: the same tokens as
// src/hash (hash-wasm), without its per-call cost. For a 16-byte key hash-wasm's
// init/update/digest('binary') takes ~200 ns (a call into wasm with a copy in, a Uint8Array
// out); this takes ~40 ns and allocates nothing. The Coordinator checks it against the
// injected TokenHasher on sample keys before using it (see sameTokens).
//
// The algorithm is the reference XXH64 (Yann Collet): 32-byte stripes into four lanes,
// then 8-, 4- and 1-byte tails, then the avalanche; input lanes are read little-endian; the
// token is the hash as an unsigned 64-bit number (hi = its top 32 bits), which is what
// hash-wasm's big-endian digest holds.

// The primes, as 32-bit halves (hi, lo), as int32 (every half below is an int32, so V8
// keeps it untagged: a uint32 above 2^31 in a variable outside a register is a heap number).
const P1H = 0x9e3779b1 | 0, P1L = 0x85ebca87 | 0;
const P2H = 0xc2b2ae3d | 0, P2L = 0x27d4eb4f | 0;
const P3H = 0x165667b1 | 0, P3L = 0x9e3779f9 | 0;
const P4H = 0x85ebca77 | 0, P4L = 0xc2b2ae63 | 0;
const P5H = 0x27d4eb2f | 0, P5L = 0x165667c5 | 0;

/** The result of the last 64-bit step: R[0] = high half, R[1] = low half. */
const R = new Int32Array(2);

/** (ah, al) * (bh, bl) mod 2^64 into R. */
function mul(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16;
  const b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  R[1] = (mid << 16) | (p00 & 0xffff);
  R[0] = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(ah, bl) + Math.imul(al, bh);
}

/** (ah, al) + (bh, bl) mod 2^64 into R. */
function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  R[1] = lo;
  R[0] = ah + bh + (lo > 0xffffffff ? 1 : 0);
}

/** (h, l) rotated left by r bits (0 < r < 32) into R. */
function rotl(h: number, l: number, r: number): void {
  R[0] = (h << r) | (l >>> (32 - r));
  R[1] = (l << r) | (h >>> (32 - r));
}

/** round(acc, lane) = rotl(acc + lane * P2, 31) * P1, into R. */
function round(acch: number, accl: number, laneh: number, lanel: number): void {
  mul(laneh, lanel, P2H, P2L);
  add(acch, accl, R[0]!, R[1]!);
  rotl(R[0]!, R[1]!, 31);
  mul(R[0]!, R[1]!, P1H, P1L);
}

function u32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

/** xxHash64 (seed 0) of `key`: the token's halves in `hi` and `lo` after hash(), as TokenHasher. */
export class XxHash64 {
  hi = 0;
  lo = 0;

  hash(key: Uint8Array): void {
    const len = key.length;
    let i = 0;
    let h: number;
    let l: number;
    if (len >= 32) {
      // v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1 (seed 0)
      add(P1H, P1L, P2H, P2L);
      let v1h = R[0]!, v1l = R[1]!;
      let v2h = P2H, v2l = P2L;
      let v3h = 0, v3l = 0;
      add(~P1H, ~P1L, 0, 1);
      let v4h = R[0]!, v4l = R[1]!;
      const limit = len - 32;
      do {
        round(v1h, v1l, u32(key, i + 4), u32(key, i)); v1h = R[0]!; v1l = R[1]!;
        round(v2h, v2l, u32(key, i + 12), u32(key, i + 8)); v2h = R[0]!; v2l = R[1]!;
        round(v3h, v3l, u32(key, i + 20), u32(key, i + 16)); v3h = R[0]!; v3l = R[1]!;
        round(v4h, v4l, u32(key, i + 28), u32(key, i + 24)); v4h = R[0]!; v4l = R[1]!;
        i += 32;
      } while (i <= limit);
      rotl(v1h, v1l, 1); h = R[0]!; l = R[1]!;
      rotl(v2h, v2l, 7); add(h, l, R[0]!, R[1]!); h = R[0]!; l = R[1]!;
      rotl(v3h, v3l, 12); add(h, l, R[0]!, R[1]!); h = R[0]!; l = R[1]!;
      rotl(v4h, v4l, 18); add(h, l, R[0]!, R[1]!); h = R[0]!; l = R[1]!;
      for (let k = 0; k < 4; k++) {
        const vh = k === 0 ? v1h : k === 1 ? v2h : k === 2 ? v3h : v4h;
        const vl = k === 0 ? v1l : k === 1 ? v2l : k === 2 ? v3l : v4l;
        round(0, 0, vh, vl);
        h ^= R[0]!;
        l ^= R[1]!;
        mul(h, l, P1H, P1L);
        add(R[0]!, R[1]!, P4H, P4L);
        h = R[0]!; l = R[1]!;
      }
    } else {
      h = P5H;
      l = P5L;
    }
    add(h, l, 0, len); // keys are far below 4 GiB
    h = R[0]!; l = R[1]!;
    while (i + 8 <= len) {
      round(0, 0, u32(key, i + 4), u32(key, i));
      h ^= R[0]!;
      l ^= R[1]!;
      rotl(h, l, 27);
      mul(R[0]!, R[1]!, P1H, P1L);
      add(R[0]!, R[1]!, P4H, P4L);
      h = R[0]!; l = R[1]!;
      i += 8;
    }
    if (i + 4 <= len) {
      mul(0, u32(key, i), P1H, P1L);
      h ^= R[0]!;
      l ^= R[1]!;
      rotl(h, l, 23);
      mul(R[0]!, R[1]!, P2H, P2L);
      add(R[0]!, R[1]!, P3H, P3L);
      h = R[0]!; l = R[1]!;
      i += 4;
    }
    while (i < len) {
      mul(0, key[i]!, P5H, P5L);
      h ^= R[0]!;
      l ^= R[1]!;
      rotl(h, l, 11);
      mul(R[0]!, R[1]!, P1H, P1L);
      h = R[0]!; l = R[1]!;
      i++;
    }
    // avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
    l ^= h >>> 1;
    mul(h, l, P2H, P2L);
    h = R[0]!; l = R[1]!;
    l ^= (l >>> 29) | (h << 3);
    h ^= h >>> 29;
    mul(h, l, P3H, P3L);
    h = R[0]!; l = R[1]!;
    l ^= h;
    this.hi = h >>> 0;
    this.lo = l >>> 0;
  }
}
