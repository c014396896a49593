// Shard workers dying under load: every acknowledged write stays readable, writes during the
// outage land as hints and reach the restarted shard, and no request hangs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, type Store } from '../../src/index.js';
import { createTokenHasher } from '../../src/hash/index.js';

const hasher = await createTokenHasher();
const text = (v: Uint8Array) => new TextDecoder().decode(v);
const dirs: string[] = [];
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const stores: Store[] = [];
test.after.each(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function store(restartDelayMs: number): Promise<Store> {
  const dir = mkdtempSync(`${tmpdir()}/ringkv-failure-`);
  dirs.push(dir);
  return track(open({ dir, shards: 4, n: 3, r: 2, w: 2, timeoutMs: 500, restartDelayMs, handoffIntervalMs: 200, storage: { syncMode: 'batch', memtableBytes: 256 * 1024 } }));
}

async function track(p: Promise<Store>): Promise<Store> {
  const s = await p;
  stores.push(s);
  return s;
}

function primaries(db: Store, key: string): readonly string[] {
  hasher.hash(new TextEncoder().encode(key));
  return db.ring.listOf(db.ring.partitionOf(hasher.hi, hasher.lo), 3);
}

/** Far above a write's 500 ms timeout and a shard's restart: a write not settled by then hung. */
const HUNG_MS = 30_000;
const HUNG = Symbol('hung');

/** Writes unique keys from `writers` loops until `stop()`; returns the acknowledged ones and the writes that hung. */
async function load(db: Store, writers: number, stop: () => boolean, acked = new Map<string, string>()) {
  const hung: string[] = [];
  let failed = 0;
  let next = 0;
  await Promise.all(Array.from({ length: writers }, async () => {
    while (!stop()) {
      const key = `key-${next++}`;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<typeof HUNG>((r) => (timer = setTimeout(() => r(HUNG), HUNG_MS)));
      try {
        const outcome = await Promise.race([db.put(key, `value-of-${key}`), deadline]);
        if (outcome === HUNG) hung.push(key);
        else acked.set(key, `value-of-${key}`);
      } catch {
        failed++;
      } finally {
        clearTimeout(timer);
      }
    }
  }));
  return { acked, failed, hung };
}

for (const how of ['terminate', 'throw'] as const) {
  test(`a shard killed by ${how} under load: every acknowledged write is readable, nothing hangs`, async () => {
    const db = await store(150);
    let stop = false;
    const ackedSoFar = new Map<string, string>();
    const running = load(db, 32, () => stop, ackedSoFar);
    // The phases end on outcomes (so many writes acknowledged), not on fixed pauses: a busy
    // machine that writes slowly still kills each shard under load.
    const acknowledged = async (n: number, what: string): Promise<void> => {
      const until = Date.now() + HUNG_MS;
      while (ackedSoFar.size < n) {
        if (Date.now() > until) assert.unreachable(`${what}: only ${ackedSoFar.size} of ${n} writes acknowledged in ${HUNG_MS} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await acknowledged(50, 'before the first kill');
    await db.shards!.kill('s1', how);
    await acknowledged(ackedSoFar.size + 75, 'after s1 was killed');
    await db.shards!.kill('s3', how);
    await acknowledged(ackedSoFar.size + 100, 'after s3 was killed');
    stop = true;
    const { acked, failed, hung } = await running;
    assert.ok(acked.size > 200, `only ${acked.size} writes acknowledged`);
    assert.ok(failed <= acked.size / 10, `${failed} of ${acked.size + failed} writes failed`);
    assert.equal(hung, [], `writes not settled within ${HUNG_MS} ms`);
    await db.shards!.waitUp('s1', 5000);
    await db.shards!.waitUp('s3', 5000);
    // Sloppy quorum: a write acknowledged by one primary and a fallback's hint is on the
    // primaries once the hints are handed back.
    await db.handoffNow();
    const lost: string[] = [];
    for (const [k, v] of acked) {
      const r = await db.get(k);
      if (!r || !r.values.map(text).includes(v)) lost.push(k);
    }
    assert.equal(lost.slice(0, 5), [], `${lost.length} acknowledged writes lost`);
    const stats = await db.stats();
    assert.ok(stats.shards!.every((s) => (s as { up: boolean }).up), 'all shards back up');
    await db.close();
  });
}

test('writes during an outage land as hints and reach the restarted shard', async () => {
  const db = await store(1500);
  await db.shards!.kill('s1');
  const hinted: string[] = [];
  for (let i = 0; hinted.length < 40 && i < 400; i++) {
    // W=3: the write returns only once the hint for s1 (if any) is acknowledged too, so the
    // receipt names it.
    const w = await db.put(`h${i}`, `v${i}`, { w: 3 });
    assert.ok(!w.receipt.replicas.includes('s1'));
    if (w.receipt.hints.some((h) => h.for === 's1')) hinted.push(`h${i}`);
  }
  assert.is(hinted.length, 40);
  await db.shards!.waitUp('s1', 5000);
  for (const until = Date.now() + 30_000; (await db.stats()).hintsDelivered < (await db.stats()).hintsWritten && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50)); // a generous deadline, then the assert below
  const stats = await db.stats();
  assert.ok(stats.hintsDelivered >= stats.hintsWritten, `delivered ${stats.hintsDelivered} of ${stats.hintsWritten}`);

  // Prove s1 holds them: take the other primaries of one key down and read from s1 alone.
  const others = primaries(db, hinted[0]!).filter((id) => id !== 's1');
  const same = hinted.filter((k) => primaries(db, k).filter((id) => id !== 's1').join() === others.join());
  for (const id of others) await db.shards!.kill(id);
  for (const k of same) {
    const r = await db.get(k, { r: 1 });
    assert.equal(r?.values.map(text), [`v${k.slice(1)}`], `s1 lacks ${k}`);
  }
  await db.close();
});

test('quorum edges on worker shards: strict W=N fails with a shard down, sloppy W=N succeeds with a hint', async () => {
  const db = await store(2000);
  let key = '';
  for (let i = 0; ; i++) if (primaries(db, (key = `q${i}`)).includes('s2')) break;
  await db.put(key, 'before');
  await db.shards!.kill('s2');
  const strict = await db.put(key, 'strict', { w: 3, sloppy: false }).catch((e) => e);
  assert.is(strict.code, 'ERR_QUORUM');
  assert.match(strict.message, /2 of the 3/);
  const sloppy = await db.put(key, 'sloppy', { w: 3 });
  assert.equal(sloppy.receipt.hints.map((h) => h.for), ['s2']);
  // R=3 with a primary down: a strict read fails; a sloppy one counts a stand-in's answer.
  const all = await db.get(key, { r: 3, sloppy: false }).catch((e) => e);
  assert.is(all.code, 'ERR_QUORUM');
  const sloppyRead = await db.get(key, { r: 3 });
  assert.ok(sloppyRead !== undefined && sloppyRead.receipt.fallbacks !== undefined, 'a stand-in answered for s2');
  const some = await db.get(key, { r: 1 });
  assert.ok(some && some.values.length >= 1);
  await db.close();
});

test.run();
