// Who streams what when the ring changes (transfer-plan.ts): every new replica of every
// partition gets exactly one sender across the cluster, a holder of the partition; a leaver
// sends everything it held; a removed node sends nothing and survivors cover for it; with
// N = 1 a removed node's partitions have no sender. Also the leaver's own 'left' step in
// the gossip (markLeft with leaverMarksLeft), on the simulated network.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Ring, type Member } from '../../src/ring/index.js';
import type { NodeStatus } from '../../src/cluster/membership/node-record.js';
import { planTransfers, type TransferTask } from '../../src/cluster/transfer/transfer-plan.js';
import { SimCluster } from './sim/sim-cluster.js';

const Q = 64;
const member = (node: string): Member => ({ id: `${node}/s0`, host: `h-${node}`, rack: 'r1', dc: 'dc1', weight: 1 });
const ringOf = (nodes: string[], previous?: Ring): Ring => Ring.build(nodes.map(member), Q, { previous });

/** Every node's plan, together. */
function planAll(prev: Ring, next: Ring, n: number, nodes: string[], status: Record<string, NodeStatus>): TransferTask[] {
  return nodes.flatMap((id) => planTransfers(prev, next, n, id, (x) => status[x] ?? 'up'));
}

/** The (partition, target) pairs that are new in `next`. */
function newReplicas(prev: Ring, next: Ring, n: number): string[] {
  const out: string[] = [];
  for (let p = 0; p < Q; p++) {
    const before = prev.listOf(p, n);
    for (const m of next.listOf(p, n)) if (!before.includes(m)) out.push(`${p}>${m}`);
  }
  return out.sort();
}

const pairs = (tasks: TransferTask[]) => tasks.map((t) => `${t.partition}>${t.target}`).sort();

test('join: each new replica gets one sender, a holder of the partition that stays', () => {
  const prev = ringOf(['n1', 'n2', 'n3']);
  const next = ringOf(['n1', 'n2', 'n3', 'n4'], prev);
  const tasks = planAll(prev, next, 2, ['n1', 'n2', 'n3', 'n4'], { n4: 'joining' });
  assert.ok(tasks.length > 0);
  assert.equal(pairs(tasks), newReplicas(prev, next, 2), 'every new replica exactly once');
  for (const t of tasks) {
    assert.ok(prev.listOf(t.partition, 2).includes(t.source), `${t.source} did not hold ${t.partition}`);
    assert.ok(next.member(t.source) !== undefined);
    assert.ok(t.target.startsWith('n4/'), 'only the joiner is new');
    assert.is(t.epoch, next.epoch);
  }
  assert.equal(planTransfers(prev, next, 2, 'n4', () => 'up'), [], 'the joiner held nothing');
});

test('leave: the leaver sends every partition it held, nobody else sends those', () => {
  const prev = ringOf(['n1', 'n2', 'n3', 'n4']);
  const next = ringOf(['n1', 'n2', 'n4'], prev);
  const status: Record<string, NodeStatus> = { n3: 'leaving' };
  const tasks = planAll(prev, next, 2, ['n1', 'n2', 'n3', 'n4'], status);
  assert.equal(pairs(tasks), newReplicas(prev, next, 2));
  const held = new Set<number>();
  for (let p = 0; p < Q; p++) if (prev.listOf(p, 2).includes('n3/s0')) held.add(p);
  assert.ok(held.size > 0);
  for (const t of tasks) assert.is(t.source === 'n3/s0', held.has(t.partition), `partition ${t.partition} sent by ${t.source}`);
  const sent = new Set(tasks.filter((t) => t.source === 'n3/s0').map((t) => t.partition));
  assert.equal([...sent].sort((a, b) => a - b), [...held].sort((a, b) => a - b), 'every partition it held leaves with it');
});

test('remove: survivors re-replicate the dead node\'s partitions; it sends nothing', () => {
  const prev = ringOf(['n1', 'n2', 'n3', 'n4']);
  const next = ringOf(['n1', 'n2', 'n4'], prev);
  const tasks = planAll(prev, next, 2, ['n1', 'n2', 'n3', 'n4'], { n3: 'removed' });
  assert.ok(tasks.length > 0);
  assert.equal(pairs(tasks), newReplicas(prev, next, 2));
  for (const t of tasks) {
    assert.is.not(t.source, 'n3/s0');
    assert.ok(prev.listOf(t.partition, 2).includes(t.source), `${t.source} did not hold ${t.partition}`);
  }
});

test('remove with N = 1: the only holder is gone, nobody can send', () => {
  const prev = ringOf(['n1', 'n2', 'n3']);
  const next = ringOf(['n1', 'n2'], prev);
  const tasks = planAll(prev, next, 1, ['n1', 'n2', 'n3'], { n3: 'removed' });
  assert.equal(tasks, []);
});

test('an unchanged ring moves nothing; rings of different sizes plan nothing', () => {
  const a = ringOf(['n1', 'n2', 'n3']);
  assert.equal(planAll(a, a, 2, ['n1', 'n2', 'n3'], {}), []);
  const b = Ring.build(['n1', 'n2'].map(member), Q * 2);
  assert.equal(planTransfers(a, b, 2, 'n1', () => 'up'), []);
});

test('gossip: with leaverMarksLeft the claimant leaves the leaver leaving; markLeft ends it left everywhere', () => {
  const c = new SimCluster({ seed: 11, gossip: { leaverMarksLeft: true } });
  const first = c.add({ id: 'n1' });
  for (let i = 2; i <= 4; i++) c.add({ id: `n${i}` }, [first.address]);
  assert.ok(c.runUntil(() => c.notConverged() === undefined, 120_000) !== undefined, c.notConverged());
  const leaver = c.node('n3').g;
  const code = (expected: string) => (err: unknown) => (err as { code?: string }).code === expected;
  assert.throws(() => leaver.markLeft(), code('ERR_NOT_READY'), 'an up node cannot be left');
  const epoch = leaver.epoch;
  leaver.leave();
  assert.throws(() => leaver.markLeft(), code('ERR_NOT_READY'), 'not before a ring without it');
  const took = c.runUntil(() => [...c.nodes.values()].every((n) => n.g.epoch === epoch + 1), 60_000);
  assert.ok(took !== undefined, 'a ring without the leaver is made');
  c.run(10_000);
  for (const n of c.nodes.values()) assert.is(n.g.record('n3')!.status, 'leaving', `${n.id} sees n3 ${n.g.record('n3')!.status}`);
  assert.equal(leaver.ring!.members.filter((m) => m.id.startsWith('n3/')), []);
  leaver.markLeft();
  assert.ok(c.runUntil(() => [...c.nodes.values()].every((n) => n.g.record('n3')!.status === 'left'), 60_000) !== undefined, 'left everywhere');
  assert.throws(() => leaver.markLeft(), code('ERR_NOT_READY'), 'once');
});

test.run();
