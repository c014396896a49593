// Cluster scenarios on the simulated network, one behaviour each: bootstrap and joins via a
// seed, a crash seen as down everywhere and back up after the restart, a pause suspected,
// leave, remove, staged plan/commit, a partition that cannot change the ring, a restart of
// the whole cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultFailureDetectorOptions } from '../../src/cluster/membership/failure-detector.js';
import { SimCluster, type SimNode } from './sim/sim-cluster.js';

function cluster(n: number, seed = 1, gossip: ConstructorParameters<typeof SimCluster>[0]['gossip'] = {}): SimCluster {
  const c = new SimCluster({ seed, gossip });
  const first = c.add({ id: 'n1' });
  for (let i = 2; i <= n; i++) c.add({ id: `n${i}` }, [first.address]);
  if (gossip.autoCommit === false) commitWhenReady(c, 'n1', n);
  converge(c);
  return c;
}

/** Runs until `id` knows `nodes` nodes, has something staged and is ready, then commits. */
function commitWhenReady(c: SimCluster, id: string, nodes = 0): void {
  const took = c.runUntil(() => {
    const g = c.node(id).g;
    if (g.records().length < nodes || g.plan().length === 0 || g.snapshot().notReady !== undefined) return false;
    c.node(id).g.commit();
    return true;
  }, 60_000);
  assert.ok(took !== undefined, `${id} never ready to commit: ${c.node(id).g.snapshot().notReady}`);
}

function converge(c: SimCluster, limitMs = 120_000): number {
  const took = c.runUntil(() => c.notConverged() === undefined, limitMs);
  assert.ok(took !== undefined, `not converged after ${limitMs} ms: ${c.notConverged()}`);
  assert.equal(c.conflicts, []);
  return took!;
}

const running = (c: SimCluster): SimNode[] => [...c.nodes.values()].filter((n) => n.state === 'running');
const code = (expected: string) => (err: unknown) => (err as { code?: string }).code === expected;

function assertBalanced(c: SimCluster, ids: string[]): void {
  const view = c.node(ids[0]!).g.snapshot().nodes;
  const total = view.reduce((s, v) => s + v.partitions, 0);
  assert.is(total, 256);
  for (const id of ids) {
    const k = view.find((v) => v.id === id)!.partitions;
    const share = total / ids.length;
    assert.ok(Math.abs(k - share) <= share * 0.1, `${id} owns ${k}, share ${share}`);
  }
}

test('five nodes joining through one seed converge on one view and one balanced ring', () => {
  const c = cluster(5);
  const n1 = c.node('n1').g;
  assert.is(n1.records().length, 5);
  for (const r of n1.records()) assert.is(r.status, 'up');
  assertBalanced(c, ['n1', 'n2', 'n3', 'n4', 'n5']);
  assert.is(n1.claimant(), 'n1');
});

test('a crashed node is down everywhere within 30 s and up again after a restart, with a higher generation and the same ring', () => {
  const c = cluster(5, 2);
  const epoch = c.node('n1').g.epoch;
  c.node('n4').crash();
  const took = c.runUntil(() => running(c).every((n) => n.g.liveness('n4') === 'down'), 30_000, 100);
  assert.ok(took !== undefined, 'n4 not down everywhere within 30 s');
  c.node('n4').restart();
  converge(c, 30_000);
  for (const n of running(c)) {
    assert.is(n.g.liveness('n4'), 'alive');
    assert.is(n.g.record('n4')!.generation, 2);
    assert.is(n.g.record('n4')!.status, 'up');
  }
  assert.is(c.node('n1').g.epoch, epoch, 'a restart changes no ownership');
});

test('a paused node (accepts, never answers) is suspected by every other node within 10 s, alive after it resumes', () => {
  for (const mode of ['phi', 'timeout'] as const) {
    const c = cluster(6, 3, { detector: { ...defaultDetector(), mode } });
    const epoch = c.node('n1').g.epoch;
    c.node('n3').pause();
    const others = running(c).filter((n) => n.id !== 'n3');
    const took = c.runUntil(() => others.every((n) => n.g.liveness('n3') !== 'alive'), 10_000, 100);
    assert.ok(took !== undefined, `${mode}: n3 not suspected everywhere within 10 s`);
    c.run(30_000);
    for (const n of others) assert.is(n.g.liveness('n3'), 'down', `${mode}: ${n.id}`);
    assert.is(c.node('n1').g.epoch, epoch, 'a down member blocks ring changes, it does not cause them');
    c.node('n3').resume();
    converge(c, 30_000);
    assert.is(c.node('n1').g.record('n3')!.generation, 1, 'a pause is not a restart');
  }
});

test('a node joining through a seed ends up owning its share; only partitions moving to it move', () => {
  const c = cluster(5, 4);
  const before = c.node('n2').g.ring!;
  c.add({ id: 'n6' }, [c.node('n3').address]);
  converge(c);
  const after = c.node('n6').g.ring!;
  assert.is(after.epoch, before.epoch + 1);
  assertBalanced(c, ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
  for (const m of before.diff(after)) assert.ok(m.to.startsWith('n6/'), `partition ${m.partition} moved to ${m.to}`);
});

test('leave: the leaver drops out of the ring, its partitions go to the others, it ends left', () => {
  const c = cluster(5, 5);
  const before = c.node('n1').g.ring!;
  c.node('n3').g.leave();
  assert.is(c.node('n3').g.record('n3')!.status, 'leaving');
  assert.throws(() => c.node('n3').g.leave(), code('ERR_NOT_READY'));
  converge(c);
  const after = c.node('n1').g.ring!;
  assert.is(after.epoch, before.epoch + 1);
  for (const n of [...c.nodes.values()]) assert.is(n.g.record('n3')!.status, 'left', n.id);
  assert.equal(after.members.filter((m) => m.id.startsWith('n3/')), []);
  for (const m of before.diff(after)) assert.ok(m.from.startsWith('n3/'), `partition ${m.partition} moved from ${m.from}`);
  assertBalanced(c, ['n1', 'n2', 'n4', 'n5']);
  assert.is(c.node('n3').g.snapshot().nodes.find((v) => v.id === 'n3')!.partitions, 0);
});

test('the claimant can leave: the next lowest up node takes over', () => {
  const c = cluster(4, 6);
  c.node('n1').g.leave();
  converge(c);
  assert.is(c.node('n2').g.claimant(), 'n2');
  assert.is(c.node('n2').g.record('n1')!.status, 'left');
  assertBalanced(c, ['n2', 'n3', 'n4']);
});

test('remove: only a down node; it drops out of the ring once removed', () => {
  const c = cluster(5, 7);
  assert.throws(() => c.node('n2').g.remove('n4'), code('ERR_NOT_READY'), 'n4 is alive');
  assert.throws(() => c.node('n2').g.remove('n2'), code('ERR_INVALID_ARGUMENT'));
  assert.throws(() => c.node('n2').g.remove('nx'), code('ERR_INVALID_ARGUMENT'));
  const before = c.node('n1').g.ring!;
  c.node('n4').crash();
  c.runUntil(() => c.node('n2').g.liveness('n4') === 'down', 30_000);
  c.run(20_000);
  assert.is(c.node('n1').g.epoch, before.epoch, 'a dead member alone changes nothing');
  assert.match(c.node('n1').g.snapshot().notReady ?? '', /n4 is down/);
  c.node('n2').g.remove('n4');
  converge(c);
  const after = c.node('n1').g.ring!;
  assert.is(after.epoch, before.epoch + 1);
  assert.equal(after.members.filter((m) => m.id.startsWith('n4/')), []);
  assertBalanced(c, ['n1', 'n2', 'n3', 'n5']);
  // The removed node, restarted, learns it was removed and stays out.
  c.node('n4').restart();
  c.run(15_000);
  assert.is(c.node('n4').g.record('n4')!.status, 'removed');
  assert.is(c.node('n1').g.epoch, after.epoch);
});

test('staged changes: plan lists the moves, commit works only on the claimant and makes exactly them', () => {
  const c = cluster(4, 8, { autoCommit: false });
  const epoch = c.node('n1').g.epoch;
  assert.throws(() => c.node('n1').g.commit(), code('ERR_INVALID_ARGUMENT'), 'nothing staged');
  c.add({ id: 'n5' }, [c.node('n1').address]);
  c.run(20_000);
  assert.is(c.node('n1').g.epoch, epoch, 'nothing commits by itself');
  assert.is(c.node('n2').g.record('n5')!.status, 'joining');
  const plan = c.node('n1').g.plan();
  assert.ok(plan.length > 0 && plan.every((m) => m.to.startsWith('n5/')));
  assert.equal(c.node('n3').g.plan(), plan, 'every node computes the same plan');
  assert.is(c.node('n3').g.snapshot().pendingMoves, plan.length);
  assert.throws(() => c.node('n3').g.commit(), (err: unknown) => code('ERR_NOT_READY')(err) && /n1 is the claimant/.test(String(err)));
  const before = c.node('n1').g.ring!;
  const next = c.node('n1').g.commit();
  assert.is(next.epoch, epoch + 1);
  assert.equal(before.diff(next), plan);
  converge(c);
  assert.is(c.node('n4').g.record('n5')!.status, 'up');
});

test('a partitioned cluster changes no ring on either side; after healing, staged changes commit', () => {
  const c = cluster(5, 9);
  const epoch = c.node('n1').g.epoch;
  c.network.partition([['n1', 'n2'], ['n3', 'n4', 'n5']]);
  c.run(30_000);
  assert.is(c.node('n3').g.liveness('n1'), 'down');
  c.node('n4').g.leave();
  c.run(30_000);
  for (const n of c.nodes.values()) assert.is(n.g.epoch, epoch, `${n.id} changed its ring while partitioned`);
  c.network.heal();
  converge(c);
  assert.is(c.node('n1').g.epoch, epoch + 1);
  assert.is(c.node('n1').g.record('n4')!.status, 'left');
});

test('the whole cluster restarting comes back on the ring it saved', () => {
  const c = cluster(5, 10);
  const ring = JSON.stringify(c.node('n1').g.ring!.toJSON());
  for (const n of c.nodes.values()) n.crash();
  c.run(5_000);
  for (const n of c.nodes.values()) n.start();
  converge(c);
  assert.is(JSON.stringify(c.node('n5').g.ring!.toJSON()), ring);
  for (const r of c.node('n5').g.records()) assert.is(r.generation, 2);
});

test('requests at an older epoch are stale and refused with ERR_STALE_EPOCH', () => {
  const c = cluster(3, 11);
  const g = c.node('n2').g;
  assert.ok(g.epoch >= 1);
  assert.not.ok(g.isStale(g.epoch));
  assert.ok(g.isStale(g.epoch - 1));
  g.checkEpoch(g.epoch);
  assert.throws(() => g.checkEpoch(g.epoch - 1), code('ERR_STALE_EPOCH'));
});

test('listeners see liveness go suspect, down, alive and the restart as a member change', () => {
  const c = cluster(4, 12);
  const events: string[] = [];
  const n1 = c.node('n1').g;
  n1.on('liveness', (e) => { if (e.id === 'n3') events.push(`${e.from}->${e.to}`); });
  const off = n1.on('member', (e) => { if (e.record.id === 'n3') events.push(`generation ${e.previous?.generation}->${e.record.generation}`); });
  c.node('n3').crash();
  c.run(30_000);
  c.node('n3').restart();
  converge(c);
  assert.equal(events, ['alive->suspect', 'suspect->down', 'generation 1->2', 'down->alive']);
  off();
  c.node('n3').crash();
  c.node('n3').restart();
  converge(c);
  assert.is(events.filter((e) => e.startsWith('generation')).length, 1, 'unsubscribed');
});

test('removing a claimant that is only cut off: the rest goes on, the removed node cannot change the ring and learns it was removed', () => {
  const c = cluster(5, 13);
  const epoch = c.node('n2').g.epoch;
  c.network.partition([['n1']]);
  c.runUntil(() => c.node('n2').g.liveness('n1') === 'down', 60_000);
  c.node('n2').g.remove('n1');
  c.runUntil(() => c.node('n5').g.epoch === epoch + 1, 60_000);
  assert.is(c.node('n2').g.claimant(), 'n2');
  assert.is(c.node('n1').g.epoch, epoch, 'the cut-off node sees everyone down: it cannot act');
  c.network.heal();
  converge(c);
  assert.is(c.node('n1').g.record('n1')!.status, 'removed');
  assert.is(c.node('n1').g.epoch, epoch + 1, 'it adopts the ring made without it');
  assert.equal(c.node('n1').g.ring!.members.filter((m) => m.id.startsWith('n1/')), []);
  assert.throws(() => c.node('n1').g.remove('n3'), code('ERR_NOT_READY'));
});

test('lossy links (10% of messages lost) for 10 minutes: no node is ever suspected or declared down', () => {
  const c = new SimCluster({ seed: 14, link: { drop: 0.1 } });
  const first = c.add({ id: 'n1' });
  for (let i = 2; i <= 6; i++) c.add({ id: `n${i}` }, [first.address]);
  converge(c);
  const events: string[] = [];
  for (const n of c.nodes.values()) n.g.on('liveness', (e) => events.push(`${n.id} sees ${e.id} ${e.to}`));
  c.run(600_000);
  assert.equal(events, []);
  assert.ok(c.network.dropped > 1000, `${c.network.dropped} messages lost`);
});

test('a claimant that commits and crashes before telling anyone, then is removed: its lost ring never spreads', () => {
  const c = cluster(4, 15, { autoCommit: false });
  const epoch = c.node('n1').g.epoch;
  c.add({ id: 'n5' }, [c.node('n2').address]);
  c.runUntil(() => c.node('n1').g.plan().length > 0 && c.node('n1').g.snapshot().notReady === undefined, 60_000);
  c.node('n1').g.commit(); // epoch + 1, saved on n1's disk, never sent:
  c.node('n1').crash();
  c.runUntil(() => c.node('n2').g.liveness('n1') === 'down', 60_000);
  c.node('n2').g.remove('n1');
  commitWhenReady(c, 'n2'); // another ring at epoch + 1: without n1
  c.run(10_000);
  c.node('n1').seeds = [c.node('n3').address];
  const spread: number[] = [];
  const send = c.network.send.bind(c.network);
  c.network.send = (from, to, message) => {
    if (from.id === 'n1' && message.ring !== null) spread.push(message.ring.epoch);
    send(from, to, message);
  };
  c.node('n1').start(); // comes back with the lost ring on disk, and talks first
  const took = c.runUntil(() => c.notConverged() === undefined && c.node('n1').g.record('n1')!.status === 'removed', 60_000);
  assert.ok(took !== undefined, String(c.notConverged()));
  const atEpoch = c.adoptions.filter((a) => a.epoch === epoch + 1);
  const lost = atEpoch.filter((a) => a.by === 'n1').map((a) => a.text);
  const others = new Set(atEpoch.filter((a) => a.by !== 'n1').map((a) => a.text));
  assert.is(others.size, 1, 'every other node adopted one ring at that epoch');
  assert.ok(lost.length >= 1 && !others.has(lost[0]!), 'n1 made a different one');
  assert.is(c.node('n2').g.stats.ringConflicts + c.node('n3').g.stats.ringConflicts + c.node('n5').g.stats.ringConflicts, 0, 'nobody else ever saw it');
  assert.equal(c.node('n2').g.ring!.members.filter((m) => m.id.startsWith('n1/')), []);
  assert.equal(spread, [], 'n1 learnt it was removed before it shared any ring');
});

function defaultDetector() {
  return defaultFailureDetectorOptions(1000);
}

test.run();
