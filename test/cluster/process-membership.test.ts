// Real clusters of `ringkv start` processes on loopback hosts inside a private network
// namespace (as process-faults.test.ts, split from it so the runner runs the two side by
// side): a node joins and another is decommissioned under a write load, and a whole DC goes
// down under LOCAL_QUORUM. No acknowledged write is lost.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN_PORT, Cluster, FAULT_LOAD_PAUSE_MS, FAULT_NODE_FLAGS as NODE_FLAGS, SECRET, WriteLoad, lostAfter, reportLoad as report } from '../support/cluster-harness.js';
import { enterNetns } from '../support/netns.js';

const inside = await enterNetns();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (inside) {
  test('a node joins and another is decommissioned under writes: 0 lost, ownership balanced within 10%', async () => {
    const cluster = new Cluster(5, NODE_FLAGS);
    try {
      for (const n of cluster.nodes.slice(0, 4)) await n.start();
      await cluster.settle(4);
      const load = new WriteLoad(cluster, 4, FAULT_LOAD_PAUSE_MS);
      load.start();
      await sleep(1000);
      await cluster.nodes[4]!.start(); // n5 joins through n1
      await cluster.settle(5);
      const leaving = cluster.nodes[1]!; // n2 decommissions
      const res = await fetch(`http://${leaving.host}:${ADMIN_PORT}/cluster/leave`, { method: 'POST', headers: { 'x-ringkv-secret': SECRET } });
      assert.is(res.status, 200, await res.text());
      const t0 = Date.now();
      for (;;) {
        const view = (await cluster.nodes[0]!.admin('/cluster')) as { nodes: { id: string; status: string }[] };
        if (view.nodes.find((n) => n.id === 'n2')?.status === 'left') break;
        if (Date.now() - t0 > 90_000) assert.unreachable(`n2 did not leave: ${JSON.stringify(view.nodes)}`);
        await sleep(250);
      }
      const leftAfter = Date.now() - t0;
      await sleep(1000);
      await load.stop();
      await leaving.stop();
      const view = (await cluster.nodes[0]!.admin('/cluster')) as { nodes: { id: string; status: string; partitions: number }[] };
      const owners = view.nodes.filter((n) => n.status === 'up');
      const mean = owners.reduce((a, n) => a + n.partitions, 0) / owners.length;
      const { lost } = await lostAfter(cluster, load.acked, 30_000);
      report('join + leave', load, lost);
      console.log(`  n2 left ${leftAfter} ms after the leave; partitions: ${owners.map((n) => `${n.id} ${n.partitions}`).join(', ')}`);
      assert.equal(lost, []);
      assert.is(owners.length, 4);
      for (const n of owners) assert.ok(Math.abs(n.partitions - mean) <= 0.1 * mean, `${n.id} owns ${n.partitions}, mean ${mean}`);
      assert.ok(load.acked.size >= 0.99 * load.attempted, `${load.acked.size} of ${load.attempted} writes succeeded`);
    } finally {
      await cluster.close();
    }
  });

  test('a whole DC down: the other DC serves LOCAL_QUORUM reads and writes; EACH_QUORUM fails', async () => {
    const specs = [
      { id: 'n1', host: '127.0.0.2', dc: 'dc1' }, { id: 'n2', host: '127.0.0.3', dc: 'dc1' },
      { id: 'n3', host: '127.0.0.4', dc: 'dc2' }, { id: 'n4', host: '127.0.0.5', dc: 'dc2' },
    ];
    const cluster = new Cluster(4, [...NODE_FLAGS, '--replication', 'dc1:2,dc2:2', '--consistency', 'LOCAL_QUORUM'], specs);
    try {
      await cluster.start();
      await cluster.settle(4);
      const c = cluster.nodes[0]!.client();
      for (let i = 0; i < 200; i++) await c.set(`before${i}`, `v${i}`);
      await cluster.nodes[2]!.kill();
      await cluster.nodes[3]!.kill();
      let ok = 0;
      for (let i = 0; i < 200; i++) {
        await c.set(`during${i}`, `v${i}`);
        if ((await c.get(`before${i}`)) === `v${i}` && (await c.get(`during${i}`)) === `v${i}`) ok++;
      }
      assert.is(ok, 200, 'every LOCAL_QUORUM write and read in dc1 succeeded');
      await c.call('CONSISTENCY', 'EACH_QUORUM');
      await c.set('each', 'v').then(
        () => assert.unreachable('EACH_QUORUM needs dc2'),
        (err: Error) => assert.match(err.message, /QUORUM/),
      );
      c.disconnect();
    } finally {
      await cluster.close();
    }
  });
}

test.run();
