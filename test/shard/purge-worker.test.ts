// Tombstone GC and the hint store on real worker-thread shards (LSM engines on real files):
// PURGE frames through the shards' rings, paged, remove the tombstone-only objects (the
// engines shrink once compacted, the deletes survive a reopen); live keys are untouched;
// the shards report purges and their hint stores in store.stats().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { FrameType } from '../../src/protocol/index.js';
import { createTokenHasher } from '../../src/hash/index.js';

const hasher = await createTokenHasher();

const dir = mkdtempSync(join(tmpdir(), 'ringkv-purge-'));
const OPTIONS = { dir, shards: 3, storage: { syncMode: 'none' as const }, antiEntropyIntervalMs: 0, handoffIntervalMs: 0, restartDelayMs: 2000, timeoutMs: 2000 };
let store: Store;

test.before(async () => {
  store = await open(OPTIONS);
});

test.after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function records(): Promise<number> {
  await store.shards!.compact();
  const st = await store.stats();
  return (st.shards as { data: { approxEntries: number } }[]).reduce((n, s) => n + s.data.approxEntries, 0);
}

/** PURGEs the whole ring on `replica`, `page` objects per request; returns how many it purged and how many requests it took. */
async function purgeAll(replica: string, before: number, page: number): Promise<{ purged: number; requests: number }> {
  let from = { hi: 0, lo: 0, end: false };
  let purged = 0;
  let requests = 0;
  for (;;) {
    const reply = await store.transport.request(replica, { type: FrameType.PURGE, from, to: { hi: 0, lo: 0, end: true }, before, max: page }, 5000);
    requests++;
    assert.is(reply.type, FrameType.PURGED, JSON.stringify(reply));
    const r = reply as { purged: number; done: boolean; next: { hi: number; lo: number } };
    purged += r.purged;
    if (r.done) return { purged, requests };
    from = { hi: r.next.hi, lo: r.next.lo, end: false };
  }
}

test('PURGE through worker shards removes exactly the old tombstones, in pages; the deletes survive a reopen', async () => {
  for (let i = 0; i < 200; i++) await store.put(`k${i}`, `v${i}`, { w: 3 });
  for (let i = 0; i < 100; i++) await store.delete(`k${i}`, { w: 3, context: (await store.get(`k${i}`))!.context });
  assert.is(await records(), 600);

  // Tombstones written after `before` stay.
  assert.is((await purgeAll('s0', Date.now() - 60_000, 1000)).purged, 0);
  const before = Date.now() + 1;
  let total = 0;
  for (const id of ['s0', 's1', 's2']) {
    const r = await purgeAll(id, before, 16);
    assert.ok(r.requests > 1, 'paged');
    total += r.purged;
  }
  assert.is(total, 300);
  assert.is(await records(), 300, 'the engines hold only the live keys once compacted');
  const st = await store.stats();
  assert.is((st.shards as { tombstonesPurged: number }[]).reduce((n, s) => n + s.tombstonesPurged, 0), 300);

  await store.close();
  store = await open(OPTIONS);
  for (let i = 0; i < 200; i += 3) {
    const r = await store.get(`k${i}`, { r: 3 });
    if (i < 100) assert.is(r, undefined, `k${i} stays deleted`);
    else assert.equal(r?.values.map((v) => new TextDecoder().decode(v)), [`v${i}`]);
  }
});

test('hints for a dead shard show in store.stats().hintStore until they are delivered', async () => {
  await store.shards!.kill('s2');
  for (let i = 0; i < 20; i++) await store.put(`h${i}`, 'x'.repeat(50));
  const deadline = Date.now() + 15_000;
  let held = 0;
  while (Date.now() < deadline) {
    held = (await store.stats()).hintStore!.pending;
    if (held >= 20) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(held >= 20, `${held} hints held`);
  const st = (await store.stats()).hintStore!;
  assert.ok(st.bytes > 20 * 50);
  assert.ok(st.oldestAgeMs >= 0);
  assert.is(st.droppedExpired, 0);
  await store.shards!.waitUp('s2', 15_000);
  while (Date.now() < deadline + 15_000 && (await store.stats()).hintStore!.pending > 0) await store.handoffNow();
  assert.is((await store.stats()).hintStore!.pending, 0, 'delivered and deleted');
  for (let i = 0; i < 20; i += 5) {
    const obj = await store.transport.request('s2', { type: FrameType.GET, ...(await tokenOf(`h${i}`)) }, 2000);
    assert.ok(obj.type === FrameType.OBJECT && obj.object.length > 0, `h${i} reached s2`);
  }
});

async function tokenOf(key: string): Promise<{ hi: number; lo: number; key: Uint8Array }> {
  const k = new TextEncoder().encode(key);
  hasher.hash(k);
  return { hi: hasher.hi, lo: hasher.lo, key: k };
}

test.run();
