// Our LZ4 block compressor: its output decompresses exactly with lz4-napi's decoder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { uncompressSync } from 'lz4-napi';
import { lz4Bound, lz4Compress } from '../../src/storage/table/lz4.js';
import { Random } from '../../src/storage/env/random.js';

function roundTrip(src: Uint8Array): Buffer {
  const c = lz4Compress(src);
  assert.ok(c.length <= lz4Bound(src.length), 'within the bound');
  assert.equal(new Uint8Array(uncompressSync(c)), src);
  return c;
}

test('empty, tiny and incompressible inputs round-trip', () => {
  const rnd = new Random(7);
  for (const n of [0, 1, 4, 5, 12, 13, 16, 100, 4096, 70000]) {
    roundTrip(Uint8Array.from({ length: n }, () => rnd.int(256)));
  }
});

test('repetitive data compresses and round-trips, including long matches and long literals', () => {
  const text = new TextEncoder().encode('{"user":"ada","role":"admin","n":1}'.repeat(200));
  assert.ok(roundTrip(text).length < text.length / 5);
  assert.ok(roundTrip(new Uint8Array(100_000)).length < 1000);
  const rnd = new Random(3);
  const mixed = new Uint8Array(50_000);
  for (let i = 0; i < mixed.length; i++) mixed[i] = i % 3000 < 1500 ? rnd.int(256) : (i * 7) & 0x1f;
  roundTrip(mixed);
});

test('1000 seeded random inputs with repeats round-trip', () => {
  const rnd = new Random(11);
  for (let r = 0; r < 1000; r++) {
    const n = rnd.int(6000);
    const src = new Uint8Array(n);
    const alphabet = 1 + rnd.int(20);
    for (let i = 0; i < n; i++) src[i] = rnd.int(4) === 0 && i > 70 ? src[i - 1 - rnd.int(70)]! : rnd.int(alphabet);
    roundTrip(src);
  }
});

test.run();
