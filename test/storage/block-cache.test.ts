import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockCache } from '../../src/storage/table/block-cache.js';

const block = (n: number, fill = 0) => Buffer.alloc(n, fill);

test('a miss, then a hit after set; stats count both', () => {
  const c = new BlockCache(1 << 20);
  assert.is(c.get(0, 100), undefined);
  const b = block(4096, 7);
  c.set(0, 100, b);
  assert.is(c.get(0, 100), b);
  assert.is(c.get(1, 100), undefined, 'ids keep tables apart');
  assert.equal([c.stats.hits, c.stats.misses], [1, 2]);
  assert.ok(c.stats.bytes >= 4096 && c.stats.bytes < 4096 + 1024);
  assert.is(c.stats.capacity, 1 << 20);
});

test('evicts to stay within the byte budget; a block used since it was cached gets a second chance', () => {
  const c = new BlockCache(5 * 4096);
  for (let i = 0; i < 4; i++) c.set(0, i * 4096, block(4000));
  c.get(0, 0); // touch block 0: block 1 is now the oldest
  c.set(0, 4 * 4096, block(4000));
  c.set(0, 5 * 4096, block(4000));
  assert.ok(c.stats.bytes <= 5 * 4096);
  assert.is(c.get(0, 4096), undefined, 'the least recently used went first');
  assert.ok(c.get(0, 0) !== undefined, 'the touched block stayed');
  assert.ok(c.get(0, 5 * 4096) !== undefined);
  assert.ok(c.stats.evictions >= 1);
});

test('a block bigger than the cache is not kept; capacity 0 caches nothing', () => {
  const c = new BlockCache(8192);
  c.set(0, 0, block(10_000));
  assert.is(c.size, 0);
  const z = new BlockCache(0);
  z.set(0, 0, block(10));
  assert.is(z.get(0, 0), undefined);
  assert.is(z.stats.bytes, 0);
});

test('replacing a block keeps the byte count right', () => {
  const c = new BlockCache(1 << 20);
  c.set(0, 0, block(1000));
  const before = c.stats.bytes;
  c.set(0, 0, block(1000));
  assert.is(c.stats.bytes, before);
  assert.is(c.size, 1);
});

test('releaseId drops only that reader\'s blocks and recycles the id', () => {
  const c = new BlockCache(1 << 20);
  const a = c.allocateId();
  const b = c.allocateId();
  assert.is.not(a, b);
  c.set(a, 0, block(100));
  c.set(a, 2 ** 40, block(100)); // a far offset of a big table
  c.set(b, 0, block(100));
  c.releaseId(a);
  assert.is(c.get(a, 0), undefined);
  assert.is(c.get(a, 2 ** 40), undefined);
  assert.ok(c.get(b, 0) !== undefined);
  assert.is(c.size, 1);
  assert.is(c.allocateId(), a, 'the id is reused, with no stale blocks');
  assert.is(c.get(a, 0), undefined);
});

test.run();
