// The coordinator's JS xxHash64 gives the tokens of src/hash (hash-wasm) for every length.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher } from '../../src/hash/index.js';
import { XxHash64 } from '../../src/hash/xxhash64.js';
import { Random } from '../../src/storage/env/random.js';

test('same tokens as hash-wasm on random keys of 0..300 bytes', async () => {
  const wasm = await createTokenHasher();
  const js = new XxHash64();
  const rnd = new Random(7);
  for (let len = 0; len <= 300; len++) {
    for (let t = 0; t < 20; t++) {
      const key = new Uint8Array(len);
      for (let i = 0; i < len; i++) key[i] = rnd.int(256);
      wasm.hash(key);
      js.hash(key);
      assert.is(js.hi, wasm.hi, `hi of a ${len}-byte key`);
      assert.is(js.lo, wasm.lo, `lo of a ${len}-byte key`);
    }
  }
});

test('keys that are views at odd offsets hash like copies', async () => {
  const wasm = await createTokenHasher();
  const js = new XxHash64();
  const big = new Uint8Array(1000).map((_, i) => (i * 131) & 0xff);
  for (const [from, to] of [[1, 17], [3, 40], [5, 5], [7, 999]] as const) {
    const view = big.subarray(from, to);
    js.hash(view);
    wasm.hash(view.slice());
    assert.equal([js.hi, js.lo], [wasm.hi, wasm.lo]);
  }
});

test.run();
