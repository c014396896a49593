// The merge rules of node records, from a fixture table, plus the algebra every node relies
// on to end with the same view (commutative, associative, idempotent) and the rules for a
// node's own record.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Membership } from '../../src/cluster/membership/membership.js';
import { mergeRecords, NODE_STATUSES, type NodeRecord, type NodeStatus } from '../../src/cluster/membership/node-record.js';
import { Random } from '../../src/storage/env/random.js';

const base: NodeRecord = {
  id: 'n1', address: '10.0.0.1:7379', dc: 'dc1', rack: 'r1', shards: 2, weight: 1,
  generation: 1, heartbeat: 0, ringEpoch: 0, transfers: 0, status: 'joining', statusVersion: 0,
};

/** 'g=2 hb=7 up@3 epoch=4 shards=3' -> a record (fields not named come from `base`). */
function rec(text: string): NodeRecord {
  const r: Record<string, unknown> = { ...base };
  for (const word of text.trim().split(/\s+/)) {
    const status = /^([a-z]+)@(\d+)$/.exec(word);
    if (status !== null) {
      r.status = status[1] as NodeStatus;
      r.statusVersion = Number(status[2]);
      continue;
    }
    const [key, value] = word.split('=') as [string, string];
    const field = ({ g: 'generation', hb: 'heartbeat', epoch: 'ringEpoch' } as Record<string, string>)[key] ?? key;
    r[field] = field === 'address' ? value : Number(value);
  }
  return r as unknown as NodeRecord;
}

const show = (r: NodeRecord) => `g=${r.generation} hb=${r.heartbeat} ${r.status}@${r.statusVersion} epoch=${r.ringEpoch} shards=${r.shards} address=${r.address}`;

// a | b | merge(a, b), both ways round.
const FIXTURES = `
# the owner's fields: the later (generation, heartbeat) wins
g=1 hb=5 up@1                  | g=1 hb=7 up@1                   | g=1 hb=7 up@1
g=1 hb=7 epoch=3               | g=1 hb=6 epoch=4                | g=1 hb=7 epoch=3
g=2 hb=0 joining@0             | g=1 hb=90 up@3                  | g=2 hb=0 up@3
g=2 hb=0 shards=4              | g=1 hb=90 shards=2              | g=2 hb=0 shards=4
g=3 hb=1 address=10.0.0.9:7379 | g=2 hb=50 address=10.0.0.1:7379 | g=3 hb=1 address=10.0.0.9:7379
# the status: the higher statusVersion wins, whatever the generation
g=1 hb=5 up@2                  | g=4 hb=1 joining@0              | g=4 hb=1 up@2
g=1 hb=5 removed@3             | g=3 hb=1 up@1                   | g=3 hb=1 removed@3
g=1 hb=9 leaving@4             | g=1 hb=2 up@5                   | g=1 hb=9 up@5
# same statusVersion: the later stage of the lifecycle wins
g=1 hb=5 up@2                  | g=1 hb=5 leaving@2              | g=1 hb=5 leaving@2
g=1 hb=5 joining@1             | g=1 hb=5 up@1                   | g=1 hb=5 up@1
g=1 hb=5 left@3                | g=1 hb=5 removed@3              | g=1 hb=5 removed@3
g=1 hb=5 leaving@3             | g=1 hb=5 left@3                 | g=1 hb=5 left@3
# equal copies merge to themselves
g=2 hb=2 up@2                  | g=2 hb=2 up@2                   | g=2 hb=2 up@2
`;

test('merge fixtures (both argument orders)', () => {
  let n = 0;
  for (const line of FIXTURES.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [a, b, want] = line.split('|').map(rec) as [NodeRecord, NodeRecord, NodeRecord];
    assert.is(show(mergeRecords(a, b)), show(want), line);
    assert.is(show(mergeRecords(b, a)), show(want), `${line} (swapped)`);
    n++;
  }
  assert.is(n, 13);
});

test('merge returns the first copy itself when the second adds nothing', () => {
  const a = rec('g=2 hb=9 up@3');
  assert.is(mergeRecords(a, rec('g=2 hb=1 up@2')), a);
  assert.is(mergeRecords(a, a), a);
});

test('merge is commutative, associative and idempotent (random records)', () => {
  const r = new Random(42);
  const random = (): NodeRecord => ({
    ...base,
    generation: 1 + r.int(3), heartbeat: r.int(4), ringEpoch: r.int(3), shards: 1 + r.int(2),
    status: NODE_STATUSES[r.int(NODE_STATUSES.length)]!, statusVersion: r.int(3),
  });
  for (let i = 0; i < 3000; i++) {
    const a = random();
    const b = random();
    const c = random();
    assert.equal(mergeRecords(a, b), mergeRecords(b, a));
    assert.equal(mergeRecords(mergeRecords(a, b), c), mergeRecords(a, mergeRecords(b, c)));
    assert.equal(mergeRecords(a, a), a);
  }
});

test('own record: an older incarnation from gossip is ignored, a status change is taken', () => {
  const m = new Membership(rec('g=3 hb=10 up@1'));
  assert.is(m.merge(rec('g=2 hb=500 up@1')), undefined);
  assert.is(m.self.generation, 3);
  const change = m.merge(rec('g=2 hb=500 removed@2'));
  assert.ok(change !== undefined);
  assert.is(m.self.status, 'removed');
  assert.is(m.self.heartbeat, 10, 'our own heartbeat is ours');
});

test('own record: a later incarnation than ours (a lost generation file) makes us jump past it', () => {
  const m = new Membership(rec('g=1 hb=3 joining@0'));
  m.merge(rec('g=4 hb=20 up@2'));
  assert.is(m.self.generation, 5);
  assert.is(m.self.status, 'up');
});

test('membership: views merged in any order end equal; records come out in id order', () => {
  const r = new Random(7);
  const copies: NodeRecord[] = [];
  for (let i = 0; i < 60; i++) {
    copies.push({ ...base, id: `n${2 + r.int(5)}`, generation: 1 + r.int(2), heartbeat: r.int(50), statusVersion: r.int(3), status: NODE_STATUSES[r.int(5)]! });
  }
  const view = (order: NodeRecord[]) => {
    const m = new Membership(rec('g=1'));
    for (const c of order) m.merge(c);
    return m.all();
  };
  const a = view(copies);
  const b = view([...copies].reverse());
  assert.equal(a, b);
  assert.equal(a.map((x) => x.id), [...a.map((x) => x.id)].sort());
});

test('updateSelf bumps the heartbeat; setStatus bumps the statusVersion', () => {
  const m = new Membership(rec('g=1 hb=4 joining@2'));
  m.updateSelf({ ringEpoch: 9 });
  assert.is(show(m.self), show(rec('g=1 hb=5 joining@2 epoch=9')));
  m.setStatus('n1', 'up');
  assert.is(show(m.self), show(rec('g=1 hb=5 up@3 epoch=9')));
});

test.run();
