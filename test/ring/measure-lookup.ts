// Micro-measurement (a script, not a test): ns per Ring.preferenceList(hi, lo, 3) call on a
// warm cache, and the one-off cost of filling the cache.
//   node build.mjs && node dist/test/ring/measure-lookup.js
import { Ring, type Member } from '../../src/ring/index.js';
import { Random } from '../../src/storage/env/random.js';

const CALLS = 20_000_000;
const TOKENS = 4096; // a power of two: index with a mask

function members(hosts: number, shards: number): Member[] {
  const out: Member[] = [];
  for (let h = 0; h < hosts; h++) {
    for (let s = 0; s < shards; s++) out.push({ id: `n${h}/s${s}`, host: `h${h}`, rack: `r${h % 4}`, dc: 'dc1', weight: 1 });
  }
  return out;
}

function measure(label: string, ring: Ring): void {
  const random = new Random(42);
  const his = Uint32Array.from({ length: TOKENS }, () => random.int(2 ** 32));
  const los = Uint32Array.from({ length: TOKENS }, () => random.int(2 ** 32));
  let started = performance.now();
  for (let p = 0; p < ring.q; p++) ring.listOf(p, 3);
  const fillMs = performance.now() - started;
  let sink = 0;
  for (let round = 0; round < 3; round++) {
    started = performance.now();
    for (let i = 0; i < CALLS; i++) {
      const j = i & (TOKENS - 1);
      sink += ring.preferenceList(his[j]!, los[j]!, 3).length;
    }
    const ns = ((performance.now() - started) * 1e6) / CALLS;
    if (round === 2) {
      console.log(`${label}: ${ns.toFixed(1)} ns per preferenceList(hi, lo, 3); cache fill ${fillMs.toFixed(1)} ms (${((fillMs * 1e3) / ring.q).toFixed(2)} µs per partition)  [${sink}]`);
    }
  }
}

measure('6 members on 3 hosts, Q=256', Ring.build(members(3, 2), 256));
measure('800 members on 100 hosts, Q=65536', Ring.build(members(100, 8), 65536));
