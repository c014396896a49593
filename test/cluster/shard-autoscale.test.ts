// The load-based shard policy on real nodes (each shard a worker thread with its LSM on
// disk, peers over TCP in a private network namespace): n1 runs with --auto-shards between
// 1 and 2 shards. A sustained write load makes its one shard busy, so it grows to 2 (never
// past the maximum); once the load stops it shrinks back to 1. Through both changes every
// key keeps every replica and no acknowledged write is lost.
//
// The marks are lower than the defaults: with `syncMode: none` the coordinator, not the
// shard, is the bottleneck on this 2-core machine (one shard is ~40-60% busy under this
// load, and dipped below 20% for a sample when a second test suite shared the cores; idle it
// is 0-1%), and the windows are short so the test takes seconds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterNode } from '../../src/cluster/node.js';
import type { ShardScalerOptions } from '../../src/cluster/scaling/shard-scaler.js';
import { startAdminServer, type AdminServer } from '../../src/server/admin/index.js';
import { enterNetns } from '../support/netns.js';
import { N, Nodes, PORT, SECRET, WriteLoad, eventually, hostOf, lostWrites, missingReplicas, preload } from './transfer-harness.js';

const inside = await enterNetns();

const AUTO: Partial<ShardScalerOptions> = {
  minShards: 1, maxShards: 2, intervalMs: 300, highMark: 0.1, lowMark: 0.03, growAfter: 3, shrinkAfter: 5, coolDownMs: 1000,
};

/** Starts n1 as the harness would, with the shard policy on; its log lines go to `lines`. */
async function startAuto(c: Nodes, lines: string[]): Promise<ClusterNode> {
  const record = (level: string) => (fields: Record<string, unknown>, msg: string): void => void lines.push(`${level} ${msg} ${JSON.stringify(fields)}`);
  const node = await ClusterNode.start({
    id: 'n1', host: hostOf('n1'), port: PORT, seeds: [], cluster: 'transfer-test', secret: SECRET, dc: 'dc1', rack: 'r1', weight: 1,
    dir: `${c.root}/n1`, shards: 1, storage: { syncMode: 'none', memtableBytes: 4 * 1024 * 1024 },
    defaults: { n: N, r: 1, w: 2, timeoutMs: 1000, sloppy: true, maxSiblings: 64, lww: false },
    handoffIntervalMs: 1000, gossip: { intervalMs: 100, partitions: 64 }, transfer: { settleMs: 500, retryMs: 200 },
    autoShards: AUTO, logger: { info: record('info'), warn: record('warn') },
  });
  c.nodes.set('n1', node);
  return node;
}

if (inside) {
  test('under sustained writes n1 grows from 1 to 2 shards (its maximum), and back to 1 when idle; nothing is lost', async () => {
    const c = new Nodes();
    const lines: string[] = [];
    const load = new WriteLoad(c, 32);
    let watch: NodeJS.Timeout | undefined;
    let admin: AdminServer | undefined;
    try {
      const n1 = await startAuto(c, lines);
      admin = await startAdminServer(n1.store, { host: '127.0.0.1', port: 0, cluster: n1.admin(SECRET) });
      await c.start('n2');
      await c.ringOf(['n1', 'n2']);
      const keys = await preload(n1, 'pre', 1000);
      let most = n1.local.count;
      watch = setInterval(() => (most = Math.max(most, n1.local.count)), 50);

      load.start();
      await eventually(() => (n1.local.count === 2 ? undefined : `n1 runs ${n1.local.count} shard(s); policy ${JSON.stringify(n1.shardScaler?.status().lastDecision)}`), 120_000);
      await eventually(() => (c.running().every((n) => n.gossiper.ring?.member('n1/s1') !== undefined) ? undefined : 'n1/s1 not in every ring'), 30_000);
      // The load goes on while the ranges stream to n1/s1 (writes race the transfers).
      await new Promise((r) => setTimeout(r, 500));
      await load.stop();
      await c.transfersDone();
      let all = new Map([...keys, ...load.acked]);
      let missing = await missingReplicas(c.node('n2'), all);
      assert.equal(missing.slice(0, 10), [], `after growing: ${missing.length} replicas missing`);
      assert.ok(load.acked.size > 500, `only ${load.acked.size} writes acknowledged`);
      const grown = n1.shardScaler!.status();
      assert.is(grown.grown, 1);
      assert.is(grown.target, 2);
      assert.ok(lines.some((l) => l.startsWith('info shard policy: grow to 2 shards') && l.includes('"reason":"sustained-high"')), lines.join('\n'));
      // The admin port shows it: /metrics series and the /cluster status.
      const metrics = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
      assert.match(metrics, /^ringkv_shard_policy_target_shards 2$/m);
      assert.match(metrics, /^ringkv_shard_policy_bound_shards\{bound="max"\} 2$/m);
      assert.match(metrics, /^ringkv_shard_policy_changes_total\{direction="grow"\} 1$/m);
      assert.match(metrics, /^ringkv_shard_policy_decision\{decision="\w+",reason="[\w-]+"\} 1$/m);
      assert.match(metrics, /^ringkv_shard_policy_utilisation [0-9.e-]+$/m);
      assert.match(metrics, /^ringkv_shard_busy_seconds_total\{shard="s1"\} [0-9.e-]+$/m);
      const status = (await (await fetch(`http://127.0.0.1:${admin.port}/cluster`)).json()) as { shardPolicy?: { target: number; grown: number } };
      assert.equal([status.shardPolicy?.target, status.shardPolicy?.grown], [2, 1]);

      // Idle: below the low mark for 5 samples after the cool-down, then one shard fewer.
      await eventually(() => (n1.local.count === 1 ? undefined : `n1 runs ${n1.local.count} shards; policy ${JSON.stringify(n1.shardScaler?.status().lastDecision)}`), 120_000);
      assert.ok(c.running().every((n) => n.gossiper.ring?.member('n1/s1') === undefined), 'n1/s1 left the ring before it stopped');
      await c.transfersDone();
      clearInterval(watch);
      assert.is(most, 2, 'never more shards than the maximum');
      assert.is(n1.shardScaler!.status().shrunk, 1);
      assert.ok(lines.some((l) => l.startsWith('info shard policy: shrink to 1 shards') && l.includes('"reason":"sustained-low"')), lines.join('\n'));
      // The checks below are load too: they must not start another change while they read.
      await n1.shardScaler!.stop();
      all = new Map([...keys, ...load.acked]);
      missing = await missingReplicas(c.node('n2'), all);
      assert.equal(missing.slice(0, 10), [], `after shrinking: ${missing.length} replicas missing`);
      assert.equal(await lostWrites(c.node('n2'), load.acked), []);
      console.log(`  writes: ${load.acked.size} acked, ${load.failed} failed ${JSON.stringify(Object.fromEntries(load.errors))}`);
      console.log(lines.filter((l) => l.includes('grow') || l.includes('shrink')).map((l) => `  ${l}`).join('\n'));
    } finally {
      clearInterval(watch);
      await admin?.close();
      await load.stop();
      await c.close();
    }
  });

  test('a maximum above the cores is refused before anything starts', async () => {
    const c = new Nodes();
    try {
      const err = await ClusterNode.start({
        id: 'n1', host: hostOf('n1'), port: PORT, seeds: [], cluster: 'transfer-test', secret: SECRET, dc: 'dc1', rack: 'r1', weight: 1,
        dir: `${c.root}/n1`, shards: 1, storage: {}, defaults: { n: 1, r: 1, w: 1, timeoutMs: 1000, sloppy: true, maxSiblings: 64, lww: false },
        handoffIntervalMs: 1000, autoShards: { maxShards: 4096 },
      }).then(async (n) => { await n.store.close(); return undefined; }, (e: { code?: string; message: string }) => e);
      assert.is(err?.code, 'ERR_INVALID_ARGUMENT');
      assert.match(err!.message, /exceeds the \d+ cores/);
    } finally {
      await c.close();
    }
  });
}

test.run();
