// A join's transfers survive kill -9 of a sender, with real `ringkv start` processes on
// 127.0.0.2-5 in a private network namespace (netns.ts) under a light write load:
//
//   n1 n2 n3 (N=3, each holds everything) ── preload ── n4 starts with --seeds n1
//     ── some sender is seen mid-stream in /cluster (0 < progress < 1) ── kill -9 it
//     ── a few seconds ── start it again on the same dir ── every transfer completes
//
// Then: no acknowledged write is lost (VGET through the cluster), the restarted sender
// resumed its transfers from TRANSFERS.json (it had some pending when it came back, and it
// sent fewer keys after its restart than its share of the preload: a restart from scratch
// sends at least that share again), and the joiner's own copy holds every key it is a replica
// of: the other nodes are stopped and each such key is read through the joiner at
// consistency ONE, which only its own shard can answer. Senders are throttled with
// --transfer-bytes-per-second so the join takes seconds. RINGKV_LONG=1: 5x the data.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NodeStatus } from '../../src/cluster/membership/node-record.js';
import { planTransfers } from '../../src/cluster/transfer/transfer-plan.js';
import type { TransferStatus } from '../../src/cluster/transfer/transfer.js';
import { XxHash64 } from '../../src/hash/xxhash64.js';
import { Ring, type RingJSON } from '../../src/ring/index.js';
import { Cluster, type NodeProc, WriteLoad, lostAfter, vgetValues } from '../support/cluster-harness.js';
import { enterNetns } from '../support/netns.js';

const inside = await enterNetns();
const LONG = process.env.RINGKV_LONG === '1';
const N = 3;
/** Preloaded keys of VALUE_BYTES each: ~6 MiB, of which the joiner receives 3/4. */
const PRELOAD_KEYS = LONG ? 30_000 : 6000;
const VALUE_BYTES = 1024;
/** Per sender: its ~1.5 MiB share of the short run streams in ~6 s (30 s with RINGKV_LONG). */
const TRANSFER_RATE = '256KiB';
const NODE_FLAGS = [
  '--shards', '1', '--n', String(N), '--sync-mode', 'batch', '--gossip-interval-ms', '250', '--timeout-ms', '1000',
  '--transfer-bytes-per-second', TRANSFER_RATE,
];
/** The sender is killed once it has sent between these shares of its preload keys. */
const KILL_FROM = 0.4;
const KILL_BY = 0.8;
/** How long the sender stays dead. */
const DEAD_MS = 3000;
/** A light load: 2 writers, 100 ms apart (~20 writes/s), so that the keys written during the
 *  join stay few beside the preload and the resume check keeps its margin. */
const LOAD_WORKERS = 2;
const LOAD_PAUSE_MS = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const enc = new TextEncoder();

type ClusterView = { epoch: number; nodes: { id: string; liveness: string; status: string }[]; transfers: TransferStatus };

async function view(node: NodeProc): Promise<ClusterView> {
  return (await node.admin('/cluster')) as ClusterView;
}

async function ringOf(node: NodeProc): Promise<Ring> {
  return Ring.fromJSON((await node.admin('/ring')) as RingJSON);
}

/** Polls `why` until it returns undefined; throws its last answer after `ms`. */
async function eventually(why: () => Promise<string | undefined>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let last: string | undefined = 'never checked';
  while (Date.now() < until) {
    try {
      last = await why();
    } catch (err) {
      last = (err as Error).message;
    }
    if (last === undefined) return;
    await sleep(200);
  }
  throw new Error(`not within ${ms} ms: ${last}`);
}

/** Until every running node's ring has exactly the nodes `ids` as members, at one epoch. */
async function ringIs(cluster: Cluster, ids: string[], ms: number): Promise<Ring> {
  const want = ids.map((id) => `${id}/s0`).sort().join(',');
  let ring: Ring | undefined;
  await eventually(async () => {
    const epochs = new Set<number>();
    for (const n of cluster.nodes.filter((x) => x.running)) {
      ring = await ringOf(n);
      const have = ring.members.map((m) => m.id).sort().join(',');
      if (have !== want) return `${n.spec.id}'s ring has ${have}`;
      epochs.add(ring.epoch);
    }
    return epochs.size === 1 ? undefined : `epochs ${[...epochs].join(', ')}`;
  }, ms);
  return ring!;
}

/** Until no running node has a transfer pending. */
async function transfersDone(cluster: Cluster, ms: number): Promise<void> {
  await eventually(async () => {
    for (const n of cluster.nodes.filter((x) => x.running)) {
      const t = (await view(n)).transfers;
      if (t.pending > 0) return `${n.spec.id}: ${t.pending} pending, first ${JSON.stringify(t.tasks[0])}, last error ${t.lastError}`;
    }
    return undefined;
  }, ms);
}

/** Until no running node's shards hold a hint (every write that missed a replica reached it). */
async function hintsDelivered(cluster: Cluster, ms: number): Promise<void> {
  await eventually(async () => {
    for (const n of cluster.nodes.filter((x) => x.running)) {
      const stats = (await n.admin('/stats')) as { shards?: { hintStore?: { pending?: number } }[] };
      const pending = (stats.shards ?? []).reduce((a, s) => a + (s.hintStore?.pending ?? 0), 0);
      if (pending > 0) return `${n.spec.id} holds ${pending} hints`;
    }
    return undefined;
  }, ms);
}

/** Ring partition of `key` (the coordinator's xxhash64 token). */
function partitionOf(ring: Ring, hasher: XxHash64, key: string): number {
  hasher.hash(enc.encode(key));
  return ring.partitionOf(hasher.hi >>> 0, hasher.lo >>> 0);
}

/** Writes `count` keys of VALUE_BYTES through `node`, pipelined; returns them with their values. */
async function preload(node: NodeProc, count: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const c = node.client();
  try {
    const pad = 'x'.repeat(VALUE_BYTES - 16);
    for (let i = 0; i < count; i += 500) {
      const pipe = c.pipeline();
      for (let k = i; k < Math.min(count, i + 500); k++) {
        const key = `pre${k}`;
        const value = `${String(k).padStart(12, '0')}${pad}`;
        pipe.set(key, value);
        out.set(key, value);
      }
      for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
    }
  } finally {
    c.disconnect();
  }
  return out;
}

if (inside) {
  test('kill -9 of a transfer sender mid-join: it resumes once restarted, the joiner gets every key it replicates, 0 lost', async () => {
    const cluster = new Cluster(4, NODE_FLAGS);
    const [n1, n2, n3, n4] = cluster.nodes as [NodeProc, NodeProc, NodeProc, NodeProc];
    let load: WriteLoad | undefined;
    try {
      for (const n of [n1, n2, n3]) await n.start();
      await cluster.settle(3);
      await ringIs(cluster, ['n1', 'n2', 'n3'], 60_000);
      await transfersDone(cluster, 60_000);
      const keys = await preload(n1, PRELOAD_KEYS);
      const previous = await ringOf(n1);
      const movedAtStart = new Map<string, number>();
      for (const n of [n1, n2, n3]) movedAtStart.set(n.spec.id, (await view(n)).transfers.keysMoved);

      load = new WriteLoad(cluster, LOAD_WORKERS, LOAD_PAUSE_MS);
      load.start();
      const joinStarted = Date.now();
      await n4.start();
      await cluster.settle(4);
      const next = await ringIs(cluster, ['n1', 'n2', 'n3', 'n4'], 60_000);

      // Each sender's share of the preload: its planned (partition, target) pairs, times the
      // preloaded keys in each partition (keys written by the load come on top).
      const statusOf = (id: string): NodeStatus => (id === 'n4' ? 'joining' : 'up');
      const hasher = new XxHash64();
      const share = new Map<string, number>();
      for (const sender of [n1, n2, n3]) {
        const perPartition = new Map<number, number>();
        for (const t of planTransfers(previous, next, N, sender.spec.id, statusOf)) perPartition.set(t.partition, (perPartition.get(t.partition) ?? 0) + 1);
        let total = 0;
        for (const k of keys.keys()) total += perPartition.get(partitionOf(next, hasher, k)) ?? 0;
        share.set(sender.spec.id, total);
      }
      const planned = [...share.values()].reduce((a, b) => a + b, 0);
      assert.ok(planned >= PRELOAD_KEYS / 2, `the join moves most of the preload to n4 (${planned} of ${PRELOAD_KEYS})`);

      // A sender visibly mid-stream: transfers pending, between KILL_FROM and KILL_BY of its
      // share sent. (A partition here fits one RANGE page, 64 KiB, so a task's own progress
      // goes from 0 to 1 in one step: the sender's share is the progress that shows.)
      let victim: NodeProc | undefined;
      let movedBefore = 0;
      let midPartition = false;
      let seen = '';
      const deadline = Date.now() + 120_000;
      while (victim === undefined && Date.now() < deadline) {
        for (const n of [n2, n3, n1]) {
          const t = (await view(n)).transfers;
          const moved = t.keysMoved - movedAtStart.get(n.spec.id)!;
          const total = share.get(n.spec.id)!;
          seen = `${seen.split('\n').slice(-5).join('\n')}\n${n.spec.id}: ${t.pending} pending, ${moved} of ${total} keys moved`;
          if (t.pending > 0 && moved >= KILL_FROM * total && moved <= KILL_BY * total) {
            victim = n;
            movedBefore = moved;
            midPartition = t.tasks.some((x) => x.progress > 0 && x.progress < 1);
            await n.kill();
            break;
          }
        }
        if (victim === undefined) await sleep(100);
      }
      assert.ok(victim !== undefined, `no sender was caught mid-stream:${seen}`);
      const killedAfter = Date.now() - joinStarted;
      await sleep(DEAD_MS);
      await victim.start();
      const restarted = (await view(victim)).transfers;
      assert.ok(restarted.pending > 0, `${victim.spec.id}'s pending transfers came back from disk (${restarted.pending})`);

      await transfersDone(cluster, LONG ? 300_000 : 120_000);
      const joinTook = Date.now() - joinStarted;
      const movedAfter = (await view(victim)).transfers.keysMoved;
      await sleep(1000);
      await load.stop();
      await hintsDelivered(cluster, 60_000);
      const { lost } = await lostAfter(cluster, load.acked, 30_000);
      const total = share.get(victim.spec.id)!;
      const rate = load.attempted === 0 ? 0 : (100 * load.acked.size) / load.attempted;
      console.log(`  join of n4 with ${PRELOAD_KEYS} keys of ${VALUE_BYTES} B (${planned} to move): ${victim.spec.id} killed ${killedAfter} ms in, ` +
        `after ${movedBefore} of its ${total} keys${midPartition ? ', one partition part-sent' : ''}; ${restarted.pending} transfers pending on its restart, ${movedAfter} keys sent after it; all done ${joinTook} ms after n4 started`);
      console.log(`  writes: ${load.attempted}, ${load.acked.size} acknowledged (${rate.toFixed(2)}%), ${lost.length} lost; errors ${JSON.stringify(Object.fromEntries(load.errors))}`);
      assert.equal(lost, [], 'no acknowledged write may be lost');
      assert.ok(load.acked.size > 50, `the load ran (${load.acked.size} acknowledged)`);
      assert.ok(load.acked.size >= 0.9 * load.attempted, `${load.acked.size} of ${load.attempted} writes succeeded`);
      assert.ok(movedAfter > 0, `${victim.spec.id} sent nothing after its restart`);
      assert.ok(movedAfter < total, `${victim.spec.id} restarted from scratch: ${movedAfter} keys sent after its restart, its share is ${total}`);

      // The joiner's own copy: what it replicates in the ring in force, read at ONE with every
      // other node stopped (so its shard is the only one that can answer).
      const ring = await ringOf(n4);
      const expected = new Map<string, string>();
      for (const [k, v] of [...keys, ...load.acked]) {
        if (ring.listOf(partitionOf(ring, hasher, k), ring.listLength(N)).includes('n4/s0')) expected.set(k, v);
      }
      assert.ok(expected.size >= keys.size / 2, `n4 replicates ${expected.size} of ${keys.size + load.acked.size} keys`);
      for (const n of [n1, n2, n3]) await n.stop();
      await eventually(async () => {
        const alive = (await view(n4)).nodes.filter((x) => x.id !== 'n4' && x.liveness === 'alive').map((x) => x.id);
        return alive.length > 0 ? `n4 still sees ${alive.join(', ')} alive` : undefined;
      }, 30_000);
      const c = n4.client();
      const missing: string[] = [];
      try {
        await c.call('CONSISTENCY', 'ONE');
        const list = [...expected.keys()];
        for (let i = 0; i < list.length; i += 500) {
          const batch = list.slice(i, i + 500);
          const pipe = c.pipeline();
          for (const k of batch) pipe.call('VGET', k);
          const replies = (await pipe.exec()) ?? [];
          for (let j = 0; j < batch.length; j++) {
            const [err, reply] = replies[j] ?? [new Error('no reply'), null];
            if (err || !vgetValues(reply).includes(expected.get(batch[j]!)!)) missing.push(`${batch[j]}: ${err ? err.message : JSON.stringify(vgetValues(reply)).slice(0, 40)}`);
          }
        }
      } finally {
        c.disconnect();
      }
      console.log(`  n4 alone holds ${expected.size - missing.length} of the ${expected.size} keys it replicates`);
      assert.equal(missing.slice(0, 10), [], `${missing.length} of ${expected.size} keys missing from the joiner's own copy`);
    } finally {
      await load?.stop();
      await cluster.close();
    }
  });
}

test.run();
