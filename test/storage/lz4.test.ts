// Our LZ4 block compressor: its output decompresses exactly with lz4-napi's decoder and with
// our own decoder into a caller's buffer, which refuses damaged input without leaving its ranges.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { uncompressSync } from 'lz4-napi';
import { lz4Bound, lz4Compress, lz4DecompressInto } from '../../src/storage/table/lz4.js';
import { Random } from '../../src/storage/env/random.js';

function roundTrip(src: Uint8Array): Buffer {
  const c = lz4Compress(src);
  assert.ok(c.length <= lz4Bound(src.length), 'within the bound');
  assert.equal(new Uint8Array(uncompressSync(c)), src);
  // Ours, into the middle of a bigger buffer: exactly the range, nothing around it touched.
  const dst = new Uint8Array(src.length + 20).fill(0xee);
  assert.ok(lz4DecompressInto(c, 4, c.length, dst, 10, src.length));
  assert.equal(dst.subarray(10, 10 + src.length), src);
  assert.ok(dst.subarray(0, 10).every((b) => b === 0xee) && dst.subarray(10 + src.length).every((b) => b === 0xee));
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

test('the in-place decoder refuses damaged data and wrong lengths, and never writes outside its range', () => {
  const rnd = new Random(5);
  const text = new TextEncoder().encode('abcdefgh-0123456789-'.repeat(300));
  const c = lz4Compress(text);
  const n = text.length;
  assert.not.ok(lz4DecompressInto(c, 4, c.length, new Uint8Array(n - 1), 0, n - 1), 'shorter than it decodes to');
  assert.not.ok(lz4DecompressInto(c, 4, c.length, new Uint8Array(n + 1), 0, n + 1), 'longer than it decodes to');
  assert.not.ok(lz4DecompressInto(c, 4, c.length - 3, new Uint8Array(n), 0, n), 'cut short');
  for (let r = 0; r < 2000; r++) {
    const bad = Uint8Array.from(c);
    for (let f = 0; f <= rnd.int(3); f++) bad[4 + rnd.int(bad.length - 4)] = rnd.int(256);
    const dst = new Uint8Array(n + 16).fill(0xee);
    const ok = lz4DecompressInto(bad, 4, bad.length, dst, 8, n);
    assert.ok(dst.subarray(0, 8).every((b) => b === 0xee) && dst.subarray(8 + n).every((b) => b === 0xee), 'no write outside');
    if (ok) assert.is(dst.length, n + 16); // a flip in a literal may still decode to n bytes: the block CRC catches it
  }
});

test.run();
