// The block cache's memory bound through the engine, on real files: reading a data set ten
// times the cache, the process's external memory (ArrayBuffers outside V8's heap) stays within
// the cache budget plus a small slack at every sample, not only after a GC.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openEngine } from '../../src/storage/index.js';

const CACHE_BYTES = 1024 * 1024;
const VALUE_BYTES = 100;
/** 10x the cache in values. */
const KEYS = Math.ceil((10 * CACHE_BYTES) / VALUE_BYTES);
const GETS = 2 * KEYS;
const SAMPLE_EVERY = 256;
/** Beyond the budget: the read scratch, the copies of values not yet collected, V8's own buffers. */
const SLACK_BYTES = 8 * 1024 * 1024;

const dir = fs.mkdtempSync(os.tmpdir() + '/ringkv-cachemem-');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const keyOf = (i: number): Uint8Array => Buffer.from(`key-${i}`);

function external(): number {
  const m = process.memoryUsage();
  return m.external + m.arrayBuffers;
}

test('random gets over data 10x the cache: external memory stays within budget + slack', async () => {
  const options = { dir, blockCacheBytes: CACHE_BYTES, memtableBytes: 1024 * 1024, syncMode: 'none' as const, jobs: 'inline' as const };
  let e = await openEngine(options);
  const value = new Uint8Array(VALUE_BYTES);
  for (let i = 0; i < KEYS; i += 64) {
    const ops = [];
    for (let j = i; j < Math.min(KEYS, i + 64); j++) {
      value[0] = j & 0xff;
      ops.push({ type: 'put' as const, key: keyOf(j), value: value.slice() });
    }
    e.write(ops);
  }
  await e.flush();
  await e.compact();
  await e.close();
  e = await openEngine(options);
  globalThis.gc?.();
  const base = external();
  let peak = 0;
  let x = 1;
  for (let n = 0; n < GETS; n++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const i = x % KEYS;
    const v = e.get(keyOf(i));
    assert.ok(v !== undefined && v.length === VALUE_BYTES && v[0] === (i & 0xff), `key ${i}`);
    if (n % SAMPLE_EVERY === 0) peak = Math.max(peak, external() - base);
  }
  const stats = e.stats().blockCache;
  await e.close();
  assert.ok(stats.misses > GETS / 2, `most gets miss a cache 1/10 of the data (${stats.misses} of ${GETS})`);
  assert.ok(stats.bytes <= CACHE_BYTES + CACHE_BYTES, `charged ${stats.bytes}`);
  assert.ok(peak <= CACHE_BYTES + SLACK_BYTES, `peak external growth ${(peak / 2 ** 20).toFixed(1)} MiB, budget ${CACHE_BYTES / 2 ** 20} MiB + ${SLACK_BYTES / 2 ** 20} MiB`);
});

test.run();
