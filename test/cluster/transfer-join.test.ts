// A node joins a loaded 3-node cluster (N = 2, so the join really moves data) while writes
// and R = 1 reads go on: once its transfers are done, every key, preloaded or written during
// the join, is on every member of its new preference list (each replica read directly), no
// acknowledged write is lost, and no read missed a key while the joiner was still filling
// (its reads ask the senders too). Prints the keys and bytes moved and their rate.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { enterNetns } from '../support/netns.js';
import { Nodes, ReadLoad, WriteLoad, lostWrites, missingReplicas, preload } from './transfer-harness.js';

const inside = await enterNetns();

if (inside) {
  test('a joiner receives its partitions from their holders while writes go on; nothing is lost', async () => {
    const c = new Nodes();
    try {
      for (const id of ['n1', 'n2', 'n3']) await c.start(id);
      await c.ringOf(['n1', 'n2', 'n3']);
      await c.transfersDone();
      const keys = await preload(c.node('n1'), 'pre', 2000);
      const load = new WriteLoad(c);
      load.start();
      const reads = new ReadLoad(c, keys);
      reads.start();
      const before = c.running().map((n) => n.transfers.status());
      const started = performance.now();
      await c.start('n4');
      await c.ringOf(['n1', 'n2', 'n3', 'n4']);
      const adopted = performance.now();
      await c.transfersDone();
      const took = performance.now() - adopted;
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      await reads.stop();
      const after = c.running().map((n) => n.transfers.status());
      const keysMoved = after.reduce((s, t) => s + t.keysMoved, 0) - before.reduce((s, t) => s + t.keysMoved, 0);
      const bytesMoved = after.reduce((s, t) => s + t.bytesMoved, 0) - before.reduce((s, t) => s + t.bytesMoved, 0);
      assert.ok(keysMoved >= 500, `only ${keysMoved} keys moved`);
      assert.is(c.node('n4').transfers.status().done, 0, 'the joiner held nothing to send');
      assert.ok(load.acked.size > 50, `only ${load.acked.size} writes acknowledged`);
      assert.is(load.failed, 0, `writes failed with every node up: ${JSON.stringify(Object.fromEntries(load.errors))}`);
      const all = new Map([...keys, ...load.acked]);
      const missing = await missingReplicas(c.node('n2'), all);
      assert.equal(missing.slice(0, 10), [], `${missing.length} replicas missing`);
      const lost = await lostWrites(c.node('n3'), load.acked);
      assert.equal(lost, []);
      assert.ok(reads.reads > 100, `only ${reads.reads} reads`);
      assert.is(reads.failed, 0, 'reads failed with every node up');
      assert.equal(reads.misses.slice(0, 10), [], `${reads.misses.length} of ${reads.reads} R=1 reads missed a key`);
      console.log(`  join: ${keysMoved} keys, ${(bytesMoved / 1024).toFixed(0)} KiB moved in ${took.toFixed(0)} ms after the ring (incl. 500 ms settle; ${(performance.now() - started).toFixed(0)} ms from start): ` +
        `${((keysMoved * 1000) / took).toFixed(0)} keys/s; writes: ${load.acked.size} acked, ${load.failed} failed ${JSON.stringify(Object.fromEntries(load.errors))}; ` +
        `R=1 reads: ${reads.reads}, ${reads.misses.length} missed, ${reads.failed} failed`);
    } finally {
      await c.close();
    }
  });
}

test.run();
