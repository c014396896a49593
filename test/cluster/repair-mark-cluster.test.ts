// Issue 17's "in a cluster, a shard that skipped records is marked for repair" with real
// processes: 3 `ringkv start` nodes (N=3, one shard each) in a private network namespace.
// n3's data WAL is damaged in the middle (8 bytes flipped over 40 keys' records, valid
// records after them), and n3 restarts with --wal-recovery skip-damaged. Its mark stays
// (NEEDS_REPAIR, /readyz, the metric) while reads of the damaged keys answer their values
// through any node; `ringkv cluster repair` on n3 (an anti-entropy round now) then clears
// it: n3 exchanges every partition its shard holds, also those another node leads, with
// replicas on other nodes that answer as complete. Afterwards n3's own engine holds the keys.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLUSTER_PORT, Cluster, FAULT_NODE_FLAGS, NodeProc, SECRET } from '../support/cluster-harness.js';
import { enterNetns } from '../support/netns.js';
import { openEngine } from '../../src/storage/index.js';
import { damageWalRecords } from '../support/wal-damage.js';

const inside = await enterNetns();

const KEYS = 200;
/** Keys whose record in n3's WAL is damaged (valid records follow each). */
const DAMAGED = Array.from({ length: 40 }, (_, i) => 60 + i * 2);
const key = (i: number) => `cr-${String(i).padStart(5, '0')}-`;
const value = (i: number) => `value-${i}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (inside) {
  test('a cluster node salvaged by skip-damaged stays marked until its partitions exchanged with other nodes, then holds its keys', async () => {
    const cluster = new Cluster(3, FAULT_NODE_FLAGS);
    try {
      await cluster.start();
      await cluster.settle(3);
      const c1 = cluster.nodes[0]!.client();
      try {
        for (let i = 0; i < KEYS; i++) assert.is(await c1.set(key(i), value(i)), 'OK');
      } finally {
        c1.disconnect();
      }
      const n3 = cluster.nodes[2]!;
      const data = join(n3.dir, 'shard-0', 'data');
      // W=2 acknowledges before the third replica has it: wait until n3's WAL holds every key.
      const inWal = (): boolean => {
        const wal = Buffer.concat(readdirSync(data).filter((n) => n.endsWith('.log')).map((n) => readFileSync(join(data, n))));
        return Array.from({ length: KEYS }, (_, i) => key(i)).every((k) => wal.includes(k));
      };
      for (const until = Date.now() + 60_000; !inWal() && Date.now() < until; ) await sleep(100);
      await n3.stop();

      // Damage the DAMAGED keys' records in n3's data WAL.
      damageWalRecords(data, DAMAGED.map(key));

      // Restart n3 in salvage mode.
      const salvaged = new NodeProc(n3.spec, [`${cluster.nodes[0]!.host}:${CLUSTER_PORT}`], [...FAULT_NODE_FLAGS, '--wal-recovery', 'skip-damaged'], cluster.root);
      cluster.nodes[2] = salvaged;
      await salvaged.start();
      await cluster.settle(3);
      const marker = join(salvaged.dir, 'shard-0', 'NEEDS_REPAIR');
      const admin = `http://${salvaged.host}:${salvaged.ports.admin}`;
      assert.ok(existsSync(marker), 'n3 is marked (not cleared at start)');
      const before = await fetch(`${admin}/readyz`);
      assert.is(before.status, 503);
      assert.match(await before.text(), /repair s0 failed/);
      assert.match(await (await fetch(`${admin}/metrics`)).text(), /ringkv_shard_recovery_needs_repair\{shard="s0",engine="data"\} 1/);

      // Every damaged key reads its value, through n3 and through n1.
      for (const node of [salvaged, cluster.nodes[0]!]) {
        const c = node.client();
        try {
          for (const i of DAMAGED) assert.is(await c.get(key(i)), value(i), `${key(i)} through ${node.spec.id}`);
        } finally {
          c.disconnect();
        }
      }
      assert.ok(existsSync(marker), 'reads alone do not clear the mark');

      // An anti-entropy round now on n3 (ringkv cluster repair): the mark goes.
      const res = await fetch(`${admin}/cluster/repair`, { method: 'POST', headers: { 'x-ringkv-secret': SECRET }, signal: AbortSignal.timeout(120_000) });
      assert.is(res.status, 200, await res.text());
      const until = Date.now() + 60_000;
      while (existsSync(marker) && Date.now() < until) await sleep(100);
      assert.not.ok(existsSync(marker), 'the repair cleared the mark');
      const after = await fetch(`${admin}/readyz`);
      assert.is(after.status, 200, await after.text());
      assert.match(await (await fetch(`${admin}/metrics`)).text(), /ringkv_shard_recovery_needs_repair\{shard="s0",engine="data"\} 0/);
      await salvaged.stop();

      // n3's own engine holds every key it lost.
      const engine = await openEngine({ dir: data });
      try {
        for (const i of DAMAGED) assert.ok(engine.get(new TextEncoder().encode(key(i))) !== undefined, `n3 holds ${key(i)}`);
      } finally {
        await engine.close();
      }
    } finally {
      await cluster.close();
    }
  });
}

test.run();
