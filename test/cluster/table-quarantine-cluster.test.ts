// Issue 17's "a flipped byte in a table block ... repair from replicas in a 3-node cluster"
// with real processes: 3 `ringkv start` nodes (N=3, one shard each) in a private network
// namespace. n3's data table gets a byte flipped inside its first data block while n3 is
// stopped; n3 restarts. Without any GET, n3's own scans (a Merkle build of an anti-entropy
// round, `ringkv cluster repair` repeated until done, or the stats sample) meet the damage:
// n3 quarantines the table (kept as
// `<n>.sst.damaged`), marks its shard, exchanges every partition the shard holds with the
// other nodes, and drops the mark; n3's /readyz is ready again and its own engine holds
// every key of the quarantined table.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLUSTER_PORT, Cluster, FAULT_NODE_FLAGS, NodeProc, SECRET } from '../support/cluster-harness.js';
import { enterNetns } from '../support/netns.js';
import { openEngine } from '../../src/storage/index.js';
import { parseTableFileName } from '../../src/storage/table/sstable-format.js';

const inside = await enterNetns();

const KEYS = 200;
const key = (i: number) => `tq-${String(i).padStart(5, '0')}-`;
const value = (i: number) => `value-${i}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Generous: repair rounds on a loaded 2-core machine. */
const REPAIR_DEADLINE_MS = 180_000;

if (inside) {
  test('a cluster node whose table block fails its CRC quarantines the table and is repaired from the other nodes without a read', async () => {
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
      const restartN3 = async (): Promise<NodeProc> => {
        const old = cluster.nodes[2]!;
        const proc = new NodeProc(old.spec, [`${cluster.nodes[0]!.host}:${CLUSTER_PORT}`], FAULT_NODE_FLAGS, cluster.root);
        cluster.nodes[2] = proc;
        await proc.start();
        await cluster.settle(3);
        return proc;
      };
      const data = join(cluster.nodes[2]!.dir, 'shard-0', 'data');
      // W=2 acknowledges before the third replica has it: wait until n3's WAL holds every key.
      const inWal = (): boolean => {
        const wal = Buffer.concat(readdirSync(data).filter((n) => n.endsWith('.log')).map((n) => readFileSync(join(data, n))));
        return Array.from({ length: KEYS }, (_, i) => key(i)).every((k) => wal.includes(k));
      };
      for (const until = Date.now() + 60_000; !inWal() && Date.now() < until; ) await sleep(100);
      assert.ok(inWal(), "n3's WAL holds every key");
      // A stop and a start: the recovery writes the WAL's records to a table.
      await cluster.nodes[2]!.stop();
      await (await restartN3()).stop();
      const tables = readdirSync(data).filter((n) => parseTableFileName(n) !== undefined);
      assert.is(tables.length, 1, `one table in ${data}: ${readdirSync(data)}`);
      const table = tables[0]!;
      const bytes = readFileSync(join(data, table));
      bytes[40]! ^= 0x10; // inside data block 0
      writeFileSync(join(data, table), bytes);

      const n3 = await restartN3();
      const admin = `http://${n3.host}:${n3.ports.admin}`;
      const marker = join(n3.dir, 'shard-0', 'NEEDS_REPAIR');
      // Anti-entropy rounds now (the first meets the damage; the next ones see the mark and
      // exchange every partition n3's shard holds), until the table is aside and the mark gone.
      const repaired = (): boolean => existsSync(join(data, `${table}.damaged`)) && !existsSync(marker);
      for (const until = Date.now() + REPAIR_DEADLINE_MS; !repaired(); ) {
        assert.ok(Date.now() < until, `quarantined: ${existsSync(join(data, `${table}.damaged`))}, marked: ${existsSync(marker)}`);
        const res = await fetch(`${admin}/cluster/repair`, { method: 'POST', headers: { 'x-ringkv-secret': SECRET }, signal: AbortSignal.timeout(120_000) });
        assert.is(res.status, 200, await res.text());
        await sleep(200);
      }
      assert.not.ok(existsSync(join(data, table)), 'the table is out of service');
      const ready = await fetch(`${admin}/readyz`);
      assert.is(ready.status, 200, await ready.text());
      // Every key through n3, at its default quorum.
      const c3 = n3.client();
      try {
        for (let i = 0; i < KEYS; i++) assert.is(await c3.get(key(i)), value(i), `${key(i)} through n3`);
      } finally {
        c3.disconnect();
      }
      await n3.stop();

      // n3's own engine holds every key of the quarantined table again.
      const engine = await openEngine({ dir: data });
      try {
        const missing = [];
        for (let i = 0; i < KEYS; i++) if (engine.get(new TextEncoder().encode(key(i))) === undefined) missing.push(key(i));
        assert.equal(missing.slice(0, 5), [], `n3 misses ${missing.length} keys`);
      } finally {
        await engine.close();
      }
      assert.ok(existsSync(join(data, `${table}.damaged`)), 'the damaged table is kept');
    } finally {
      await cluster.close();
    }
  });
}

test.run();
