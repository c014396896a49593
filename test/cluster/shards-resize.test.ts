// A node's shard count changes while it serves (`ringkv cluster shards <n>`): growing starts
// a worker whose member joins the ring and receives its ranges; shrinking makes the surplus
// member leave the ring, stream its ranges away, hand off what else it holds (a write it took
// as a stand-in), and only then stop; its data directory is then deleted, its EPOCH kept.
// Under a write load, every key ends on every member of its preference list and no
// acknowledged write is lost.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { enterNetns } from '../support/netns.js';
import { existsSync } from 'node:fs';
import { N, Nodes, WriteLoad, eventually, lostWrites, missingReplicas, preload } from './transfer-harness.js';
import { tokenOf } from '../support/diverge.js';
import { FrameType } from '../../src/protocol/index.js';
import { EMPTY_CLOCK, encodeContext } from '../../src/version/index.js';

const inside = await enterNetns();

if (inside) {
  test('n1 grows from 1 to 2 shards and back to 1 under writes: ranges move, nothing is lost', async () => {
    const c = new Nodes();
    try {
      for (const id of ['n1', 'n2']) await c.start(id);
      await c.ringOf(['n1', 'n2']);
      const keys = await preload(c.node('n1'), 'pre', 1500);
      const load = new WriteLoad(c);
      load.start();
      const n1 = c.node('n1');

      assert.equal(await n1.resizeShards(2), { from: 1, to: 2 });
      await eventually(() => (c.running().every((n) => n.gossiper.ring?.member('n1/s1') !== undefined) ? undefined : 'n1/s1 not in every ring'), 30_000);
      await c.transfersDone();
      const grown = n1.gossiper.ring!;
      assert.ok((grown.counts().get('n1/s1') ?? 0) > 0, 'the new shard owns partitions');
      let all = new Map([...keys, ...load.acked]);
      let missing = await missingReplicas(c.node('n2'), all);
      assert.equal(missing.slice(0, 10), [], `after growing: ${missing.length} replicas missing`);

      // A write n1/s1 took as a stand-in (for a partition it does not replicate): only it has it.
      const ring = n1.gossiper.ring!;
      let standIn = '';
      for (let i = 0; standIn === ''; i++) {
        const t = tokenOf(`stand-in-${i}`);
        if (!ring.listOf(ring.partitionOf(t.hi, t.lo), N).includes('n1/s1')) standIn = `stand-in-${i}`;
      }
      const put = await n1.store.transport.request('n1/s1', { type: FrameType.PUT, ...tokenOf(standIn), context: encodeContext(EMPTY_CLOCK), value: new TextEncoder().encode('taken'), writtenAt: Date.now() - 60_000, expiresAt: 0, maxSiblings: 64, lww: false, overwrite: false }, 5000);
      assert.is(put.type, FrameType.OBJECT);

      await n1.resizeShards(1);
      await eventually(() => (n1.local.count === 1 ? undefined : `n1 still runs ${n1.local.count} shards`), 30_000);
      assert.ok(c.running().every((n) => n.gossiper.ring?.member('n1/s1') === undefined), 'n1/s1 left the ring before it stopped');
      await c.transfersDone();
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      all = new Map([...keys, ...load.acked]);
      missing = await missingReplicas(c.node('n2'), all);
      assert.equal(missing.slice(0, 10), [], `after shrinking: ${missing.length} replicas missing`);
      assert.equal(await missingReplicas(c.node('n2'), new Map([[standIn, 'taken']])), [], 'the stand-in write reached its primaries');
      assert.not.ok(existsSync(`${c.root}/n1/shard-1/data`), 'the retired shard\'s data is deleted');
      assert.ok(existsSync(`${c.root}/n1/shard-1/EPOCH`), 'its EPOCH stays');
      assert.equal(await lostWrites(c.node('n2'), load.acked), []);
      assert.ok(load.acked.size > 50, `only ${load.acked.size} writes acknowledged`);
      console.log(`  writes during the resizes: ${load.acked.size} acked, ${load.failed} failed ${JSON.stringify(Object.fromEntries(load.errors))}`);
      const bad = await n1.resizeShards(0).catch((e: { code: string }) => e);
      assert.is((bad as { code: string }).code, 'ERR_INVALID_ARGUMENT');
    } finally {
      await c.close();
    }
  });
}

test.run();
