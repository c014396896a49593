// Anti-entropy over replicas in this thread (InProcessTransport, in-memory engines): replicas
// diverged behind the coordinator's back (no hints, no read repair) converge after one
// round, siblings and tombstones included; equal replicas compare roots only; a replica
// that stalls, goes down or answers garbage fails its exchange cleanly, and a later run
// repairs it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiEntropy, type AntiEntropyOptions } from '../../src/repair/anti-entropy.js';
import { timeoutError, type Transport } from '../../src/coordinator/transport.js';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import { MemoryVfs, openEngine } from '../../src/storage/index.js';
import { EMPTY_CLOCK, encodeContext } from '../../src/version/index.js';
import { localCluster, type LocalCluster } from '../support/local-cluster.js';
import { checkMerged, diverge, inBatches, partitionOf, perPartition, readAlone, replicasOf, sameEverywhere, tokenOf, treesAgree, type Divergence } from '../support/diverge.js';

const clusters: LocalCluster[] = [];
const engines: AntiEntropy[] = [];
test.after.each(async () => {
  for (const a of engines.splice(0)) await a.stop();
  for (const c of clusters.splice(0)) await c.store.close();
});

/** Four replicas on LSM engines over an in-memory file system (ordered scans, as in a shard). */
async function cluster(): Promise<LocalCluster> {
  const vfs = new MemoryVfs();
  const c = await localCluster(4, { timeoutMs: 2000 }, async (id) => ({
    data: await openEngine({ dir: `/${id}/data`, vfs, syncMode: 'none' }),
    hints: await openEngine({ dir: `/${id}/hints`, vfs, syncMode: 'none' }),
  }));
  clusters.push(c);
  return c;
}

function antiEntropy(c: LocalCluster, transport: Transport = c.transport, o: Partial<AntiEntropyOptions> = {}): AntiEntropy {
  const a = new AntiEntropy(() => c.store.ring, transport, { n: 3, intervalMs: 0, timeoutMs: 2000, partitionPauseMs: 0, bytesPerSecond: 0, ...o });
  engines.push(a);
  return a;
}

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

async function writeAll(c: LocalCluster, ks: readonly string[]): Promise<void> {
  await inBatches(ks, 1000, async (k) => {
    await c.store.put(k, `base-${k}`, { w: 3 });
  });
}

/** A transport that passes requests on, except those a test makes stall or answer garbage. */
class FaultyTransport implements Transport {
  /** Returns a replacement reply (garbage), 'stall' (never answer: time out), or undefined (pass). */
  fault: ((replica: string, req: Request) => Reply | 'stall' | undefined) | undefined;

  constructor(private readonly inner: Transport) {}

  async request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    const f = this.fault?.(replica, req);
    if (f === 'stall') {
      await new Promise((r) => setTimeout(r, timeoutMs));
      throw timeoutError(replica, timeoutMs);
    }
    const reply = await this.inner.request(replica, req, timeoutMs);
    return f ?? reply;
  }

  isDown(replica: string): boolean {
    return this.inner.isDown(replica);
  }

  onUp(listener: (replica: string) => void): void {
    this.inner.onUp(listener);
  }
}

test('10k keys diverged (fresh, concurrent, deleted) among 30k: one round converges every replica, siblings survive, deletes stay', async () => {
  const c = await cluster();
  const base = keys('base-', 22_000);
  await writeAll(c, base);
  const d: Divergence = { fresh: keys('fresh-', 6000), concurrent: keys('conc-', 2000), deleted: base.slice(0, 2000) };
  await diverge(c.store.ring, c.transport, d);
  // Divergence is real: a fresh key is on one replica only.
  const probe = replicasOf(c.store.ring, d.fresh[0]!);
  assert.equal(await Promise.all(probe.map(async (r) => (await readAlone(c.transport, r, d.fresh[0]!)) !== undefined)), [true, false, false]);

  const a = antiEntropy(c);
  const t0 = performance.now();
  const results = await a.runOnce();
  const ms = performance.now() - t0;
  assert.equal(results.filter((r) => r.outcome === 'failed').map((r) => r.error), []);
  const s = a.stats();
  assert.is(s.keysRepaired, 10_000, 'exactly the diverged keys are repaired');
  assert.is(s.objectsSent, 6000 * 2 + 2000 * 3 + 2000 * 2, 'each replica lacking the merge gets it once');
  console.log(`  in-thread: 10k of 30k keys diverged: converged in ${ms.toFixed(0)} ms, ${(s.bytesMoved / 1024).toFixed(0)} KiB moved, ${s.exchanges} exchanges`);

  const merged = await sameEverywhere(c.store.ring, c.transport, [...d.fresh, ...d.concurrent, ...d.deleted, ...base.slice(2000, 3000)]);
  checkMerged(merged, d);
  for (const k of d.deleted.slice(0, 50)) assert.is(await c.store.get(k), undefined, `${k} reads as deleted`);
  const conflict = await c.store.get(d.concurrent[0]!);
  assert.is(conflict!.values.length, 2, 'a read sees both concurrent values');
  await treesAgree(c.store.ring, c.transport, perPartition(c.store.ring, [...base, ...d.fresh, ...d.concurrent]));

  // Equal replicas: the next round compares one root per replica and partition, moves nothing.
  const again = await a.runOnce();
  assert.ok(again.every((r) => r.outcome === 'equal' && r.keysRepaired === 0 && r.segments === 1));
  assert.ok(again.every((r) => r.bytes === 3 * (32 + 8)), 'only roots (32 bytes + a header) per replica');
  assert.is(a.stats().keysRepaired, 10_000);
  assert.ok(a.oldestExchangeAgeMs()! >= 0);
  assert.is(a.stats().lastExchangeAt.filter((t) => t === 0).length, 0);
});

test('a replica that times out mid-exchange fails the exchange cleanly; the next run repairs it', async () => {
  const c = await cluster();
  await writeAll(c, keys('b', 300));
  const d: Divergence = { fresh: keys('f', 40), concurrent: [], deleted: [] };
  await diverge(c.store.ring, c.transport, d);
  const faulty = new FaultyTransport(c.transport);
  const a = antiEntropy(c, faulty, { timeoutMs: 150 });
  const p = partitionOf(c.store.ring, d.fresh[0]!);
  const victim = replicasOf(c.store.ring, d.fresh[0]!)[1]!;
  // Roots and leaves answer; the victim's RANGE (the repair step) never does.
  faulty.fault = (replica, req) => (replica === victim && req.type === FrameType.RANGE ? 'stall' : undefined);
  const failed = await a.runPartition(p);
  assert.is(failed.outcome, 'failed');
  assert.match(failed.error!, /did not answer within 150 ms/);
  assert.is(a.stats().exchangesFailed, 1);
  assert.is(a.stats().lastExchangeAt[p], 0, 'a failed exchange does not count as one');

  faulty.fault = undefined;
  const retried = await a.runPartition(p);
  assert.is(retried.outcome, 'repaired');
  assert.ok(a.stats().lastExchangeAt[p]! > 0);
  await sameEverywhere(c.store.ring, c.transport, d.fresh.filter((k) => partitionOf(c.store.ring, k) === p));
});

test('a replica that is down: its partitions exchange among the others (not counted as complete), then in full once it is back', async () => {
  const c = await cluster();
  await writeAll(c, keys('b', 400));
  c.transport.setDown('s2', true);
  const d: Divergence = { fresh: keys('f', 100), concurrent: keys('c', 30), deleted: [] };
  // Written to whichever replicas are up.
  for (const [i, k] of d.fresh.entries()) {
    const up = replicasOf(c.store.ring, k).filter((r) => r !== 's2');
    await c.transport.request(up[i % up.length]!, { type: FrameType.PUT, ...tokenOf(k), context: encodeContext(EMPTY_CLOCK), value: new TextEncoder().encode(`fresh-${k}`), writtenAt: 1, expiresAt: 0, maxSiblings: 9, lww: false }, 1000);
  }
  const a = antiEntropy(c);
  const partial = await a.runOnce();
  const withS2 = partial.filter((r) => c.store.ring.listOf(r.partition, 3).includes('s2'));
  assert.ok(withS2.length > 0);
  assert.ok(withS2.every((r) => !r.complete && r.outcome !== 'failed' && !r.replicas.includes('s2')));
  assert.is(a.oldestExchangeAgeMs(), null, 'some partitions have had no full exchange');

  c.transport.setDown('s2', false);
  await diverge(c.store.ring, c.transport, { fresh: [], concurrent: d.concurrent, deleted: [] });
  const full = await a.runOnce();
  assert.ok(full.every((r) => r.complete && r.outcome !== 'failed'));
  assert.ok(a.oldestExchangeAgeMs() !== null);
  const merged = await sameEverywhere(c.store.ring, c.transport, [...d.fresh, ...d.concurrent]);
  checkMerged(merged, { fresh: [], concurrent: d.concurrent, deleted: [] });
});

test('garbage replies are counted and fail the exchange; nothing crashes and nothing bogus is written', async () => {
  const c = await cluster();
  await writeAll(c, keys('b', 300));
  const d: Divergence = { fresh: keys('f', 60), concurrent: [], deleted: [] };
  await diverge(c.store.ring, c.transport, d);
  const p = partitionOf(c.store.ring, d.fresh[0]!);
  const list = c.store.ring.listOf(p, 3);
  const victim = list[2]!;
  const { from } = c.store.ring.partitionRange(p);
  const outside = { hi: Number((from - 1n) >> 32n), lo: Number((from - 1n) & 0xffffffffn) };
  const inside = { hi: Number(from >> 32n), lo: 1 };
  const bogus = new TextEncoder().encode('bogus-key');
  const goodObject = (await c.transport.request(list[0]!, { type: FrameType.GET, ...tokenOf('b1') }, 1000) as { object: Uint8Array }).object;
  const cases: [string, (req: Request) => Reply | undefined][] = [
    ['ACK to a TREE', (req) => (req.type === FrameType.TREE ? { type: FrameType.ACK } : undefined)],
    ['two leaves for a root', (req) => (req.type === FrameType.TREE ? { type: FrameType.HASHES, entries: 1, complete: true, leaves: new Uint8Array(64) } : undefined)],
    ['ERROR ERR_PROTOCOL', (req) => (req.type === FrameType.TREE ? { type: FrameType.ERROR, code: 'ERR_PROTOCOL', message: 'bad frame' } : undefined)],
    ['a token outside the range', (req) => (req.type === FrameType.RANGE ? { type: FrameType.OBJECTS, entries: [{ ...outside, key: bogus, object: goodObject }], done: true, next: req.to } : undefined)],
    ['an object that does not decode', (req) => (req.type === FrameType.RANGE ? { type: FrameType.OBJECTS, entries: [{ ...tokenOf(d.fresh[0]!), object: new Uint8Array([0xff, 1, 2, 3]) }], done: true, next: req.to } : undefined)],
    ['a key under a token not its own', (req) => (req.type === FrameType.RANGE ? { type: FrameType.OBJECTS, entries: [{ ...inside, key: bogus, object: goodObject }], done: true, next: req.to } : undefined)],
    ['a resume point before the start', (req) => (req.type === FrameType.RANGE ? { type: FrameType.OBJECTS, entries: [], done: false, next: { hi: 0, lo: 0, end: false } } : undefined)],
  ];
  for (const [what, rewrite] of cases) {
    const faulty = new FaultyTransport(c.transport);
    faulty.fault = (replica, req) => (replica === victim ? rewrite(req) : undefined);
    const a = antiEntropy(c, faulty);
    const r = await a.runPartition(p);
    assert.is(r.outcome, 'failed', what);
    assert.ok(a.stats().badReplies >= 1, `${what}: counted as a bad reply`);
    assert.is(a.stats().exchangesFailed, 1, what);
  }
  // Nothing bogus landed anywhere: the bogus key is on no replica, under no token.
  for (const id of c.ids) {
    for (const e of c.engines.get(id)!.data.scan(0n, 1n << 64n)) assert.not.equal(new TextDecoder().decode(e.key), 'bogus-key');
  }
  // And the replicas are still repairable.
  const a = antiEntropy(c);
  assert.is((await a.runPartition(p)).outcome, 'repaired');
});

test('a repair frame refused for one of its entries is resent one object at a time: only that key is left unrepaired', async () => {
  const c = await cluster();
  await writeAll(c, keys('b', 300));
  const d: Divergence = { fresh: keys('f', 400), concurrent: [], deleted: [] };
  await diverge(c.store.ring, c.transport, d);
  const bad = d.fresh[0]!;
  const p = partitionOf(c.store.ring, bad);
  const here = d.fresh.filter((k) => partitionOf(c.store.ring, k) === p);
  assert.ok(here.length >= 4, `${here.length} fresh keys in partition ${p}`);
  const isBad = (key: Uint8Array): boolean => new TextDecoder().decode(key) === bad;
  const refusal = (what: string): Reply => ({ type: FrameType.ERROR, code: 'ERR_CORRUPTION', message: `${what}: corruption in the stored object` });
  const faulty = new FaultyTransport(c.transport);
  let frames = 0;
  let refusedEntries = 0;
  let singles = 0;
  faulty.fault = (_replica, req) => {
    if (req.type === FrameType.REPLICATE_MANY) {
      frames++;
      if (!req.entries.some((e) => isBad(e.key))) return undefined;
      refusedEntries += req.entries.length;
      return refusal('REPLICATE_MANY entry 0 of 2 failed');
    }
    if (req.type === FrameType.REPLICATE) {
      singles++;
      if (isBad(req.key)) return refusal('REPLICATE');
    }
    return undefined;
  };
  const r = await antiEntropy(c, faulty).runPartition(p);
  assert.is(r.outcome, 'failed');
  // The fresh key was written to one replica of three: its two REPLICATEs failed, nothing else.
  assert.match(r.error!, '2 key(s) left unrepaired');
  assert.is(r.keysRepaired, here.length - 1);
  assert.ok(frames >= 1 && refusedEntries > 2, `${frames} frames, ${refusedEntries} entries in refused ones`);
  assert.is(singles, refusedEntries, 'only the refused frames were resent one object at a time');
});

test('a partition larger than one TREE may hash is cut into segments, and later exchanges start cut', async () => {
  const c = await cluster();
  const base = keys('b', 6000); // ~94 per partition of 64
  await writeAll(c, base);
  const d: Divergence = { fresh: keys('f', 300), concurrent: keys('c', 100), deleted: base.slice(0, 100) };
  await diverge(c.store.ring, c.transport, d);
  const a = antiEntropy(c, c.transport, { treeMaxEntries: 30 });
  const results = await a.runOnce();
  assert.ok(results.every((r) => r.outcome !== 'failed'));
  assert.ok(results.every((r) => r.segments >= 4), 'each partition was cut in at least 4');
  assert.is(a.stats().keysRepaired, 500);
  checkMerged(await sameEverywhere(c.store.ring, c.transport, [...d.fresh, ...d.concurrent, ...d.deleted]), d);
  const again = await a.runOnce();
  assert.ok(again.every((r) => r.outcome === 'equal'));
  // The repair added keys, so a segment may have outgrown the cap once more; from then on
  // every exchange starts cut finely enough.
  const third = await a.runOnce();
  const refused = third.filter((r) => r.bytes !== r.segments * 3 * 40);
  assert.equal(refused.map((r) => [r.partition, r.segments, r.bytes]), [], 'the second round starts cut: no refused TREE costs bytes');
});

test('the schedule converges on its own; stop() ends it at once, even mid-pause', async () => {
  const c = await cluster();
  await writeAll(c, keys('b', 500));
  const d: Divergence = { fresh: keys('f', 200), concurrent: keys('c', 50), deleted: [] };
  await diverge(c.store.ring, c.transport, d);
  const a = antiEntropy(c, c.transport, { intervalMs: 20, partitionPauseMs: 1 });
  a.start();
  const deadline = Date.now() + 30_000;
  while (a.stats().keysRepaired < 250 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await a.stop();
  assert.is(a.stats().keysRepaired, 250);
  checkMerged(await sameEverywhere(c.store.ring, c.transport, [...d.fresh, ...d.concurrent]), d);

  const idle = antiEntropy(c, c.transport, { intervalMs: 3_600_000 });
  idle.start();
  await idle.stop(); // resolves without waiting for the hour
  assert.is(idle.stats().rounds, 0);
});

test('the store runs anti-entropy as configured and reports it in stats()', async () => {
  const c = await cluster();
  const st = await c.store.stats();
  assert.equal(st.antiEntropy, { rounds: 0, exchanges: 0, exchangesFailed: 0, exchangesSkipped: 0, keysRepaired: 0, bytesMoved: 0, badReplies: 0, tombstonesPurged: 0, purgeFailures: 0, oldestExchangeAgeMs: null });
  await writeAll(c, keys('b', 100));
  await diverge(c.store.ring, c.transport, { fresh: keys('f', 20), concurrent: [], deleted: [] });
  await c.store.antiEntropy.runOnce();
  const after = (await c.store.stats()).antiEntropy;
  assert.is(after.keysRepaired, 20);
  assert.is(after.rounds, 1);
  assert.ok(after.oldestExchangeAgeMs !== null && after.oldestExchangeAgeMs >= 0);
});

test.run();
