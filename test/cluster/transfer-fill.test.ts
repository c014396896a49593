// Reads of a replica still being filled (transfer-fill.ts): a GET to it also asks the
// partition's senders and answers the merge, until every sender has reported the partition
// done; a PUT it coordinates supersedes the senders' versions; the state survives a restart (FILLING.json); other requests pass straight through;
// a sender that cannot answer is left out, a removed one no longer waited for; bad reports
// and files are refused.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Filling, FillingTransport, parseTransferDone } from '../../src/cluster/transfer/transfer-fill.js';
import { planTransfers } from '../../src/cluster/transfer/transfer-plan.js';
import { InProcessTransport } from '../../src/coordinator/index.js';
import type { Transport } from '../../src/coordinator/transport.js';
import { XxHash64 } from '../../src/hash/xxhash64.js';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import { Ring, type Member } from '../../src/ring/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryEngine } from '../../src/storage/index.js';
import { RealVfs } from '../../src/storage/env/vfs-real.js';
import { EMPTY_CLOCK, coordinatePut, decodeObject, encodeObject, mergeObjects, visibleValues } from '../../src/version/index.js';

const Q = 16;
const N = 2;
const member = (node: string): Member => ({ id: `${node}/s0`, host: node, rack: 'r', dc: 'dc', weight: 1 });
const previous = Ring.build(['a', 'b'].map(member), Q);
const next = Ring.build(['a', 'b', 'c'].map(member), Q, { previous });
const up = () => 'up' as const;
const dec = new TextDecoder();

interface Setup {
  dir: string;
  filling: Filling;
  filled: FillingTransport;
  all: InProcessTransport;
  close(): Promise<void>;
}

/** a and b hold key `k` (in a partition c fills); c holds nothing; c's node sees its local shard as 's0'. */
async function setup(key: Uint8Array): Promise<Setup> {
  const dir = mkdtempSync(`${tmpdir()}/ringkv-fill-`);
  const engines: MemoryEngine[] = [];
  const replicas = new Map<string, Replica>();
  for (const [i, node] of ['a', 'b', 'c'].entries()) {
    const e = { data: await MemoryEngine.open(), hints: await MemoryEngine.open() };
    engines.push(e.data, e.hints);
    replicas.set(`${node}/s0`, new Replica({ replica: i + 1, epoch: 1 }, e));
  }
  const all = new InProcessTransport(replicas);
  const h = new XxHash64();
  h.hash(key);
  const obj = coordinatePut(undefined, EMPTY_CLOCK, { replica: 1, epoch: 1 }, { value: new TextEncoder().encode('held'), writtenAt: 1, expiresAt: 0 }, { maxSiblings: 8, lww: false });
  for (const r of ['a/s0', 'b/s0']) await all.request(r, { type: FrameType.REPLICATE, hi: h.hi >>> 0, lo: h.lo >>> 0, key, object: encodeObject(obj) }, 1000);
  const local: Transport = {
    request: (id, req, ms) => all.request(`c/${id}`, req, ms),
    isDown: (id) => all.isDown(`c/${id}`),
    onUp: () => {},
  };
  const filling = new Filling('c', N, new RealVfs(), dir);
  const filled = new FillingTransport('c', local, () => all, filling, () => next);
  return {
    dir, filling, filled, all,
    close: async () => {
      await filling.saved();
      for (const e of engines) await e.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A key whose partition c replicates in `next`, found by trying. */
function keyFilledByC(): { key: Uint8Array; p: number; hi: number; lo: number } {
  const h = new XxHash64();
  for (let i = 0; ; i++) {
    const key = new TextEncoder().encode(`key${i}`);
    h.hash(key);
    const p = next.partitionOf(h.hi >>> 0, h.lo >>> 0);
    if (next.listOf(p, N).includes('c/s0')) return { key, p, hi: h.hi >>> 0, lo: h.lo >>> 0 };
  }
}

const values = (r: Reply): string[] => (r.type === FrameType.OBJECT && r.object.length > 0 ? visibleValues(decodeObject(r.object), Date.now()).map((v) => dec.decode(v)) : []);

test('a GET to a filling replica answers what its senders hold, until they report done', async () => {
  const { key, p, hi, lo } = keyFilledByC();
  const s = await setup(key);
  try {
    await s.filling.onRing(next, previous, up);
    const sources = s.filling.sourcesOf(p, 'c/s0');
    assert.ok(sources !== undefined && sources.size === 1);
    const senders = ['a', 'b'].flatMap((n) => planTransfers(previous, next, N, n, up)).filter((t) => t.partition === p && t.target === 'c/s0');
    assert.equal([...sources!], senders.map((t) => t.source), 'the same senders as the plan');
    const get: Request = { type: FrameType.GET, hi, lo, key };
    assert.equal(values(await s.filled.request('s0', get, 1000)), ['held'], 'request()');
    const viaSend = await new Promise<Reply>((resolve, reject) => s.filled.send('s0', get, 1000, { onReply: (r) => resolve(r), onError: reject }, 7));
    assert.equal(values(viaSend), ['held'], 'send()');
    assert.equal(values(await s.all.request('c/s0', get, 1000)), [], 'c itself holds nothing');
    // A restart keeps asking.
    const again = new Filling('c', N, new RealVfs(), s.dir);
    assert.equal([...(again.sourcesOf(p, 'c/s0') ?? [])], [...sources!]);
    await s.filling.done({ partition: p, target: 'c/s0', source: 'zz/s0' }); // not a sender: ignored
    assert.ok(s.filling.sourcesOf(p, 'c/s0') !== undefined);
    await s.filling.done({ partition: p, target: 'c/s0', source: [...sources!][0]! });
    assert.is(s.filling.sourcesOf(p, 'c/s0'), undefined);
    assert.equal(values(await s.filled.request('s0', get, 1000)), [], 'done: c answers for itself');
    assert.is(new Filling('c', N, new RealVfs(), s.dir).sourcesOf(p, 'c/s0'), undefined, 'done is durable');
  } finally {
    await s.close();
  }
});

test('a sender that cannot answer is left out; writes pass straight through; a later ring drops the entry', async () => {
  const { key, p, hi, lo } = keyFilledByC();
  const s = await setup(key);
  try {
    await s.filling.onRing(next, previous, up);
    for (const src of s.filling.sourcesOf(p, 'c/s0')!) s.all.setDown(src, true);
    const get: Request = { type: FrameType.GET, hi, lo, key };
    const r = await s.filled.request('s0', get, 200);
    assert.is(r.type, FrameType.OBJECT);
    assert.equal(values(r), []);
    const obj = coordinatePut(undefined, EMPTY_CLOCK, { replica: 9, epoch: 1 }, { value: new TextEncoder().encode('new'), writtenAt: 2, expiresAt: 0 }, { maxSiblings: 8, lww: false });
    assert.is((await s.filled.request('s0', { type: FrameType.REPLICATE, hi, lo, key, object: encodeObject(obj) }, 1000)).type, FrameType.ACK);
    assert.equal(values(await s.all.request('c/s0', get, 1000)), ['new']);
    await s.filling.onRing(Ring.build(['a', 'b'].map(member), Q, { previous: next }), undefined, up);
    assert.is(s.filling.size, 0);
  } finally {
    await s.close();
  }
});

test('an overwrite PUT coordinated by a filling replica supersedes what the senders hold instead of adding a sibling', async () => {
  const { key, p, hi, lo } = keyFilledByC();
  const s = await setup(key);
  try {
    await s.filling.onRing(next, previous, up);
    assert.ok(s.filling.sourcesOf(p, 'c/s0') !== undefined);
    const put: Request = {
      type: FrameType.PUT, hi, lo, key, context: new Uint8Array(0), value: new TextEncoder().encode('new'),
      writtenAt: 5, expiresAt: 0, maxSiblings: 8, lww: false, overwrite: true,
    };
    assert.is((await s.filled.request('s0', put, 1000)).type, FrameType.OBJECT);
    const get: Request = { type: FrameType.GET, hi, lo, key };
    const mine = await s.all.request('c/s0', get, 1000);
    const sender = await s.all.request([...s.filling.sourcesOf(p, 'c/s0')!][0]!, get, 1000);
    assert.ok(mine.type === FrameType.OBJECT && sender.type === FrameType.OBJECT);
    const merged = mergeObjects(decodeObject(mine.object), decodeObject(sender.object));
    assert.equal(visibleValues(merged, Date.now()).map((v) => dec.decode(v)), ['new'], 'the old value is superseded once the replicas merge');
  } finally {
    await s.close();
  }
});

test('a sender removed from the cluster is no longer waited for', async () => {
  const { key, p } = keyFilledByC();
  const s = await setup(key);
  try {
    await s.filling.onRing(next, previous, up);
    const sender = [...s.filling.sourcesOf(p, 'c/s0')!][0]!;
    await s.filling.onRing(next, undefined, (node) => (`${node}/s0` === sender ? 'removed' : 'up'));
    assert.is(s.filling.sourcesOf(p, 'c/s0'), undefined);
  } finally {
    await s.close();
  }
});

test('reports arriving together are written as one coalesced state: each resolves once durable, the file holds the latest', async () => {
  const { key } = keyFilledByC();
  const s = await setup(key);
  try {
    await s.filling.onRing(next, previous, up);
    const entries: { p: number; source: string }[] = [];
    for (let p = 0; p < Q; p++) for (const source of s.filling.sourcesOf(p, 'c/s0') ?? []) entries.push({ p, source });
    assert.ok(entries.length >= 4, `c fills ${entries.length} (partition, sender) pairs`);
    let renames = 0;
    const vfs = new RealVfs();
    const counting = Object.assign(Object.create(vfs) as RealVfs, {
      rename: (from: string, to: string) => {
        renames++;
        vfs.rename(from, to);
      },
    });
    const filling = new Filling('c', N, counting, s.dir);
    const reports = entries.map((e) => filling.done({ partition: e.p, target: 'c/s0', source: e.source }));
    assert.is(filling.size, 0, 'in force at once');
    await Promise.all(reports);
    assert.ok(renames < entries.length, `${entries.length} reports, ${renames} writes`);
    assert.is(new Filling('c', N, new RealVfs(), s.dir).size, 0, 'the last state is durable');
  } finally {
    await s.close();
  }
});

test('bad transfer-done messages and FILLING.json files are refused with stable codes', () => {
  for (const bad of [null, 'x', { partition: -1, target: 'c/s0', source: 'a/s0' }, { partition: 1, target: 2, source: 'a/s0' }]) {
    assert.throws(() => parseTransferDone(bad), (e: { code?: string }) => e.code === 'ERR_PROTOCOL');
  }
  assert.equal(parseTransferDone({ partition: 3, target: 'c/s0', source: 'a/s0', extra: 1 }), { partition: 3, target: 'c/s0', source: 'a/s0' });
  const dir = mkdtempSync(`${tmpdir()}/ringkv-fill-bad-`);
  try {
    for (const text of ['nope', '{"version":2,"filling":[]}', '{"version":1,"filling":[{"partition":"x"}]}']) {
      writeFileSync(`${dir}/FILLING.json`, text);
      assert.throws(() => new Filling('c', N, new RealVfs(), dir), (e: { code?: string; message?: string }) => e.code === 'ERR_CORRUPTION' && /FILLING\.json .*delete it/.test(e.message ?? ''));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
