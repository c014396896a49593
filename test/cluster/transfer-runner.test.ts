// The transfer runner (transfer.ts) on replicas in this thread: it streams the new
// replica's partitions from the holders (tombstones too), retries pages that fail, keeps
// its plan and cursors in TRANSFERS.json, drops transfers a later ring made moot, and
// refuses a corrupt progress file with ERR_CORRUPTION.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NodeRecord } from '../../src/cluster/membership/node-record.js';
import { loadTransfers } from '../../src/cluster/transfer/transfer-file.js';
import { Transfers, type TransferMembership, type TransferOptions } from '../../src/cluster/transfer/transfer.js';
import { InProcessTransport } from '../../src/coordinator/index.js';
import { timeoutError, type Transport } from '../../src/coordinator/transport.js';
import { XxHash64 } from '../../src/hash/xxhash64.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import { Ring, type Member } from '../../src/ring/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryEngine } from '../../src/storage/index.js';
import { RealVfs } from '../../src/storage/env/vfs-real.js';
import { Store } from '../../src/store.js';
import { decodeObject, isTombstoneOnly } from '../../src/version/index.js';
import { eventually } from './transfer-harness.js';

const Q = 64;
const N = 2;
const member = (node: string): Member => ({ id: `${node}/s0`, host: node, rack: 'r', dc: 'dc', weight: 1 });
const record = (id: string): NodeRecord => ({
  id, address: `${id}:1`, dc: 'dc', rack: 'r', shards: 1, weight: 1, generation: 1, heartbeat: 1, ringEpoch: 99, transfers: 0, status: 'up', statusVersion: 1,
});

/** A transport that fails the first `failures` REPLICATE_MANYs to `target` with a timeout. */
class Flaky implements Transport {
  failed = 0;
  constructor(private readonly inner: InProcessTransport, private readonly target: string, private failures: number) {}
  request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    if (replica === this.target && req.type === FrameType.REPLICATE_MANY && this.failures > 0) {
      this.failures--;
      this.failed++;
      return Promise.reject(timeoutError(replica, timeoutMs));
    }
    return this.inner.request(replica, req, timeoutMs);
  }
  isDown(replica: string): boolean {
    return this.inner.isDown(replica);
  }
  onUp(listener: (replica: string) => void): void {
    this.inner.onUp(listener);
  }
}

/**
 * Counts the requests to `target` by type, and corrupts one object in each of the first
 * `corrupt` REPLICATE_MANYs to it, recording what the target answered and which of the
 * frame's keys it holds right after (it must hold none of them).
 */
class Spy implements Transport {
  readonly sent = new Map<number, number>();
  readonly refused: { reply: Reply; keysHeld: number }[] = [];
  constructor(private readonly inner: InProcessTransport, private readonly target: string, private corrupt = 0) {}
  async request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    if (replica !== this.target) return this.inner.request(replica, req, timeoutMs);
    this.sent.set(req.type, (this.sent.get(req.type) ?? 0) + 1);
    if (req.type !== FrameType.REPLICATE_MANY || this.corrupt === 0 || req.entries.length < 2) return this.inner.request(replica, req, timeoutMs);
    this.corrupt--;
    const entries = req.entries.map((e) => ({ hi: e.hi, lo: e.lo, key: e.key.slice(), object: e.object.slice() }));
    entries[entries.length - 1]!.object = new Uint8Array([0xff, 0, 0]);
    const reply = await this.inner.request(replica, { type: FrameType.REPLICATE_MANY, entries }, timeoutMs);
    let keysHeld = 0;
    for (const e of entries) {
      const got = await this.inner.request(replica, { type: FrameType.GET, hi: e.hi, lo: e.lo, key: e.key }, timeoutMs);
      if (got.type !== FrameType.OBJECT || got.object.length > 0) keysHeld++;
    }
    this.refused.push({ reply, keysHeld });
    return reply;
  }
  isDown(replica: string): boolean {
    return this.inner.isDown(replica);
  }
  onUp(listener: (replica: string) => void): void {
    this.inner.onUp(listener);
  }
}

interface World {
  dir: string;
  previous: Ring;
  next: Ring;
  current: { ring: Ring };
  transport: InProcessTransport;
  store: Store;
  membership: TransferMembership;
  close(): Promise<void>;
}

/** Nodes a and b hold every partition (N = 2); c joins. 300 keys written, 20 of them deleted. */
async function world(): Promise<World> {
  const dir = mkdtempSync(`${tmpdir()}/ringkv-transfer-runner-`);
  const previous = Ring.build(['a', 'b'].map(member), Q);
  const next = Ring.build(['a', 'b', 'c'].map(member), Q, { previous });
  const engines = new Map<string, { data: MemoryEngine; hints: MemoryEngine }>();
  const replicas = new Map<string, Replica>();
  for (const [i, node] of ['a', 'b', 'c'].entries()) {
    const e = { data: await MemoryEngine.open(), hints: await MemoryEngine.open() };
    engines.set(node, e);
    replicas.set(`${node}/s0`, new Replica({ replica: i + 1, epoch: 1 }, e));
  }
  const transport = new InProcessTransport(replicas);
  const current = { ring: previous };
  const store = new Store({
    ring: () => current.ring, transport, hasher: await createTokenHasher(),
    defaults: { n: N, r: 1, w: 2, timeoutMs: 1000, sloppy: false, maxSiblings: 64, lww: false },
    handoffIntervalMs: 0,
    close: async () => {
      for (const e of engines.values()) {
        await e.data.close();
        await e.hints.close();
      }
    },
  });
  for (let i = 0; i < 300; i++) await store.put(`k${i}`, `v${i}`);
  for (let i = 0; i < 20; i++) await store.delete(`k${i}`, { context: (await store.get(`k${i}`))!.context });
  current.ring = next;
  const records = ['a', 'b', 'c'].map(record);
  const membership: TransferMembership = {
    get ring() {
      return current.ring;
    },
    records: () => records,
    record: (id) => records.find((r) => r.id === id),
    liveness: () => 'alive',
  };
  return {
    dir, previous, next, current, transport, store, membership,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function options(w: World, self: string, extra: Partial<TransferOptions> = {}): TransferOptions {
  return { self, dir: `${w.dir}/${self}`, vfs: new RealVfs(), n: N, timeoutMs: 1000, settleMs: 0, retryMs: 20, ...extra };
}

/** What c lacks of the keys it replicates in ring `next` (deleted keys must arrive as tombstones). */
async function missingOnC(w: World): Promise<string[]> {
  const hasher = new XxHash64();
  const missing: string[] = [];
  for (let i = 0; i < 300; i++) {
    const key = new TextEncoder().encode(`k${i}`);
    hasher.hash(key);
    const hi = hasher.hi >>> 0;
    const lo = hasher.lo >>> 0;
    if (!w.next.preferenceList(hi, lo, N).includes('c/s0')) continue;
    const reply = await w.transport.request('c/s0', { type: FrameType.GET, hi, lo, key }, 1000);
    if (reply.type !== FrameType.OBJECT || reply.object.length === 0) {
      missing.push(`k${i} absent`);
      continue;
    }
    if (isTombstoneOnly(decodeObject(reply.object)) !== i < 20) missing.push(`k${i} ${i < 20 ? 'lost its tombstone' : 'is a tombstone'}`);
  }
  return missing;
}

const mkdirs = (w: World) => {
  for (const n of ['a', 'b']) mkdirSync(`${w.dir}/${n}`);
};

test('holders stream the joiner\'s partitions, tombstones included, and retry pages that fail', async () => {
  const w = await world();
  try {
    mkdirs(w);
    const flaky = new Flaky(w.transport, 'c/s0', 3);
    const runners = ['a', 'b'].map((self) => new Transfers(w.membership, flaky, options(w, self)));
    for (const r of runners) r.onRing(w.next, w.previous);
    const planned = runners.reduce((s, r) => s + r.pending, 0);
    assert.ok(planned > 0);
    assert.is(planned, partitionsOfC(w), 'one transfer per new replica of a partition');
    for (const r of runners) r.start();
    await eventually(() => (runners.every((r) => r.pending === 0) ? undefined : `${runners.map((r) => r.pending)} pending`), 20_000);
    for (const r of runners) await r.stop();
    assert.is(flaky.failed, 3);
    const status = runners.map((r) => r.status());
    assert.ok(status.reduce((s, t) => s + t.failures, 0) >= 1, 'the failed page is counted');
    assert.is(status.reduce((s, t) => s + t.done, 0), planned);
    assert.match(status.find((t) => t.failures > 0)!.lastError!, 'did not answer');
    assert.equal(await missingOnC(w), []);
    for (const self of ['a', 'b']) assert.equal(loadTransfers(new RealVfs(), `${w.dir}/${self}`), [], 'nothing left on disk');
  } finally {
    await w.close();
  }
});

test('pages go to the joiner as REPLICATE_MANY frames, not one REPLICATE per object, and every object arrives', async () => {
  const w = await world();
  try {
    mkdirs(w);
    const spy = new Spy(w.transport, 'c/s0');
    const runners = ['a', 'b'].map((self) => new Transfers(w.membership, spy, options(w, self)));
    for (const r of runners) r.onRing(w.next, w.previous);
    for (const r of runners) r.start();
    await eventually(() => (runners.every((r) => r.pending === 0) ? undefined : `${runners.map((r) => r.pending)} pending`), 20_000);
    for (const r of runners) await r.stop();
    const moved = runners.reduce((s, r) => s + r.status().keysMoved, 0);
    const frames = spy.sent.get(FrameType.REPLICATE_MANY) ?? 0;
    assert.is(spy.sent.get(FrameType.REPLICATE) ?? 0, 0);
    assert.ok(frames >= 1 && frames <= runners.reduce((s, r) => s + r.status().pages, 0), `${frames} frames for ${moved} objects`);
    assert.ok(moved > frames, `${moved} objects in ${frames} frames`);
    assert.equal(await missingOnC(w), []);
  } finally {
    await w.close();
  }
});

test('a REPLICATE_MANY with a bad object is refused whole (nothing of it stored); the page is retried and the transfer completes', async () => {
  const w = await world();
  try {
    mkdirs(w);
    const spy = new Spy(w.transport, 'c/s0', 2);
    const runners = ['a', 'b'].map((self) => new Transfers(w.membership, spy, options(w, self)));
    for (const r of runners) r.onRing(w.next, w.previous);
    for (const r of runners) r.start();
    await eventually(() => (runners.every((r) => r.pending === 0) ? undefined : `${runners.map((r) => r.pending)} pending`), 20_000);
    for (const r of runners) await r.stop();
    assert.is(spy.refused.length, 2);
    for (const { reply, keysHeld } of spy.refused) {
      assert.is(reply.type, FrameType.ERROR);
      assert.is((reply as { code: string }).code, 'ERR_CORRUPTION');
      assert.match((reply as { message: string }).message, /REPLICATE_MANY entry \d+ of \d+ .* nothing of the frame was applied/);
      assert.is(keysHeld, 0, 'no key of a refused frame is stored');
    }
    const status = runners.map((r) => r.status());
    assert.ok(status.reduce((s, t) => s + t.failures, 0) >= 2, 'the refused pages are counted as failures');
    assert.equal(await missingOnC(w), []);
  } finally {
    await w.close();
  }
});

/** Partitions c replicates in the next ring (it held none before). */
function partitionsOfC(w: World): number {
  let k = 0;
  for (let p = 0; p < Q; p++) if (w.next.listOf(p, N).includes('c/s0')) k++;
  return k;
}

test('the plan and its cursors are on disk before a transfer starts; a later ring drops moot transfers', async () => {
  const w = await world();
  try {
    mkdirs(w);
    const o = options(w, 'a', { settleMs: 60_000 });
    const a = new Transfers(w.membership, w.transport, o);
    a.onRing(w.next, w.previous);
    const saved = loadTransfers(new RealVfs(), o.dir);
    assert.is(saved.length, a.pending);
    assert.ok(saved.length > 0);
    for (const t of saved) {
      assert.is(t.source, 'a/s0');
      assert.is(t.target, 'c/s0');
      assert.is(t.epoch, w.next.epoch);
      assert.is(t.cursor, w.next.partitionRange(t.partition).from);
    }
    const again = new Transfers(w.membership, w.transport, o);
    assert.is(again.pending, saved.length, 'a restart finds them');
    again.onRing(w.next, w.previous);
    assert.is(again.pending, saved.length, 'planning the same change twice adds nothing');
    // c leaves again before anything moved: its transfers are moot.
    const without = Ring.build(['a', 'b'].map(member), Q, { previous: w.next });
    w.current.ring = without;
    again.onRing(without, undefined);
    assert.is(again.pending, 0);
    assert.is(again.status().dropped, saved.length);
    assert.equal(loadTransfers(new RealVfs(), o.dir), []);
  } finally {
    await w.close();
  }
});

test('cursors reach the disk while streaming, not only when the runner stops (a crash resumes near where it was)', async () => {
  const w = await world();
  try {
    mkdirs(w);
    const o = options(w, 'a', { bytesPerSecond: 2000, pageEntries: 2 });
    const a = new Transfers(w.membership, w.transport, o);
    a.onRing(w.next, w.previous);
    const planned = loadTransfers(new RealVfs(), o.dir);
    a.start();
    try {
      await eventually(() => {
        const saved = loadTransfers(new RealVfs(), o.dir);
        const advanced = saved.length < planned.length || saved.some((t) => t.cursor > w.next.partitionRange(t.partition).from);
        return advanced ? undefined : 'no progress on disk yet';
      }, 20_000);
      assert.ok(a.pending > 0, 'still streaming');
    } finally {
      await a.stop();
    }
  } finally {
    await w.close();
  }
});

test('the bytes-per-second throttle holds a transfer back (a lower bound on its time: a slow machine only adds)', async () => {
  const w = await world();
  try {
    mkdirs(w);
    const rate = 2000;
    const a = new Transfers(w.membership, w.transport, options(w, 'a', { bytesPerSecond: rate }));
    a.onRing(w.next, w.previous);
    const started = performance.now();
    a.start();
    await eventually(() => (a.pending === 0 ? undefined : `${a.pending} pending`), 30_000);
    const took = performance.now() - started;
    await a.stop();
    const bytes = a.status().bytesMoved;
    assert.ok(bytes > rate / 2, `only ${bytes} bytes moved`);
    assert.ok(took >= (0.9 * bytes * 1000) / rate, `${bytes} bytes in ${took.toFixed(0)} ms: faster than ${rate} B/s`);
  } finally {
    await w.close();
  }
});

test('status says why a transfer waits: the cluster has not seen the ring, or the target is down', async () => {
  const w = await world();
  try {
    mkdirs(w);
    const stale = { ...w.membership, record: (id: string) => ({ ...record(id), ringEpoch: id === 'c' ? 0 : 99 }), records: () => ['a', 'b', 'c'].map(record) };
    const a = new Transfers(stale, w.transport, options(w, 'a'));
    a.onRing(w.next, w.previous);
    assert.match(a.status().tasks[0]!.waiting ?? '', 'node c has not yet seen ring epoch');
    const b = new Transfers(w.membership, w.transport, options(w, 'b'));
    b.onRing(w.next, w.previous);
    w.transport.setDown('c/s0', true);
    assert.match(b.status().tasks[0]!.waiting ?? '', 'target c/s0 is down');
  } finally {
    await w.close();
  }
});

test('a corrupt TRANSFERS.json is refused with ERR_CORRUPTION naming the file and the way out', () => {
  const dir = mkdtempSync(`${tmpdir()}/ringkv-transfer-file-`);
  try {
    const vfs = new RealVfs();
    for (const text of ['{"version":1,"tasks":[{"partition":1}]}', 'not json', '{"version":2,"tasks":[]}', '{"version":1,"tasks":[{"partition":1,"source":"a","target":"b","epoch":2,"cursor":"99999999999999999999"}]}']) {
      writeFileSync(`${dir}/TRANSFERS.json`, text);
      assert.throws(() => loadTransfers(vfs, dir), (err: { code?: string; message?: string }) => err.code === 'ERR_CORRUPTION' && /TRANSFERS\.json .*delete it/.test(err.message ?? ''), text);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
