// Transfers survive their ends going away. The sending node dies mid-transfer (stopped, with
// TRANSFERS.json put back as it was on disk at a moment mid-way: a crash image) and started
// again resumes from those cursors rather than starting over, and completes; a target that goes down mid-transfer is waited for and, once back, receives the
// rest. Either way every key ends on every member of its new preference list. Senders are
// throttled hard (4 kB/s, pages of 8 objects) so that the stop lands mid-partition.
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ClusterNode } from '../../src/cluster/node.js';
import { TRANSFERS_FILE, loadTransfers } from '../../src/cluster/transfer/transfer-file.js';
import { planTransfers } from '../../src/cluster/transfer/transfer-plan.js';
import { RealVfs } from '../../src/storage/env/vfs-real.js';
import type { Ring } from '../../src/ring/index.js';
import { XxHash64 } from '../../src/hash/xxhash64.js';
import { enterNetns } from '../support/netns.js';
import { N, Nodes, eventually, missingReplicas, preload, type TransferTuning } from './transfer-harness.js';

const inside = await enterNetns();
const SLOW: TransferTuning = { bytesPerSecond: 4000, pageEntries: 8 };

/** Three slow senders with 2000 keys, then n4 joins; resolves once a sender is mid-way. */
async function joinUnderWay(c: Nodes): Promise<{ keys: Map<string, string>; sender: ClusterNode; previous: Ring }> {
  for (const id of ['n1', 'n2', 'n3']) await c.start(id, SLOW);
  await c.ringOf(['n1', 'n2', 'n3']);
  const previous = c.node('n1').store.ring;
  await c.transfersDone();
  const keys = await preload(c.node('n1'), 'pre', 2000);
  await c.start('n4');
  await c.ringOf(['n1', 'n2', 'n3', 'n4']);
  let sender: ClusterNode | undefined;
  await eventually(() => {
    sender = c.running().find((n) => n.transfers.status().keysMoved >= 16 && n.transfers.status().pending >= 2);
    return sender === undefined ? 'no sender mid-way yet' : undefined;
  }, 30_000);
  return { keys, sender: sender!, previous };
}

if (inside) {
  test('a sender stopped mid-transfer resumes from its saved cursors when restarted, and completes', async () => {
    const c = new Nodes();
    try {
      const { keys, sender, previous } = await joinUnderWay(c);
      const id = sender.id;
      const next = c.node('n4').store.ring;
      // The crash image: TRANSFERS.json as it is on disk mid-way (the only state a transfer
      // keeps); the node is stopped and the image put back, as if it had died right then.
      const dir = `${c.root}/${id}`;
      let image: Buffer | undefined;
      await eventually(() => {
        const saved = loadTransfers(new RealVfs(), dir);
        if (!saved.some((t) => t.cursor > next.partitionRange(t.partition).from)) return 'no transfer has progress on disk yet';
        image = readFileSync(`${dir}/${TRANSFERS_FILE}`);
        return undefined;
      }, 30_000);
      const movedBefore = sender.transfers.status().keysMoved;
      await c.stop(id);
      writeFileSync(`${dir}/${TRANSFERS_FILE}`, image!);
      const crashed = loadTransfers(new RealVfs(), dir);

      // What this sender had to move in all: its planned (partition, target) pairs times the keys in each partition.
      const tasks = planTransfers(previous, next, N, id, (x) => (x === 'n4' ? 'joining' : 'up'));
      const perPartition = new Map<number, number>();
      for (const t of tasks) perPartition.set(t.partition, (perPartition.get(t.partition) ?? 0) + 1);
      const hasher = new XxHash64();
      let total = 0;
      for (const k of keys.keys()) {
        hasher.hash(new TextEncoder().encode(k));
        total += perPartition.get(next.partitionOf(hasher.hi >>> 0, hasher.lo >>> 0)) ?? 0;
      }
      assert.ok(movedBefore < total, `${id} was not mid-way: ${movedBefore} of ${total}`);

      assert.ok(crashed.length > 0 && crashed.length <= tasks.length);
      assert.ok(crashed.some((t) => t.cursor > next.partitionRange(t.partition).from), 'a transfer stopped mid-partition');
      const again = await c.start(id);
      assert.ok(again.transfers.pending > 0, 'the pending transfers came back from disk');
      await c.transfersDone();
      const movedAfter = again.transfers.status().keysMoved;
      assert.ok(movedAfter < total, `restarted from scratch: ${movedAfter} of ${total} moved again`);
      assert.ok(movedBefore + movedAfter >= total, `only ${movedBefore} + ${movedAfter} of ${total} moved`);
      const missing = await missingReplicas(c.node('n2'), keys);
      assert.equal(missing.slice(0, 10), [], `${missing.length} replicas missing`);
      console.log(`  resume: ${id} moved ${movedBefore} keys, crashed with ${crashed.length} of ${tasks.length} transfers pending on disk, moved ${movedAfter} of ${total} after its restart`);
    } finally {
      await c.close();
    }
  });

  test('a target that goes down mid-transfer is waited for and receives the rest once back', async () => {
    const c = new Nodes();
    try {
      const { keys, sender } = await joinUnderWay(c);
      await c.stop('n4');
      await eventually(() => {
        const t = sender.transfers.status();
        return t.failures > 0 || t.tasks.some((x) => x.waiting?.includes('n4/s0 is down')) ? undefined : `${sender.id} has not noticed: ${JSON.stringify(t.tasks[0])}`;
      }, 30_000);
      const pending = sender.transfers.status().pending;
      assert.ok(pending > 0, 'the transfers wait rather than give up');
      await new Promise((r) => setTimeout(r, 500));
      assert.is(sender.transfers.status().pending, pending, 'nothing completes while the target is down');
      await c.start('n4');
      await c.transfersDone();
      const missing = await missingReplicas(c.node('n1'), keys);
      assert.equal(missing.slice(0, 10), [], `${missing.length} replicas missing`);
      const t = sender.transfers.status();
      console.log(`  target down: ${sender.id} failures ${t.failures}, last error: ${t.lastError ?? '-'}`);
    } finally {
      await c.close();
    }
  });
}

test.run();
