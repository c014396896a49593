// Tombstone GC (src/shard/tombstone-gc.ts) over four replicas in this thread (LSM engines on
// an in-memory file system, InProcessTransport), with a clock the test moves forward for
// anti-entropy and the hint stores (writes carry the real time): tombstones are purged only
// after a complete exchange past the grace period, the engines shrink, newer writes survive,
// nothing is purged while a primary is down, and a deleted key never comes back - also
// when a replica that missed the delete returns with the old value (the naive rule, purging
// without that replica, is shown to resurrect it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiEntropy } from '../../src/repair/anti-entropy.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { InProcessTransport } from '../../src/coordinator/index.js';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import { Ring } from '../../src/ring/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryVfs, openEngine } from '../../src/storage/index.js';
import type { StorageEngine } from '../../src/storage/db/types.js';
import { Store } from '../../src/store.js';
import { EMPTY_CLOCK, decodeObject, encodeContext, encodeObject, isTombstoneOnly, mergeObjects, type VObject } from '../../src/version/index.js';
import { open } from '../../src/index.js';
import { partitionOf, replicasOf, tokenOf } from '../support/diverge.js';

const DAY = 24 * 60 * 60 * 1000;
const GRACE = DAY;
const dec = new TextDecoder();

interface Cluster {
  store: Store;
  transport: InProcessTransport;
  engines: Map<string, { data: StorageEngine; hints: StorageEngine }>;
  replicas: Map<string, Replica>;
  ae: AntiEntropy;
  /** How far the test moved the clock of anti-entropy and the hint stores. */
  clock: { offset: number };
}

const open_: Cluster[] = [];
test.after.each(async () => {
  for (const c of open_.splice(0)) {
    await c.ae.stop();
    await c.store.close();
  }
});

async function cluster(): Promise<Cluster> {
  const vfs = new MemoryVfs();
  const clock = { offset: 0 };
  const now = (): number => Date.now() + clock.offset;
  const ids = ['s0', 's1', 's2', 's3'];
  const ring = Ring.build(ids.map((id) => ({ id, host: 'local', rack: 'r', dc: 'dc', weight: 1 })), 16);
  const replicas = new Map<string, Replica>();
  const engines = new Map<string, { data: StorageEngine; hints: StorageEngine }>();
  for (const [i, id] of ids.entries()) {
    const e = { data: await openEngine({ dir: `/${id}/data`, vfs, syncMode: 'none' }), hints: await openEngine({ dir: `/${id}/hints`, vfs, syncMode: 'none' }) };
    engines.set(id, e);
    // Hints live at most a quarter of the grace here (the store requires at most half).
    replicas.set(id, new Replica({ replica: i, epoch: 1 }, e, { hints: { maxAgeMs: GRACE / 4 }, now }));
  }
  const transport = new InProcessTransport(replicas);
  const store = new Store({
    ring, transport, hasher: await createTokenHasher(),
    defaults: { n: 3, r: 2, w: 2, timeoutMs: 2000, sloppy: true, maxSiblings: 64, lww: false },
    handoffIntervalMs: 0,
    close: async () => {
      for (const e of engines.values()) {
        await e.data.close();
        await e.hints.close();
      }
    },
  });
  const ae = new AntiEntropy(() => store.ring, transport, { n: 3, intervalMs: 0, timeoutMs: 2000, partitionPauseMs: 0, bytesPerSecond: 0, tombstoneGraceMs: GRACE, purgeIntervalMs: 0, now });
  const c = { store, transport, engines, replicas, ae, clock };
  open_.push(c);
  return c;
}

/** What `replica` holds for `key` alone (undefined: nothing). */
async function held(c: Cluster, replica: string, key: string): Promise<VObject | undefined> {
  const reply = await c.transport.request(replica, { type: FrameType.GET, ...tokenOf(key) }, 2000);
  assert.is(reply.type, FrameType.OBJECT);
  const bytes = (reply as { object: Uint8Array }).object;
  return bytes.length === 0 ? undefined : decodeObject(bytes.slice());
}

async function values(c: Cluster, key: string): Promise<string[] | undefined> {
  const r = await c.store.get(key, { r: 3 });
  return r?.values.map((v) => dec.decode(v));
}

async function send(c: Cluster, replica: string, req: Request): Promise<Reply> {
  const reply = await c.transport.request(replica, req, 2000);
  if (reply.type === FrameType.ERROR) throw new Error(`${replica}: ${reply.code} ${reply.message}`);
  return reply;
}

/** Records in every data engine after a full compaction (engine tombstones dropped at the bottom). */
async function records(c: Cluster): Promise<number> {
  let n = 0;
  for (const e of c.engines.values()) {
    await e.data.compact();
    n += e.data.stats().approxEntries;
  }
  return n;
}

async function purgeEverything(c: Cluster, replica: string, before: number): Promise<number> {
  const reply = await send(c, replica, { type: FrameType.PURGE, from: { hi: 0, lo: 0, end: false }, to: { hi: 0, lo: 0, end: true }, before, max: 1 << 20 });
  assert.is(reply.type, FrameType.PURGED);
  return (reply as { purged: number }).purged;
}

test('tombstones are purged from every replica only once the grace has passed; the engines shrink; deleted keys stay deleted', async () => {
  const c = await cluster();
  for (let i = 0; i < 300; i++) await c.store.put(`k${i}`, `v${i}`, { w: 3 });
  for (let i = 0; i < 150; i++) await c.store.delete(`k${i}`, { w: 3, context: (await c.store.get(`k${i}`))!.context });
  const full = await records(c);
  assert.is(full, 300 * 3, 'tombstones take a record on each replica');

  const young = await c.ae.runOnce();
  assert.ok(young.every((r) => r.outcome === 'equal' && r.complete));
  assert.is(c.ae.stats().tombstonesPurged, 0, 'within the grace nothing is purged');
  assert.is(await records(c), full);

  c.clock.offset = GRACE + 60_000;
  const old = await c.ae.runOnce();
  assert.is(old.reduce((a, r) => a + r.tombstonesPurged, 0), 150 * 3);
  assert.is(c.ae.stats().tombstonesPurged, 150 * 3);
  assert.is(c.ae.stats().purgeFailures, 0);
  assert.is(await records(c), 150 * 3, 'only the live keys are left on disk');
  for (let i = 0; i < 300; i += 7) assert.equal(await values(c, `k${i}`), i < 150 ? undefined : [`v${i}`]);

  // Another round finds every replica equal (the purged keys are gone everywhere) and purges nothing more.
  const again = await c.ae.runOnce();
  assert.ok(again.every((r) => r.outcome === 'equal'));
  assert.is(c.ae.stats().tombstonesPurged, 150 * 3);
});

test('nothing is purged when a primary is missing from the exchange', async () => {
  const c = await cluster();
  for (let i = 0; i < 40; i++) {
    await c.store.put(`d${i}`, 'v', { w: 3 });
    await c.store.delete(`d${i}`, { w: 3, context: (await c.store.get(`d${i}`))!.context });
  }
  c.clock.offset = GRACE * 2;
  c.transport.setDown('s1', true);
  const results = await c.ae.runOnce();
  const withS1 = results.filter((r) => c.store.ring.listOf(r.partition, 3).includes('s1'));
  assert.ok(withS1.length > 0);
  for (const r of withS1) {
    assert.is(r.complete, false);
    assert.is(r.tombstonesPurged, 0, `partition ${r.partition} purged without s1`);
  }
  // Every key with s1 among its primaries is still a tombstone on the others.
  for (let i = 0; i < 40; i++) {
    const owners = replicasOf(c.store.ring, `d${i}`);
    if (!owners.includes('s1')) continue;
    for (const id of owners.filter((x) => x !== 's1')) {
      const obj = await held(c, id, `d${i}`);
      assert.ok(obj !== undefined && isTombstoneOnly(obj), `d${i} on ${id}`);
    }
  }
  c.transport.setDown('s1', false);
  await c.ae.runOnce();
  for (let i = 0; i < 40; i++) for (const id of replicasOf(c.store.ring, `d${i}`)) assert.is(await held(c, id, `d${i}`), undefined, `d${i} purged from ${id} once s1 is back`);
});

test('a newer write survives a purge: a value written after the delete, and a write in the same batch', async () => {
  const c = await cluster();
  await c.store.put('a', 'old', { w: 3 });
  await c.store.delete('a', { w: 3, context: (await c.store.get('a'))!.context });
  const deleted = (await c.store.get('a', { r: 3 }))?.context; // undefined: the key reads as absent
  assert.is(deleted, undefined);
  await c.store.put('a', 'new', { w: 3 }); // no context: a sibling beside the tombstone
  await c.store.put('b', 'old', { w: 3 });
  await c.store.delete('b', { w: 3, context: (await c.store.get('b'))!.context });
  c.clock.offset = GRACE * 2;
  await c.ae.runOnce();
  assert.equal(await values(c, 'a'), ['new']);
  for (const id of replicasOf(c.store.ring, 'b')) assert.is(await held(c, id, 'b'), undefined);

  // In one batch: a PUT staged before the PURGE keeps its key; one staged after it writes afresh.
  await c.store.put('c', 'old', { w: 3 });
  await c.store.delete('c', { w: 3, context: (await c.store.get('c'))!.context });
  const [owner] = replicasOf(c.store.ring, 'c');
  const replica = c.replicas.get(owner!)!;
  const purge: Request = { type: FrameType.PURGE, from: { hi: 0, lo: 0, end: false }, to: { hi: 0, lo: 0, end: true }, before: Date.now() + 1, max: 1 << 20 };
  const put = (v: string): Request => ({ type: FrameType.PUT, ...tokenOf('c'), context: encodeContext(EMPTY_CLOCK), value: new TextEncoder().encode(v), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false });
  const [p1, r1] = replica.handleBatch([put('before-purge'), purge]);
  assert.is(p1!.type, FrameType.OBJECT);
  assert.is((r1 as { purged: number }).purged, 0, 'the put staged before the purge makes the key live');
  assert.equal((await held(c, owner!, 'c'))!.siblings.filter((s) => s.value !== null).map((s) => dec.decode(s.value!)), ['before-purge']);

  await c.store.delete('c', { w: 3, context: (await c.store.get('c', { r: 3 }))!.context });
  assert.ok(isTombstoneOnly((await held(c, owner!, 'c'))!));
  const [r2, p2] = replica.handleBatch([{ ...purge, before: Date.now() + 1 }, put('after-purge')]);
  assert.is((r2 as { purged: number }).purged, 1);
  assert.is(p2!.type, FrameType.OBJECT);
  assert.equal((await held(c, owner!, 'c'))!.siblings.map((s) => s.value && dec.decode(s.value)), ['after-purge'], 'written afresh after the purge');
});

test('after a purge, a put coordinated by the purging replica is not swallowed by a tombstone copy still elsewhere', async () => {
  const c = await cluster();
  await c.store.put('x', 'v1', { w: 3 });
  await c.store.put('x', 'v2', { w: 3, context: (await c.store.get('x'))!.context });
  await c.store.delete('x', { w: 3, context: (await c.store.get('x'))!.context });
  const [first, second] = replicasOf(c.store.ring, 'x');
  const tombstone = (await held(c, second!, 'x'))!;
  // Only the coordinator (the first primary) purges; the second keeps its tombstone.
  assert.is(await purgeEverything(c, first!, Date.now() + 1), 1);
  const written = await c.store.put('x', 'v3', { w: 1 });
  assert.ok(written);
  const fresh = (await held(c, first!, 'x'))!;
  // Merged with the tombstone copy (its clock covers the counters the purged object used), v3 survives.
  const merged = mergeObjects(tombstone, fresh);
  assert.equal(merged.siblings.filter((s) => s.value !== null).map((s) => dec.decode(s.value!)), ['v3']);

  // The raised counters supersede nothing: a blind put beside a live value of this replica
  // (whose counter is below the floor) keeps it as a sibling.
  const replica = c.replicas.get(first!)!;
  const put = (key: string, v: string): Request => ({ type: FrameType.PUT, ...tokenOf(key), context: encodeContext(EMPTY_CLOCK), value: new TextEncoder().encode(v), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false });
  for (let i = 0; i < 5; i++) replica.handleBatch([put('y', `y${i}`), { type: FrameType.REPLICATE, ...tokenOf('z'), object: encodeObject(tombstone) }]);
  const z = tokenOf('z');
  assert.is(replica.handleBatch([{ type: FrameType.PURGE, from: { hi: z.hi, lo: z.lo, end: false }, to: { hi: 0, lo: 0, end: true }, before: Date.now() + 1, max: 1 }])[0]!.type, FrameType.PURGED);
  replica.handleBatch([put('y', 'y-last')]);
  assert.equal((await held(c, first!, 'y'))!.siblings.map((s) => dec.decode(s.value!)), ['y0', 'y1', 'y2', 'y3', 'y4', 'y-last']);
});

test('a replica that was down with the old value comes back: the key stays deleted (the naive rule would resurrect it)', async () => {
  for (const naive of [false, true]) {
    const c = await cluster();
    const key = 'lazarus';
    await c.store.put(key, 'old', { w: 3 });
    const owners = replicasOf(c.store.ring, key);
    const [a, b, down] = owners as [string, string, string];
    c.transport.setDown(down, true);
    await c.store.delete(key, { context: (await c.store.get(key))!.context });
    // The hint for the down replica is written beside the acknowledged writes: wait for it.
    const pending = (): number => [...c.replicas.values()].reduce((n, r) => n + r.hintStats().pending, 0);
    for (const deadline = Date.now() + 10_000; pending() === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    assert.ok(pending() >= 1, 'the delete was hinted for the down replica');

    // Long after the delete: the hint has expired (so it cannot help), and exchanges run without `down`.
    c.clock.offset = GRACE + 60_000;
    const p = partitionOf(c.store.ring, key);
    if (naive) {
      // The naive rule: purge whatever is old on the replicas that are up.
      for (const id of [a, b]) await purgeEverything(c, id, Date.now() + 1);
    } else {
      const r = await c.ae.runPartition(p);
      assert.is(r.complete, false);
      assert.is(r.tombstonesPurged, 0);
    }
    assert.is(await c.store.handoffNow(), 0, 'an expired hint is never delivered');
    assert.ok([...c.replicas.values()].some((r) => r.hintStats().droppedExpired >= 1));

    c.transport.setDown(down, false);
    assert.equal((await held(c, down, key))?.siblings.map((s) => s.value && dec.decode(s.value)), ['old'], 'the returning replica holds the old value');
    const r = await c.ae.runPartition(p);
    assert.is(r.complete, true);
    if (naive) {
      assert.equal(await values(c, key), ['old'], 'the naive rule resurrects the key');
    } else {
      assert.is(r.tombstonesPurged, 3, 'repaired, then purged everywhere');
      assert.is(await values(c, key), undefined);
      for (const id of owners) assert.is(await held(c, id, key), undefined);
      await c.ae.runPartition(p);
      assert.is(await values(c, key), undefined, 'and it stays deleted');
    }
    await c.ae.stop();
    await c.store.close();
    open_.splice(open_.indexOf(c), 1);
  }
});

test('a PURGE of an empty range is refused with ERR_INVALID_ARGUMENT; a failed PURGE is counted and purges nothing', async () => {
  const c = await cluster();
  const reply = await c.transport.request('s0', { type: FrameType.PURGE, from: { hi: 5, lo: 0, end: false }, to: { hi: 5, lo: 0, end: false }, before: 1, max: 10 }, 2000);
  assert.is(reply.type, FrameType.ERROR);
  assert.is((reply as { code: string }).code, 'ERR_INVALID_ARGUMENT');
  await c.store.put('f', 'v', { w: 3 });
  await c.store.delete('f', { w: 3, context: (await c.store.get('f'))!.context });
  c.clock.offset = GRACE * 2;
  const [victim] = replicasOf(c.store.ring, 'f');
  const real = c.transport.request.bind(c.transport);
  c.transport.request = (replica: string, req: Request, timeoutMs: number) =>
    replica === victim && req.type === FrameType.PURGE ? Promise.resolve({ type: FrameType.ERROR, code: 'ERR_IO', message: 'injected' } as Reply) : real(replica, req, timeoutMs);
  await c.ae.runPartition(partitionOf(c.store.ring, 'f'));
  assert.ok(c.ae.stats().purgeFailures >= 1);
  const obj = await held(c, victim!, 'f');
  assert.ok(obj !== undefined && isTombstoneOnly(obj), 'the failing replica keeps its tombstone');
  assert.is(await values(c, 'f'), undefined);
});

test('a partition is purged at most once per purgeIntervalMs, the first time within one interval of the start', async () => {
  const c = await cluster();
  const clock = c.clock;
  const ae = new AntiEntropy(() => c.store.ring, c.transport, {
    n: 3, intervalMs: 0, timeoutMs: 2000, partitionPauseMs: 0, bytesPerSecond: 0, tombstoneGraceMs: GRACE, purgeIntervalMs: 60_000,
    now: () => Date.now() + clock.offset,
  });
  const deleteAll = async (prefix: string): Promise<void> => {
    for (let i = 0; i < 60; i++) {
      await c.store.put(`${prefix}${i}`, 'v', { w: 3 });
      await c.store.delete(`${prefix}${i}`, { w: 3, context: (await c.store.get(`${prefix}${i}`))!.context });
    }
  };
  try {
    await deleteAll('p');
    clock.offset = GRACE * 2;
    await ae.runOnce(); // the clock jumped past every partition's first due time
    assert.is(ae.stats().tombstonesPurged, 60 * 3);
    await deleteAll('q');
    clock.offset = GRACE * 4;
    const before = Date.now();
    await ae.runOnce(); // two days later by the test clock: due again
    assert.is(ae.stats().tombstonesPurged, 120 * 3);
    await deleteAll('r');
    // Old enough (written 4 grace periods back by the AE clock) but the interval has not passed.
    clock.offset = GRACE * 4 + (Date.now() - before) + 1000;
    await ae.runOnce();
    assert.is(ae.stats().tombstonesPurged, 120 * 3, 'not due yet');
    clock.offset += 60_000;
    await ae.runOnce();
    assert.is(ae.stats().tombstonesPurged, 180 * 3);
  } finally {
    await ae.stop();
  }
});

test('open() refuses a tombstone grace shorter than twice the hint max age', async () => {
  for (const tombstoneGraceMs of [1000, -1, 1.5, 6 * 60 * 60 * 1000 - 1]) {
    await open({ dir: '/nonexistent-ringkv-test', tombstoneGraceMs }).then(
      () => assert.unreachable(`accepted ${tombstoneGraceMs}`),
      (e: { code?: string }) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'),
    );
  }
});

test.run();
