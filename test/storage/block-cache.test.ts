// The block cache's slab: slots reused under a budget, CLOCK's second chance, pins and big
// blocks charged in the same budget.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockCache, SLAB_SEGMENT_BYTES } from '../../src/storage/table/block-cache.js';

const SLOT = 4096;

/** Caches a block of `n` bytes of `fill` as reader id's block at offset; false if no slot. */
function put(c: BlockCache, id: number, offset: number, n: number, fill = 0): boolean {
  const slot = c.claim();
  if (slot < 0) return false;
  c.slotBuffer(slot).fill(fill, c.slotStart(slot), c.slotStart(slot) + n);
  c.commit(slot, id, offset, n);
  return true;
}

/** A copy of the cached block, or undefined on a miss. */
function get(c: BlockCache, id: number, offset: number): Uint8Array | undefined {
  return c.find(id, offset) ? new Uint8Array(c.buf.subarray(c.start, c.end)) : undefined;
}

test('a miss, then a hit after commit; the slab is charged, not more than the budget', () => {
  const c = new BlockCache(1 << 20, SLOT);
  const id = c.allocateId();
  assert.is(get(c, id, 100), undefined);
  assert.ok(put(c, id, 100, 4000, 7));
  assert.equal(get(c, id, 100), new Uint8Array(4000).fill(7));
  assert.is(get(c, c.allocateId(), 100), undefined, 'ids keep tables apart');
  assert.equal([c.stats.hits, c.stats.misses], [1, 2]);
  assert.ok(c.stats.slabBytes > 0 && c.stats.slabBytes <= 1 << 20);
  assert.is(c.stats.bytes, c.stats.slabBytes);
});

test('evicted slots are reused: the slab stops growing at the budget, CLOCK spares a used block', () => {
  const c = new BlockCache(5 * SLOT, SLOT);
  const id = c.allocateId();
  for (let i = 0; i < 5; i++) assert.ok(put(c, id, i * SLOT, 4000, i));
  assert.is(c.stats.slots, 5);
  get(c, id, 0); // used: block 0 gets a second chance
  assert.ok(put(c, id, 5 * SLOT, 4000, 5));
  assert.is(get(c, id, SLOT), undefined, 'the first block not used since went');
  assert.equal(get(c, id, 0), new Uint8Array(4000).fill(0), 'the used block stayed, bytes intact');
  const slab = c.stats.slabBytes;
  for (let i = 6; i < 1000; i++) assert.ok(put(c, id, i * SLOT, 4000, i & 0xff));
  assert.is(c.stats.slabBytes, slab, 'no new memory: evicted slots were reused');
  assert.is(c.stats.slots, 5);
  assert.ok(c.stats.evictions >= 995);
  assert.equal(get(c, id, 999 * SLOT), new Uint8Array(4000).fill(999 & 0xff));
  assert.ok(c.stats.bytes <= 5 * SLOT);
});

test('a budget below one slot caches nothing; capacity 0 neither', () => {
  assert.is(new BlockCache(SLOT - 1, SLOT).claim(), -1);
  const z = new BlockCache(0, SLOT);
  assert.is(z.claim(), -1);
  assert.is(z.stats.bytes, 0);
});

test('unclaim gives a slot back; replacing a block keeps one slot per block', () => {
  const c = new BlockCache(2 * SLOT, SLOT);
  const id = c.allocateId();
  const s = c.claim();
  c.unclaim(s);
  assert.is(get(c, id, 0), undefined);
  assert.ok(put(c, id, 0, 100, 1));
  assert.ok(put(c, id, 0, 100, 2));
  assert.is(c.size, 1);
  assert.equal(get(c, id, 0), new Uint8Array(100).fill(2));
});

test('releaseId drops only that reader\'s blocks and recycles the id', () => {
  const c = new BlockCache(1 << 20, SLOT);
  const a = c.allocateId();
  const b = c.allocateId();
  assert.is.not(a, b);
  put(c, a, 0, 100);
  put(c, a, 2 ** 40, 100); // a far offset of a big table
  put(c, b, 0, 100);
  c.releaseId(a);
  assert.is(get(c, a, 0), undefined);
  assert.is(get(c, a, 2 ** 40), undefined);
  assert.ok(get(c, b, 0) !== undefined);
  assert.is(c.size, 1);
  assert.is(c.allocateId(), a, 'the id is reused, with no stale blocks');
  assert.is(get(c, a, 0), undefined);
});

test('pinned bytes share the budget: a pin retires slab segments, the slab grows only into what is left', () => {
  const segment = SLAB_SEGMENT_BYTES;
  const c = new BlockCache(3 * segment, SLOT);
  const id = c.allocateId();
  for (let i = 0; i < (3 * segment) / SLOT; i++) assert.ok(put(c, id, i * SLOT, 100));
  assert.is(c.stats.slabBytes, 3 * segment);
  c.pin(segment / 2);
  assert.is(c.stats.slabBytes, 2 * segment, 'one segment retired');
  assert.ok(c.stats.slabBytes + c.stats.pinnedBytes <= c.stats.capacity);
  assert.ok(c.stats.releasedBytes <= segment, 'the retired segment is charged until collected');
  for (let i = 0; i < 1000; i++) put(c, id, (1e6 + i) * SLOT, 100);
  assert.ok(c.stats.bytes <= 3 * segment + segment, 'never more than the budget plus what awaits collection');
  assert.ok(c.stats.slabBytes + c.stats.pinnedBytes <= c.stats.capacity);
});

test('a block bigger than a slot is kept beside the slab and counted; a huge one is not kept', () => {
  const c = new BlockCache(64 * SLOT, SLOT);
  const id = c.allocateId();
  assert.ok(c.setBig(id, 0, Buffer.alloc(3 * SLOT, 9)));
  assert.is(c.stats.bigBlocks, 1);
  assert.is(c.stats.bigBytes, 3 * SLOT);
  assert.ok(c.find(id, 0));
  assert.is(c.end - c.start, 3 * SLOT);
  assert.not.ok(c.setBig(id, SLOT * 100, Buffer.alloc(32 * SLOT)), 'over a quarter of the budget');
  c.releaseId(id);
  assert.is(c.stats.bigBlocks, 0);
  assert.is(c.stats.bigBytes, 0);
});

test.run();
