import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher, readToken, token53, writeToken } from '../../src/hash/index.js';

test('token of a key is its xxhash64 with seed 0', async () => {
  const hasher = await createTokenHasher();
  // xxh64("") with seed 0 is the published constant ef46db3751d8e999.
  assert.is(hasher.token(new Uint8Array(0)), 0xef46db3751d8e999n);
  assert.is(hasher.token(new TextEncoder().encode('abc')), 0x44bc2cf5ad770999n);
});

test('hi/lo halves, 8-byte form and 53-bit form agree', async () => {
  const hasher = await createTokenHasher();
  const t = hasher.token(new TextEncoder().encode('ringkv'));
  const buf = new Uint8Array(10);
  writeToken(buf, 1, hasher.hi, hasher.lo);
  assert.is(readToken(buf, 1), t);
  assert.is(token53(hasher.hi, hasher.lo), Number(t >> 11n));
});

test.run();
