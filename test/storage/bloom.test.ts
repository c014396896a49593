import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BloomBuilder, BloomFilter, bloomProbes } from '../../src/storage/table/bloom.js';
import { Random } from '../../src/storage/env/random.js';

function u32(rnd: Random): number {
  return rnd.int(0x10000) * 0x10000 + rnd.int(0x10000);
}

/** Builds a filter of `n` random tokens; returns it and the tokens. */
function build(n: number, bitsPerKey: number, seed: number): { filter: BloomFilter; his: Uint32Array; los: Uint32Array } {
  const rnd = new Random(seed);
  const his = new Uint32Array(n);
  const los = new Uint32Array(n);
  const b = new BloomBuilder(n, bitsPerKey);
  for (let i = 0; i < n; i++) {
    his[i] = u32(rnd);
    los[i] = u32(rnd);
    b.add(his[i]!, los[i]!);
  }
  const data = b.finish().slice();
  assert.is(BloomFilter.check(data), undefined);
  return { filter: new BloomFilter(data), his, los };
}

function falsePositiveRate(filter: BloomFilter, probes: number, seed: number): number {
  const rnd = new Random(seed);
  let fp = 0;
  for (let i = 0; i < probes; i++) if (filter.mayContain(u32(rnd), u32(rnd))) fp++;
  return fp / probes;
}

test('k = round(bitsPerKey * ln 2), within 1..30', () => {
  assert.is(bloomProbes(10), 7);
  assert.is(bloomProbes(1), 1);
  assert.is(bloomProbes(0.1), 1);
  assert.is(bloomProbes(20), 14);
  assert.is(bloomProbes(64), 30);
});

test('100k keys at 10 bits/key: no false negatives, false positives below 2%', () => {
  const { filter, his, los } = build(100_000, 10, 1);
  for (let i = 0; i < his.length; i++) if (!filter.mayContain(his[i]!, los[i]!)) assert.unreachable(`false negative ${i}`);
  const rate = falsePositiveRate(filter, 200_000, 2);
  console.log(`  bloom 10 bits/key, 100k keys: ${(rate * 100).toFixed(3)}% false positives (theory 0.82%), ${filter.byteLength} bytes`);
  assert.ok(rate < 0.02);
});

test('fewer bits per key, more false positives; more keys than expected degrade gracefully', () => {
  const r5 = falsePositiveRate(build(20_000, 5, 3).filter, 50_000, 4);
  const r15 = falsePositiveRate(build(20_000, 15, 3).filter, 50_000, 4);
  assert.ok(r5 > r15 && r5 < 0.15 && r15 < 0.005, `5 bits ${r5}, 15 bits ${r15}`);
  const rnd = new Random(5);
  const b = new BloomBuilder(1_000, 10);
  const his: number[] = [];
  const los: number[] = [];
  for (let i = 0; i < 3_000; i++) {
    his.push(u32(rnd));
    los.push(u32(rnd));
    b.add(his[i]!, los[i]!);
  }
  const f = new BloomFilter(b.finish());
  for (let i = 0; i < his.length; i++) assert.ok(f.mayContain(his[i]!, los[i]!), 'still no false negatives');
});

test('tokens whose high half is 0 mod m still spread over k bits', () => {
  const b = new BloomBuilder(100, 10); // 1000 bits -> 125 bytes = 1000 bits
  b.add(0, 12345);
  const data = b.finish().slice();
  let set = 0;
  for (let i = 0; i < data.length - 1; i++) for (let j = 0; j < 8; j++) set += (data[i]! >> j) & 1;
  assert.is(set, 7);
});

test('an empty filter rejects everything; damaged k is refused', () => {
  const data = new BloomBuilder(0, 10).finish().slice();
  const f = new BloomFilter(data);
  assert.not.ok(f.mayContain(1, 2));
  data[data.length - 1] = 0;
  assert.type(BloomFilter.check(data), 'string');
  data[data.length - 1] = 31;
  assert.type(BloomFilter.check(data), 'string');
  assert.type(BloomFilter.check(new Uint8Array(3)), 'string');
});

test.run();
