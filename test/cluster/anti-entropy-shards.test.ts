// Anti-entropy on a real embedded store: four worker shards with LSM engines on disk, N = 3,
// hinted handoff off. 10k of 20k keys (RINGKV_LONG=1: of 110k) diverge (written to single
// replicas through the transport: fresh keys, concurrent versions, deletes); one round
// converges every replica of every key; equal replicas then exchange roots only; a shard killed mid-round fails its
// exchanges cleanly and the next round repairs what it missed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, type Store } from '../../src/index.js';
import { AntiEntropy } from '../../src/repair/anti-entropy.js';
import { checkMerged, diverge, inBatches, perPartition, sameEverywhere, treesAgree, type Divergence } from '../support/diverge.js';

const dirs: string[] = [];
const stores: Store[] = [];
test.after.each(async () => {
  for (const s of stores.splice(0)) await s.close();
});
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function store(restartDelayMs = 100): Promise<Store> {
  const dir = mkdtempSync(`${tmpdir()}/ringkv-ae-`);
  dirs.push(dir);
  const s = await open({ dir, shards: 4, n: 3, timeoutMs: 5000, handoffIntervalMs: 0, antiEntropyIntervalMs: 0, restartDelayMs, storage: { syncMode: 'periodic' } });
  stores.push(s);
  return s;
}

/** Keys the divergence leaves alone, plus the 2000 it deletes: RINGKV_LONG=1 loads the 100k. */
const BASE_KEYS = process.env.RINGKV_LONG === '1' ? 100_000 : 10_000;

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

async function writeAll(db: Store, ks: readonly string[]): Promise<void> {
  await inBatches(ks, 2000, async (k) => {
    await db.put(k, `base-${k}`, { w: 3 });
  });
}

/** An anti-entropy run over the store's shards without pacing (to measure the work itself). */
function unpaced(db: Store): AntiEntropy {
  return new AntiEntropy(() => db.ring, db.transport, { n: 3, intervalMs: 0, timeoutMs: 5000, partitionPauseMs: 0, bytesPerSecond: 0 });
}

test('open() refuses a bad antiEntropyIntervalMs before starting any shard', async () => {
  const dir = mkdtempSync(`${tmpdir()}/ringkv-ae-`);
  dirs.push(dir);
  for (const bad of [-1, Number.NaN, Infinity, '10' as unknown as number]) {
    const err = await open({ dir, shards: 2, antiEntropyIntervalMs: bad }).catch((e) => e);
    assert.is(err.code, 'ERR_INVALID_ARGUMENT', String(bad));
  }
});

test(`worker shards: 10k of ${BASE_KEYS / 1000 + 10}k keys diverged converge in one round; equal replicas then move nothing but roots`, async () => {
  const db = await store();
  const base = keys('base-', BASE_KEYS);
  let t0 = performance.now();
  await writeAll(db, base);
  const loadMs = performance.now() - t0;
  const d: Divergence = { fresh: keys('fresh-', 6000), concurrent: keys('conc-', 2000), deleted: base.slice(0, 2000) };
  await diverge(db.ring, db.transport, d);

  const a = unpaced(db);
  t0 = performance.now();
  const round = a.runOnce();
  // Clients keep being served while the (unpaced) round runs: every read answers in time.
  let done = false;
  let reads = 0;
  const wrong: string[] = [];
  const clients = (async () => {
    for (let k = 0; !done; k++) {
      const key = base[2000 + ((k * 7919) % (BASE_KEYS - 2000))]!; // keys the divergence left alone
      const got = await db.get(key).catch((e: Error) => e);
      const values = got instanceof Error ? got.message : got?.values.map((v) => new TextDecoder().decode(v)).join();
      if (values !== `base-${key}`) wrong.push(`${key}: ${values}`);
      reads++;
    }
  })();
  const results = await round;
  const ms = performance.now() - t0;
  done = true;
  await clients;
  assert.ok(reads > 0);
  assert.equal(wrong, []);
  assert.equal(results.filter((r) => r.outcome === 'failed').map((r) => r.error), []);
  const s = a.stats();
  assert.is(s.keysRepaired, 10_000);
  assert.is(s.objectsSent, 6000 * 2 + 2000 * 3 + 2000 * 2);
  console.log(`  shards: loaded ${BASE_KEYS / 1000}k keys in ${(loadMs / 1000).toFixed(1)} s; 10k diverged converged in ${(ms / 1000).toFixed(2)} s, ` +
    `${(s.bytesMoved / 1048576).toFixed(2)} MiB moved over ${db.ring.q} partitions; ${reads} client reads meanwhile`);

  checkMerged(await sameEverywhere(db.ring, db.transport, [...d.fresh, ...d.concurrent, ...d.deleted]), d);
  for (const k of d.deleted.slice(0, 100)) assert.is(await db.get(k), undefined, `${k} stays deleted`);
  assert.is((await db.get(d.concurrent[7]!))!.values.length, 2, 'both concurrent versions survive');
  await treesAgree(db.ring, db.transport, perPartition(db.ring, [...base, ...d.fresh, ...d.concurrent]));

  t0 = performance.now();
  const again = await a.runOnce();
  const equalMs = performance.now() - t0;
  assert.ok(again.every((r) => r.outcome === 'equal' && r.keysRepaired === 0 && r.segments === 1));
  assert.ok(again.every((r) => r.bytes === 3 * 40), 'only the roots moved');
  console.log(`  shards: a round over equal replicas (${db.ring.q} partitions, ~${Math.round((3 * (BASE_KEYS + 10_000)) / db.ring.q)} objects per replica each): ` +
    `${equalMs.toFixed(0)} ms, ${(equalMs / db.ring.q).toFixed(2)} ms and ${3 * 40} bytes per partition`);

  // The store's own anti-entropy (paced, as scheduled) sees the same.
  const r = await db.antiEntropy.runPartition(5);
  assert.is(r.outcome, 'equal');
  assert.ok((await db.stats()).antiEntropy.exchanges >= 1);
});

test('worker shards: a shard killed mid-round fails its exchanges without a hang; the next round repairs what it missed', async () => {
  const db = await store(300);
  const base = keys('b', 20_000);
  await writeAll(db, base);
  const d: Divergence = { fresh: keys('f', 2000), concurrent: keys('c', 500), deleted: base.slice(0, 500) };
  await diverge(db.ring, db.transport, d);
  await db.shards!.flush(); // the divergence must outlive the kill (periodic sync)
  const a = new AntiEntropy(() => db.ring, db.transport, { n: 3, intervalMs: 0, timeoutMs: 2000, partitionPauseMs: 5, bytesPerSecond: 0 });
  const round = a.runOnce();
  // Kill s1 once a few partitions are done.
  const deadline = Date.now() + 30_000;
  while (a.stats().exchanges < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await db.shards!.kill('s1');
  const first = await round;
  const hit = first.filter((r) => r.outcome === 'failed' || !r.complete);
  assert.ok(hit.length > 0, 'some exchanges met the dead shard');
  for (const r of first.filter((x) => x.outcome === 'failed')) assert.match(r.error!, /s1|unavailable|did not answer/i);

  await db.shards!.waitUp('s1', 20_000);
  const second = await a.runOnce();
  assert.equal(second.filter((r) => r.outcome === 'failed' || !r.complete).map((r) => r.error), []);
  checkMerged(await sameEverywhere(db.ring, db.transport, [...d.fresh, ...d.concurrent, ...d.deleted]), d);
  const third = await a.runOnce();
  assert.ok(third.every((r) => r.outcome === 'equal'));
  assert.ok(a.oldestExchangeAgeMs() !== null);
});

test.run();
