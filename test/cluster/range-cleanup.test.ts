// Range cleanup (src/cluster/transfer/range-cleanup.ts, AntiEntropy.handOff, the DROP frame).
//
// In this thread, over four LSM replicas (in-memory file system, InProcessTransport): a
// hand-off carries what only the former holder had to every primary before it deletes the
// range, touches no other range, deletes nothing while a primary is down or when asked of a
// primary, nor a write newer than the exchange; and after a DROP of its own dots a replica
// coordinates as a new incarnation, so a later put there neither reuses nor covers them.
//
// In this process, real ClusterNodes in a network namespace: after a join, each node deletes
// the ranges it handed away once the cluster is quiet, by itself (every node's shards then
// hold only their own ranges, every key is on every replica); a write that only a former
// holder had survives the cleanup; with a node down, the ranges it is a primary of wait
// for it while the others are cleaned up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AntiEntropy } from '../../src/repair/anti-entropy.js';
import type { ClusterNode } from '../../src/cluster/node.js';
import { BadReplies, ReplicaCalls } from '../../src/repair/replica-calls.js';
import { InProcessTransport } from '../../src/coordinator/index.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import { Ring } from '../../src/ring/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryVfs, openEngine } from '../../src/storage/index.js';
import { Store } from '../../src/store.js';
import { EMPTY_CLOCK, counterOf, decodeObject, encodeContext, encodeObject, mergeObjects, type VObject } from '../../src/version/index.js';
import { enterNetns } from '../support/netns.js';
import { partitionOf, tokenOf } from '../support/diverge.js';
import { N, Nodes, eventually, missingReplicas, preload } from './transfer-harness.js';
import { nodeOfMember } from '../../src/cluster/membership/ring-state.js';

const dec = new TextDecoder();
const enc = new TextEncoder();

// ---- in this thread -------------------------------------------------------------------

interface Local {
  store: Store;
  transport: InProcessTransport;
  ae: AntiEntropy;
  ring: Ring;
  actors: Map<string, number>;
}

const locals: Local[] = [];
test.after.each(async () => {
  for (const c of locals.splice(0)) {
    await c.ae.stop();
    await c.store.close();
  }
});

/** Four replicas, N = 2 (each member replicates half the partitions), q = 16. */
async function local(): Promise<Local> {
  const vfs = new MemoryVfs();
  const ids = ['s0', 's1', 's2', 's3'];
  const ring = Ring.build(ids.map((id) => ({ id, host: id, rack: 'r', dc: 'dc', weight: 1 })), 16);
  const replicas = new Map<string, Replica>();
  const engines: { data: Awaited<ReturnType<typeof openEngine>>; hints: Awaited<ReturnType<typeof openEngine>> }[] = [];
  const actors = new Map<string, number>();
  for (const [i, id] of ids.entries()) {
    const e = { data: await openEngine({ dir: `/${id}/data`, vfs, syncMode: 'none' }), hints: await openEngine({ dir: `/${id}/hints`, vfs, syncMode: 'none' }) };
    engines.push(e);
    actors.set(id, 100 + i);
    replicas.set(id, new Replica({ replica: 100 + i, epoch: 1 }, e));
  }
  const transport = new InProcessTransport(replicas);
  const store = new Store({
    ring, transport, hasher: await createTokenHasher(),
    defaults: { n: 2, r: 2, w: 2, timeoutMs: 2000, sloppy: true, maxSiblings: 64, lww: false },
    handoffIntervalMs: 0,
    close: async () => {
      for (const e of engines) {
        await e.data.close();
        await e.hints.close();
      }
    },
  });
  // Exchanges run "a minute later": what the test wrote before is older than their DROP's cutoff.
  const ae = new AntiEntropy(() => ring, transport, { n: 2, intervalMs: 0, timeoutMs: 2000, partitionPauseMs: 0, bytesPerSecond: 0, purgeTombstones: false, now: () => Date.now() + 60_000 });
  const c = { store, transport, ae, ring, actors };
  locals.push(c);
  return c;
}

async function send(t: InProcessTransport, replica: string, req: Request): Promise<Reply> {
  const reply = await t.request(replica, req, 2000);
  if (reply.type === FrameType.ERROR) throw new Error(`${replica}: ${reply.code} ${reply.message}`);
  return reply;
}

async function held(t: InProcessTransport, replica: string, key: string): Promise<VObject | undefined> {
  const reply = await send(t, replica, { type: FrameType.GET, ...tokenOf(key) });
  const bytes = (reply as { object: Uint8Array }).object;
  return bytes.length === 0 ? undefined : decodeObject(bytes.slice());
}

/** Objects `replica` holds in partition p (a TREE probe counts them). */
async function objectsIn(t: InProcessTransport | ClusterNode['store']['transport'], ring: Ring, replica: string, p: number): Promise<number> {
  const { from, to } = ring.partitionRange(p);
  const level = await new ReplicaCalls(t, 5000, new BadReplies()).tree(replica, from, to, 0, 1 << 20);
  return level.entries;
}

/** A key of partition p (found by trying names). */
function keyIn(ring: Ring, p: number, prefix: string): string {
  for (let i = 0; ; i++) if (partitionOf(ring, `${prefix}${i}`) === p) return `${prefix}${i}`;
}

/** A partition and a member that does not replicate it. */
function handedAway(ring: Ring): { p: number; former: string; primaries: readonly string[] } {
  const p = 5;
  const primaries = ring.listOf(p, 2);
  const former = ring.members.map((m) => m.id).find((id) => !primaries.includes(id))!;
  return { p, former, primaries };
}

test('a hand-off carries what only the former holder had to every primary, then deletes that range alone', async () => {
  const c = await local();
  for (let i = 0; i < 400; i++) await c.store.put(`k${i}`, `v${i}`);
  const { p, former, primaries } = handedAway(c.ring);
  // The former holder alone has these: writes the transfer's sender never saw.
  const only = [keyIn(c.ring, p, 'only-a-'), keyIn(c.ring, p, 'only-b-')];
  for (const key of only) {
    const put = await send(c.transport, former, { type: FrameType.PUT, ...tokenOf(key), context: encodeContext(EMPTY_CLOCK), value: enc.encode(`x-${key}`), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false });
    assert.is(put.type, FrameType.OBJECT);
  }
  // ... and a stale copy of a key the primaries hold in a newer version.
  const k = [...Array(400).keys()].map((i) => `k${i}`).find((key) => partitionOf(c.ring, key) === p)!;
  const old = (await held(c.transport, primaries[0]!, k))!;
  await c.store.put(k, 'newer', { context: (await c.store.get(k))!.context });
  await send(c.transport, former, { type: FrameType.REPLICATE, ...tokenOf(k), object: encodeObject(old) });
  // A stand-in's write that lands after the exchange read the range (written "later").
  const late = keyIn(c.ring, p, 'late-');
  await send(c.transport, former, { type: FrameType.PUT, ...tokenOf(late), context: encodeContext(EMPTY_CLOCK), value: enc.encode('late'), writtenAt: Date.now() + 120_000, expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false });
  const otherRanges = await Promise.all(c.ring.members.map((m) => objectsIn(c.transport, c.ring, m.id, (p + 1) % 16)));

  const { result, dropped } = await c.ae.handOff(p, former);
  assert.is(result.outcome, 'repaired');
  assert.is(dropped, 3, 'the former holder deleted its three objects of the range');
  assert.is(await objectsIn(c.transport, c.ring, former, p), 1, 'the write newer than the exchange stays');
  assert.ok(await held(c.transport, former, late));
  for (const key of only) {
    for (const r of primaries) {
      const obj = await held(c.transport, r, key);
      assert.equal(obj?.siblings.map((s) => s.value === null ? null : dec.decode(s.value)), [`x-${key}`], `${key} on ${r}`);
    }
  }
  assert.equal((await c.store.get(k, { r: 2 }))!.values.map((v) => dec.decode(v)), ['newer'], 'the stale copy superseded nothing');
  assert.equal(await Promise.all(c.ring.members.map((m) => objectsIn(c.transport, c.ring, m.id, (p + 1) % 16))), otherRanges, 'other ranges untouched');
});

test('nothing is deleted while a primary is down, nor from a primary', async () => {
  const c = await local();
  const { p, former, primaries } = handedAway(c.ring);
  const key = keyIn(c.ring, p, 'lonely-');
  await send(c.transport, former, { type: FrameType.PUT, ...tokenOf(key), context: encodeContext(EMPTY_CLOCK), value: enc.encode('x'), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false });

  c.transport.setDown(primaries[1]!, true);
  const down = await c.ae.handOff(p, former).then(() => 'resolved', (err: Error & { code?: string }) => `${err.code}: ${err.message}`);
  assert.match(down, /^ERR_UNAVAILABLE: .*a primary is down/);
  assert.is(await objectsIn(c.transport, c.ring, former, p), 1, 'the only copy stays');
  c.transport.setDown(primaries[1]!, false);

  const primary = await c.ae.handOff(p, primaries[0]!).then(() => 'resolved', (err: Error & { code?: string }) => err.code);
  assert.is(primary, 'ERR_INVALID_ARGUMENT');
  assert.ok(await objectsIn(c.transport, c.ring, primaries[0]!, p) >= 0);

  await c.ae.handOff(p, former);
  assert.is(await objectsIn(c.transport, c.ring, former, p), 0);
  for (const r of primaries) assert.ok(await held(c.transport, r, key), `${key} on ${r}`);
});

test('after a DROP of its own dots, the replica coordinates as a new incarnation: no dot reused, none covered', async () => {
  const c = await local();
  const { p, former } = handedAway(c.ring);
  const key = keyIn(c.ring, p, 'dots-');
  let obj: VObject | undefined;
  for (let i = 0; i < 5; i++) {
    const ctx = obj === undefined ? EMPTY_CLOCK : obj.clock;
    const reply = await send(c.transport, former, { type: FrameType.PUT, ...tokenOf(key), context: encodeContext(ctx), value: enc.encode(`v${i}`), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false });
    obj = decodeObject((reply as { object: Uint8Array }).object.slice());
  }
  const actor = { replica: c.actors.get(former)!, epoch: 1 };
  assert.is(counterOf(obj!.clock, actor), 5);
  const { from, to } = c.ring.partitionRange(p);
  const drop = await new ReplicaCalls(c.transport, 2000, new BadReplies()).drop(former, from, to, Date.now() + 1000, 100);
  assert.equal(drop, { dropped: 1, next: to });
  assert.is(await held(c.transport, former, key), undefined);
  // The dropped object lives on at the owners ('v4'); a blind put here now must be concurrent with it.
  const again = await send(c.transport, former, { type: FrameType.PUT, ...tokenOf(key), context: encodeContext(EMPTY_CLOCK), value: enc.encode('after'), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false });
  const after = decodeObject((again as { object: Uint8Array }).object.slice());
  assert.is(counterOf(after.clock, actor), 0, 'the old incarnation\'s entry is neither reused nor raised');
  assert.is(counterOf(after.clock, { ...actor, epoch: 2 }), 1, 'the new incarnation starts at 1');
  const merged = mergeObjects(obj!, after);
  assert.equal(merged.siblings.map((x) => dec.decode(x.value!)).sort(), ['after', 'v4'], 'neither write supersedes the other');
});

// ---- real nodes in a network namespace -------------------------------------------------

/** '<member> p<k>: <n> objects' for every range a running node's shard holds but does not replicate. */
async function orphans(c: Nodes): Promise<string[]> {
  const out: string[] = [];
  for (const node of c.running()) {
    const ring = node.gossiper.ring!;
    for (const k of node.local.ids) {
      const member = `${node.id}/${k}`;
      for (let p = 0; p < ring.q; p++) {
        if (ring.listOf(p, N).includes(member)) continue;
        const n = await objectsIn(node.store.transport, ring, member, p);
        if (n > 0) out.push(`${member} p${p}: ${n} objects`);
      }
    }
  }
  return out;
}

const inside = await enterNetns();

if (inside) {
  test('after a join, every node deletes the ranges it handed away once the cluster is quiet; every key stays on all its replicas', async () => {
    const c = new Nodes();
    try {
      const quick = { delayMs: 1500, intervalMs: 200 };
      for (const id of ['n1', 'n2', 'n3']) await c.start(id, {}, quick);
      await c.ringOf(['n1', 'n2', 'n3']);
      const keys = await preload(c.node('n1'), 'pre', 1500);
      await c.start('n4', {}, quick);
      await c.ringOf(['n1', 'n2', 'n3', 'n4']);
      const epoch = c.node('n1').gossiper.epoch;
      await eventually(() => {
        for (const n of c.running()) {
          const s = n.cleanup.status();
          if (s.cleanEpoch !== epoch) return `${n.id}: ${JSON.stringify(s)}`;
        }
        return undefined;
      }, 60_000);
      const dropped = c.running().reduce((a, n) => a + n.cleanup.status().objectsDropped, 0);
      assert.ok(dropped >= 200, `only ${dropped} objects deleted`);
      assert.equal(await orphans(c), []);
      const missing = await missingReplicas(c.node('n2'), keys);
      assert.equal(missing.slice(0, 10), [], `${missing.length} replicas missing`);
      console.log(`  cleanup after a join: ${dropped} objects of handed-away ranges deleted (${keys.size} keys x N=${N})`);
    } finally {
      await c.close();
    }
  });

  test('a write only a former holder had survives its cleanup; the ranges a down node is a primary of wait for it', async () => {
    const c = new Nodes();
    try {
      const manual = { delayMs: 600_000, intervalMs: 200 }; // only when asked (runOnce(true))
      for (const id of ['n1', 'n2', 'n3']) await c.start(id, {}, manual);
      await c.ringOf(['n1', 'n2', 'n3']);
      const keys = await preload(c.node('n1'), 'pre', 600);
      await c.start('n4', {}, manual);
      await c.ringOf(['n1', 'n2', 'n3', 'n4']);
      await c.transfersDone();

      // A former holder of some partition, on n1..n3, gets a key the new replicas never saw.
      const ring = c.node('n1').gossiper.ring!;
      let p = -1;
      let former = '';
      search: for (const m of ['n1/s0', 'n2/s0', 'n3/s0']) {
        for (let q = 0; q < ring.q; q++) {
          if (!ring.listOf(q, N).includes(m) && await objectsIn(c.node('n1').store.transport, ring, m, q) > 0) {
            p = q;
            former = m;
            break search;
          }
        }
      }
      assert.ok(p >= 0, 'some former holder still holds a handed-away range');
      const key = keyIn(ring, p, 'late-');
      const owner = c.node(former.split('/')[0]!);
      const put = await owner.store.transport.request(former, { type: FrameType.PUT, ...tokenOf(key), context: encodeContext(EMPTY_CLOCK), value: enc.encode('only-here'), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false }, 5000);
      assert.is(put.type, FrameType.OBJECT);

      // A primary of the late key's partition goes down: what it is a primary of waits.
      const down = nodeOfMember(ring.listOf(p, N).find((m) => !m.startsWith(`${owner.id}/`))!);
      const isPrimaryOf = (orphan: string): boolean => ring.listOf(Number(/ p(\d+):/.exec(orphan)![1]), N).some((m) => m.startsWith(`${down}/`));
      await c.stop(down);
      assert.ok((await orphans(c)).length > 0, 'former holders hold handed-away ranges');
      await eventually(() => c.running().find((n) => n.gossiper.liveness(down) !== 'down')?.id, 60_000);
      for (const n of c.running()) await n.cleanup.runOnce(true);
      const waiting = await orphans(c);
      assert.ok(waiting.some((o) => o.startsWith(`${former} p${p}:`)), `the late key's range waits: ${waiting.join('; ')}`);
      assert.equal(waiting.filter((o) => !isPrimaryOf(o)), [], 'every range without the down node among its primaries is cleaned up');
      assert.ok(c.running().some((n) => n.cleanup.status().failures > 0), 'the waiting ranges were tried');

      await c.start(down, {}, manual);
      await c.ringOf(['n1', 'n2', 'n3', 'n4']);
      await eventually(async () => {
        for (const n of c.running()) await n.cleanup.runOnce(true);
        const left = await orphans(c);
        return left.length === 0 ? undefined : `${left.length} ranges left, first ${left[0]}; ${JSON.stringify(c.running().map((n) => n.cleanup.status()))}`;
      }, 60_000);
      const missing = await missingReplicas(c.node('n2'), new Map([...keys, [key, 'only-here']]));
      assert.equal(missing.slice(0, 10), [], `${missing.length} replicas missing`);
    } finally {
      await c.close();
    }
  });
}

test.run();
