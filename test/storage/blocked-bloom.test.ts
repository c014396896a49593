// The blocked Bloom filter of table format version 2: no false negatives, a false-positive
// rate within the bound its line loads predict, and damaged contents refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOOM_LINE_BYTES, BlockedBloomBuilder, BlockedBloomFilter, bloomProbes } from '../../src/storage/table/bloom.js';
import { Random } from '../../src/storage/env/random.js';

function u32(rnd: Random): number {
  return rnd.int(0x10000) * 0x10000 + rnd.int(0x10000);
}

function build(n: number, bitsPerKey: number, seed: number): { filter: BlockedBloomFilter; his: Uint32Array; los: Uint32Array; lines: number } {
  const rnd = new Random(seed);
  const his = new Uint32Array(n);
  const los = new Uint32Array(n);
  const b = new BlockedBloomBuilder(n, bitsPerKey);
  for (let i = 0; i < n; i++) {
    his[i] = u32(rnd);
    los[i] = u32(rnd);
    b.add(his[i]!, los[i]!);
  }
  const data = b.finish().slice();
  assert.is(BlockedBloomFilter.check(data), undefined);
  return { filter: new BlockedBloomFilter(data), his, los, lines: (data.length - 1) / BLOOM_LINE_BYTES };
}

/**
 * The expected false-positive rate of a blocked filter: a line holding L keys answers yes to
 * an absent key with probability (1 - (1 - 1/512)^(kL))^k; L is Poisson with mean n / lines.
 */
function expectedRate(n: number, lines: number, k: number): number {
  const mean = n / lines;
  let p = Math.exp(-mean); // P(L = 0)
  let rate = 0;
  for (let load = 0; load < 10 * mean + 50; load++) {
    if (load > 0) p *= mean / load;
    rate += p * (1 - (1 - 1 / (BLOOM_LINE_BYTES * 8)) ** (k * load)) ** k;
  }
  return rate;
}

function measuredRate(filter: BlockedBloomFilter, probes: number, seed: number): number {
  const rnd = new Random(seed);
  let fp = 0;
  for (let i = 0; i < probes; i++) if (filter.mayContain(u32(rnd), u32(rnd))) fp++;
  return fp / probes;
}

test('100k keys at 10 bits/key: no false negatives, false positives within the bound', () => {
  const n = 100_000;
  const { filter, his, los, lines } = build(n, 10, 1);
  for (let i = 0; i < n; i++) assert.ok(filter.mayContain(his[i]!, los[i]!), `key ${i}`);
  const probes = 400_000;
  const rate = measuredRate(filter, probes, 2);
  const bound = expectedRate(n, lines, bloomProbes(10));
  // Four standard deviations of the binomial above the expectation.
  const slack = 4 * Math.sqrt((bound * (1 - bound)) / probes);
  assert.ok(rate <= bound + slack, `rate ${rate} over the bound ${bound} + ${slack}`);
  assert.ok(rate < 0.015, `rate ${rate}`);
  assert.ok(rate > bound / 2, `rate ${rate} far below ${bound}: the probes are not what the bound models`);
});

test('each bits-per-key setting stays within its bound', () => {
  for (const bits of [4, 8, 16]) {
    const n = 20_000;
    const { filter, lines } = build(n, bits, bits);
    const probes = 200_000;
    const rate = measuredRate(filter, probes, 100 + bits);
    const bound = expectedRate(n, lines, bloomProbes(bits));
    assert.ok(rate <= bound + 4 * Math.sqrt((bound * (1 - bound)) / probes) + 1e-4, `${bits} bits: ${rate} vs ${bound}`);
  }
});

test('tokens sharing a line spread over its bits; a tiny filter is one line', () => {
  const b = new BlockedBloomBuilder(1, 10);
  b.add(0, 1);
  const data = b.finish().slice();
  assert.is(data.length, BLOOM_LINE_BYTES + 1);
  const f = new BlockedBloomFilter(data);
  assert.ok(f.mayContain(0, 1));
  let set = 0;
  for (let i = 0; i < BLOOM_LINE_BYTES; i++) for (let bit = 0; bit < 8; bit++) if (data[i]! & (1 << bit)) set++;
  assert.ok(set >= bloomProbes(10) - 1, `${set} bits set`);
});

test('damaged contents are refused: k out of range, not whole lines', () => {
  const data = new BlockedBloomBuilder(100, 10).finish().slice();
  data[data.length - 1] = 0;
  assert.match(BlockedBloomFilter.check(data) ?? '', /probes/);
  assert.match(BlockedBloomFilter.check(new Uint8Array(BLOOM_LINE_BYTES + 9).fill(3)) ?? '', /lines/);
});

test.run();
