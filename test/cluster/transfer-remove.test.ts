// Remove of a dead node under load: one of four nodes stops for good; once the others see it
// down, `remove` (an admin command on a survivor) makes a ring without it, and the surviving
// holders re-replicate its partitions to their new owners: every key is then on every
// member of its new preference list, no acknowledged write is lost, and the dead node's
// partitions were sent by survivors only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { enterNetns } from '../support/netns.js';
import { Nodes, SECRET, WriteLoad, eventually, lostWrites, missingReplicas, preload } from './transfer-harness.js';

const inside = await enterNetns();

if (inside) {
  test('survivors re-replicate a removed node\'s partitions; nothing is lost', async () => {
    const c = new Nodes();
    try {
      for (const id of ['n1', 'n2', 'n3', 'n4']) await c.start(id);
      await c.ringOf(['n1', 'n2', 'n3', 'n4']);
      await c.transfersDone();
      const keys = await preload(c.node('n1'), 'pre', 2000);
      const load = new WriteLoad(c);
      load.start();
      const before = c.running().filter((n) => n.id !== 'n3').map((n) => n.transfers.status().keysMoved);
      await c.stop('n3');
      await eventually(() => {
        for (const n of c.running()) if (n.gossiper.liveness('n3') !== 'down') return `${n.id} sees n3 ${n.gossiper.liveness('n3')}`;
        return undefined;
      }, 30_000);
      const admin = c.node('n2').admin(SECRET);
      const early = await admin.command('remove', new URLSearchParams({ node: 'nx' })).then(() => undefined, (e: { code?: string }) => e.code);
      assert.is(early, 'ERR_INVALID_ARGUMENT', 'an unknown node');
      assert.equal(await admin.command('remove', new URLSearchParams({ node: 'n3' })), { removing: 'n3' });
      const began = performance.now();
      await c.ringOf(['n1', 'n2', 'n4']);
      await c.transfersDone();
      const took = performance.now() - began;
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      const moved = c.running().map((n) => n.transfers.status().keysMoved).reduce((s, k, i) => s + k - before[i]!, 0);
      assert.ok(moved >= 500, `survivors moved only ${moved} keys`);
      for (const n of c.running()) assert.is(n.gossiper.record('n3')!.status, 'removed');
      const all = new Map([...keys, ...load.acked]);
      assert.ok(load.acked.size > 50, `only ${load.acked.size} writes acknowledged`);
      const missing = await missingReplicas(c.node('n4'), all);
      assert.equal(missing.slice(0, 10), [], `${missing.length} replicas missing`);
      assert.equal(await lostWrites(c.node('n1'), load.acked), []);
      console.log(`  remove: survivors moved ${moved} keys; ring and transfers done ${took.toFixed(0)} ms after remove; ` +
        `writes: ${load.acked.size} acked, ${load.failed} failed ${JSON.stringify(Object.fromEntries(load.errors))}`);
    } finally {
      await c.close();
    }
  });
}

test.run();
