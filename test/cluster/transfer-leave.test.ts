// Decommission under load: `leave` on one of four nodes (through its admin command) stages
// it leaving; once a ring without it is in force it streams every partition it held to the
// new owners and only then marks itself left (pending transfers: 0), after which it can stop.
// Every key is then on every member of its new preference list, no acknowledged write is
// lost, and no R = 1 read missed a key meanwhile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { enterNetns } from '../support/netns.js';
import { Nodes, ReadLoad, SECRET, WriteLoad, eventually, lostWrites, missingReplicas, preload } from './transfer-harness.js';

const inside = await enterNetns();

if (inside) {
  test('a leaver streams what it held to the new owners, then is left; nothing is lost', async () => {
    const c = new Nodes();
    try {
      for (const id of ['n1', 'n2', 'n3', 'n4']) await c.start(id);
      await c.ringOf(['n1', 'n2', 'n3', 'n4']);
      await c.transfersDone();
      const keys = await preload(c.node('n2'), 'pre', 2000);
      const load = new WriteLoad(c);
      load.start();
      const reads = new ReadLoad(c, keys);
      reads.start();
      const leaver = c.node('n4');
      const admin = leaver.admin(SECRET);
      const answer = (await admin.command('leave', new URLSearchParams())) as { leaving: string };
      assert.is(answer.leaving, 'n4');
      const again = await admin.command('leave', new URLSearchParams()).then(() => undefined, (e: { code?: string }) => e.code);
      assert.is(again, 'ERR_NOT_READY', 'a second leave is refused');
      const began = performance.now();
      await c.ringOf(['n1', 'n2', 'n3']);
      // Out of the ring but still streaming: not left before its transfers are done.
      const seen: string[] = [];
      await eventually(() => {
        const status = leaver.gossiper.record('n4')!.status;
        const t = leaver.transfers.status();
        seen.push(`${status}:${t.pending}`);
        if (status === 'left') assert.is(t.pending, 0, 'left with transfers pending');
        return status === 'left' ? undefined : `n4 is ${status}, ${t.pending} transfers pending`;
      }, 60_000);
      const took = performance.now() - began;
      assert.ok(seen.some((s) => s.startsWith('leaving:') && !s.endsWith(':0')), `never seen leaving with transfers pending: ${seen.slice(0, 5)}`);
      await eventually(() => {
        for (const n of c.running()) if (n.gossiper.record('n4')!.status !== 'left') return `${n.id} sees n4 ${n.gossiper.record('n4')!.status}`;
        return undefined;
      }, 30_000);
      const t = leaver.transfers.status();
      assert.ok(t.done > 0 && t.keysMoved >= 500, `n4 moved ${t.keysMoved} keys in ${t.done} transfers`);
      await c.transfersDone();
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      await reads.stop();
      await c.stop('n4');
      const all = new Map([...keys, ...load.acked]);
      assert.ok(load.acked.size > 50, `only ${load.acked.size} writes acknowledged`);
      assert.is(load.failed, 0, `writes failed with every node up: ${JSON.stringify(Object.fromEntries(load.errors))} ${load.messages.slice(0, 3).join(" | ")}`);
      const missing = await missingReplicas(c.node('n1'), all);
      assert.equal(missing.slice(0, 10), [], `${missing.length} replicas missing`);
      assert.equal(await lostWrites(c.node('n2'), load.acked), []);
      assert.ok(reads.reads > 100, `only ${reads.reads} reads`);
      assert.equal(reads.misses.slice(0, 10), [], `${reads.misses.length} of ${reads.reads} R=1 reads missed a key`);
      assert.is(reads.failed, 0, 'reads failed with every node up');
      console.log(`  leave: n4 moved ${t.keysMoved} keys, ${(t.bytesMoved / 1024).toFixed(0)} KiB in ${t.done} transfers; left ${took.toFixed(0)} ms after leave; ` +
        `writes: ${load.acked.size} acked, ${load.failed} failed; R=1 reads: ${reads.reads}, ${reads.misses.length} missed`);
    } finally {
      await c.close();
    }
  });
}

test.run();
