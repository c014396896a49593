// Values larger than a shard ring record (fragmented frames) through the embedded store with
// real worker shards: put/get/getMany round trips up to the largest value, recovery after a
// reopen, N=3 replication and hinted handoff of big objects (also more than a frame's worth
// for one replica), small requests interleaved with big ones in flight, and big objects
// staged by one batch committed in pieces.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, type OpenOptions, type Store } from '../../src/index.js';
import { MAX_PUT_VALUE_BYTES, type ShardTransport } from '../../src/coordinator/shard-transport.js';
import { createTokenHasher } from '../../src/hash/index.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const hasher = await createTokenHasher();
const dirs: string[] = [];
const stores: Store[] = [];

test.after.each(async () => {
  for (const s of stores.splice(0)) await s.close();
});
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function store(options: Partial<OpenOptions> = {}, dir?: string): Promise<{ db: Store; dir: string }> {
  const d = dir ?? mkdtempSync(`${tmpdir()}/ringkv-big-`);
  if (dir === undefined) dirs.push(d);
  const db = await open({ dir: d, shards: 2, storage: { syncMode: 'batch' }, timeoutMs: 30_000, ...options });
  stores.push(db);
  return { db, dir: d };
}

/** A value whose every byte depends on (size, seed): a misplaced or missing fragment shows. */
function value(size: number, seed: number): Uint8Array {
  const v = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v[i] = x;
    v[i + 1] = x >>> 8;
    v[i + 2] = x >>> 16;
    v[i + 3] = x >>> 24;
  }
  return v;
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(a, b) === 0;
}

function primaries(db: Store, key: string, n: number): readonly string[] {
  hasher.hash(new TextEncoder().encode(key));
  return db.ring.listOf(db.ring.partitionOf(hasher.hi, hasher.lo), n);
}

const SIZES = [600 * KiB, 1 * MiB, 8 * MiB, MAX_PUT_VALUE_BYTES];

test('put, get and getMany of 600 KiB, 1 MiB, 8 MiB and the largest value (16 MiB - 64 KiB) round trip through worker shards, and survive a reopen', async () => {
  const { db, dir } = await store();
  const values = SIZES.map((size, i) => value(size, i + 1));
  for (let i = 0; i < SIZES.length; i++) {
    const w = await db.put(`big-${i}`, values[i]!);
    assert.is(w.receipt.replicas.length, 2, `size ${SIZES[i]}: acknowledged by both replicas`);
    const r = await db.get(`big-${i}`);
    assert.is(r?.values.length, 1);
    assert.ok(same(r?.values[0], values[i]!), `size ${SIZES[i]}: the value read is the value written`);
  }
  await db.put('small', 'tiny');
  const many = await db.getMany(['small', ...SIZES.map((_, i) => `big-${i}`), 'missing']);
  assert.is(new TextDecoder().decode(many[0]!.values[0]), 'tiny');
  for (let i = 0; i < SIZES.length; i++) assert.ok(same(many[i + 1]?.values[0], values[i]!), `getMany: size ${SIZES[i]}`);
  assert.is(many.at(-1), undefined);

  await db.close();
  stores.length = 0;
  const again = (await store({}, dir)).db;
  for (let i = 0; i < SIZES.length; i++) assert.ok(same((await again.get(`big-${i}`))?.values[0], values[i]!), `after reopen: size ${SIZES[i]}`);
});

test('N=3: a big object reaches all three replicas, and one written while a replica was down is handed off to it', async () => {
  const { db } = await store({ shards: 4, n: 3, r: 2, w: 2, restartDelayMs: 1000, handoffIntervalMs: 0 });
  const a = value(8 * MiB, 11);
  const wa = await db.put('replicated', a, { w: 3 });
  assert.is(wa.receipt.replicas.length, 3, 'REPLICATE of 8 MiB acknowledged by the other two');
  assert.ok(same((await db.get('replicated', { r: 3 }))?.values[0], a));

  const key = 'handed-off';
  const [p0, p1, p2] = primaries(db, key, 3) as [string, string, string];
  await db.shards!.kill(p0);
  const b = value(6 * MiB, 12);
  const wb = await db.put(key, b, { w: 3 }); // W=3 with a primary down: the third ack is a fallback's hint
  assert.ok(wb.receipt.hints.length >= 1, 'the write went to a fallback as a hint (HINT of 6 MiB)');
  await db.shards!.waitUp(p0, 10_000);
  let delivered = 0;
  for (let i = 0; i < 20 && delivered === 0; i++) delivered += await db.handoffNow(); // HINTS page, REPLICATE, HINT_DONE: all big
  assert.ok(delivered >= 1, 'the hint was delivered');
  // Only the revived replica answers once the other two are down.
  await db.shards!.kill(p1);
  await db.shards!.kill(p2);
  const r = await db.get(key, { r: 1 });
  assert.ok(same(r?.values[0], b), 'the revived replica holds the whole object');
});

test('hints larger together than a frame are handed off in pages that fit (HINTS replies cut to ~32 MiB)', async () => {
  // The dead shard stays down for 8 s: long enough for the five puts below.
  const { db } = await store({ shards: 4, n: 3, r: 2, w: 2, restartDelayMs: 8000, handoffIntervalMs: 0 });
  // Five keys with the same preference list: while its first shard is down, all five hints
  // (14 MiB each, 70 MiB together: more than one 64 MiB frame) sit on the same fallback.
  const list = primaries(db, 'h-0', 3).join();
  const keys: string[] = [];
  for (let i = 0; keys.length < 5; i++) if (primaries(db, `h-${i}`, 3).join() === list) keys.push(`h-${i}`);
  const down = primaries(db, keys[0]!, 3)[0]!;
  await db.shards!.kill(down);
  const values = keys.map((_, i) => value(14 * MiB, 300 + i));
  for (let i = 0; i < keys.length; i++) {
    const w = await db.put(keys[i]!, values[i]!, { w: 3 });
    assert.is(w.receipt.hints.length, 1, `${keys[i]} left a hint`);
  }
  await db.shards!.waitUp(down, 20_000);
  let delivered = 0;
  for (let i = 0; i < 20 && delivered < keys.length; i++) delivered += await db.handoffNow();
  assert.is(delivered, keys.length, 'every hint was delivered');
  const t = db.shards as unknown as ShardTransport;
  assert.is(t.ids.filter((id) => id !== down).reduce((n, id) => n + t.linkStats(id)!.restarts, 0), 0, 'no holder died on a HINTS page');
  for (const id of primaries(db, keys[0]!, 3).filter((x) => x !== down)) await db.shards!.kill(id);
  for (let i = 0; i < keys.length; i++) assert.ok(same((await db.get(keys[i]!, { r: 1 }))?.values[0], values[i]!), `${keys[i]} on the revived shard`);
});

test('many small requests interleaved with big ones in flight: every one answers correctly', async () => {
  const { db } = await store();
  const bigs = Array.from({ length: 6 }, (_, i) => value((3 + i) * MiB + 17 * i, 100 + i));
  await db.put('big-read', bigs[5]!);
  const work: Promise<void>[] = [];
  for (let i = 0; i < 5; i++) {
    work.push(db.put(`big-${i}`, bigs[i]!).then(async () => {
      assert.ok(same((await db.get(`big-${i}`))?.values[0], bigs[i]!), `big-${i}`);
    }));
    work.push(db.get('big-read').then((r) => assert.ok(same(r?.values[0], bigs[5]!), 'big-read')));
  }
  let small = 0;
  for (let i = 0; i < 3000; i++) {
    const key = `small-${i % 300}`;
    work.push(db.put(key, `v${i}`, { overwrite: true }).then(async () => {
      const r = await db.get(key);
      assert.ok(r !== undefined && r.values.length >= 1, key);
      small++;
    }));
  }
  await Promise.all(work);
  assert.is(small, 3000);
});

test('small writes that each rewrite a big object, drained as one batch, are committed in pieces under the 64 MiB WAL record', async () => {
  const { db } = await store({ shards: 1, n: 1, r: 1, w: 1 });
  const keys = Array.from({ length: 8 }, (_, i) => `sib-${i}`);
  const big = keys.map((_, i) => value(9 * MiB, 400 + i));
  for (let i = 0; i < keys.length; i++) await db.put(keys[i]!, big[i]!);
  // Blind (no context, no overwrite): each small value is kept beside the 9 MiB one, so each
  // of these 8 small frames stages a 9 MiB object (72 MiB together, more than one engine write may hold).
  const results = await db.putMany(keys.map((k, i) => [k, `small-${i}`] as const), { overwrite: false });
  assert.ok(results.every((r) => r.receipt.siblings === 2), 'every put kept both values');
  const back = await db.getMany(keys);
  for (let i = 0; i < keys.length; i++) {
    const values = back[i]!.values;
    assert.is(values.length, 2, keys[i]);
    assert.ok(values.some((v) => same(v, big[i]!)) && values.some((v) => new TextDecoder().decode(v) === `small-${i}`), keys[i]);
  }
});

test.run();
