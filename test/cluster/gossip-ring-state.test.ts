// The ring state on its own: which ring a node adopts, who the claimant is, when the ring
// may change, and what the next ring is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NodeRecord, NodeStatus } from '../../src/cluster/membership/node-record.js';
import { claimantOf, notReadyReason, RingState, shardMembers, targetMembers } from '../../src/cluster/membership/ring-state.js';
import { Ring } from '../../src/ring/index.js';

function node(id: string, status: NodeStatus = 'up', extra: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id, address: `10.0.0.${id.slice(1)}:7379`, dc: 'dc1', rack: 'r1', shards: 2, weight: 1,
    generation: 1, heartbeat: 1, ringEpoch: 1, transfers: 0, status, statusVersion: 1, ...extra,
  };
}

const three = [node('n1'), node('n2'), node('n3')];
const none = () => false;

test('shard members: <id>/s<k>, host without the port (IPv6 too), the node\'s placement and weight', () => {
  assert.equal(shardMembers(node('n4', 'up', { shards: 2, weight: 2, rack: 'r9' })), [
    { id: 'n4/s0', host: '10.0.0.4', rack: 'r9', dc: 'dc1', weight: 2 },
    { id: 'n4/s1', host: '10.0.0.4', rack: 'r9', dc: 'dc1', weight: 2 },
  ]);
  assert.is(shardMembers(node('n5', 'up', { address: '[::1]:7000', shards: 1 }))[0]!.host, '::1');
  const statuses = ['joining', 'up', 'leaving', 'left', 'removed'] as const;
  assert.equal(targetMembers(statuses.map((s, i) => node(`n${i + 1}`, s, { shards: 1 })) ).map((m) => m.id), ['n1/s0', 'n2/s0']);
});

test('adopt: a higher epoch wins, a lower one is refused, a tie goes the same way whatever the order', () => {
  const s = new RingState({ partitions: 64 });
  const one = Ring.build(targetMembers(three), 64, { epoch: 1 });
  assert.ok(s.adopt(one));
  assert.is(s.epoch, 1);
  const two = Ring.build(targetMembers([...three, node('n4')]), 64, { previous: one });
  assert.ok(s.adopt(two));
  assert.not.ok(s.adopt(one), 'older');
  assert.not.ok(s.adopt(two), 'the same');
  assert.not.ok(s.adopt(Ring.build(targetMembers(three), 128, { epoch: 9 })), 'another partition count');
  assert.ok(s.isStale(1) && !s.isStale(2) && !s.isStale(3));
  const rival = Ring.build(targetMembers([...three, node('n5')]), 64, { previous: one });
  assert.is(rival.epoch, two.epoch);
  const a = new RingState({ partitions: 64 }, two.toJSON());
  const b = new RingState({ partitions: 64 }, rival.toJSON());
  a.adopt(rival);
  b.adopt(two);
  assert.equal(a.ring!.toJSON(), b.ring!.toJSON(), 'both end on the same ring');
});

test('the claimant is the lowest-id up node not down', () => {
  assert.is(claimantOf(three, none), 'n1');
  assert.is(claimantOf(three, (id) => id === 'n1'), 'n2');
  assert.is(claimantOf([node('n1', 'leaving'), node('n2', 'joining'), node('n3')], none), 'n3');
  assert.is(claimantOf([node('n1', 'joining')], none), undefined);
});

test('ready only when every owner is known, every member is not down and has seen the ring', () => {
  const ring = Ring.build(targetMembers(three), 64, { epoch: 1 });
  assert.is(notReadyReason(three, ring, none), undefined);
  assert.match(notReadyReason(three.slice(0, 2), ring, none)!, /n3 owns partitions .* not been heard of/);
  assert.match(notReadyReason(three, ring, (id) => id === 'n2')!, /n2 is down/);
  assert.match(notReadyReason([...three, node('n4', 'joining', { ringEpoch: 0 })], ring, none)!, /n4 has not yet seen ring epoch 1/);
  assert.is(notReadyReason([...three, node('n4', 'removed', { ringEpoch: 0 })], ring, (id) => id === 'n4'), undefined, 'removed nodes do not count');
});

test('propose: nothing without a change; epoch + 1 from the current ring; never an empty ring', () => {
  const s = new RingState({ partitions: 64 }, Ring.build(targetMembers(three), 64, { epoch: 4 }).toJSON());
  assert.is(s.propose(three), undefined);
  assert.equal(s.plan(three), []);
  const joined = [...three, node('n4', 'joining')];
  const next = s.propose(joined)!;
  assert.is(next.epoch, 5);
  assert.ok(s.plan(joined).every((m) => m.to.startsWith('n4/')));
  assert.is(s.plan(joined).length, 64 - next.counts().get('n1/s0')! * 6);
  const leaving = [node('n1', 'leaving'), node('n2'), node('n3')];
  assert.ok(s.plan(leaving).every((m) => m.from.startsWith('n1/')));
  assert.is(s.propose(three.map((r) => ({ ...r, status: 'leaving' as const }))), undefined);
  assert.is(s.partitionsByNode().get('n2'), Ring.build(targetMembers(three), 64).counts().get('n2/s0')! * 2);
});

test.run();
