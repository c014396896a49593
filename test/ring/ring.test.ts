// The Ring: partitions of the token space, epochs, diffs, JSON, the cached fast path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher, TOKEN_END } from '../../src/hash/index.js';
import { Ring, type Member } from '../../src/ring/index.js';

const member = (id: string, extra: Partial<Member> = {}): Member => ({ id, host: id.split('/')[0]!, rack: 'r1', dc: 'dc1', weight: 1, ...extra });
const six = ['a/s0', 'a/s1', 'b/s0', 'b/s1', 'c/s0', 'c/s1'].map((id) => member(id));

test('the partition of a token is its top log2(Q) bits', () => {
  const ring = Ring.build(six, 256);
  assert.is(ring.partitionOf(0, 0), 0);
  assert.is(ring.partitionOf(0xffffffff, 0xffffffff), 255);
  assert.is(ring.partitionOf(0x01ffffff, 0), 1);
  assert.is(ring.partitionOf(0x80000000, 5), 128);
  assert.is(Ring.build(six, 65536).partitionOf(0xabcd1234, 0), 0xabcd);
  assert.is(Ring.build([member('a/s0')], 1).partitionOf(0xffffffff, 1), 0);
  assert.is(Ring.build(six, 2).partitionOf(0x7fffffff, 0), 0);
});

test('partition ranges tile the token space, and a key lies in its partition', async () => {
  for (const q of [1, 2, 256, 65536]) {
    const ring = Ring.build(six, q);
    assert.is(ring.partitionRange(0).from, 0n);
    assert.is(ring.partitionRange(q - 1).to, TOKEN_END);
    if (q > 1) assert.is(ring.partitionRange(0).to, ring.partitionRange(1).from);
  }
  const ring = Ring.build(six, 256);
  const hasher = await createTokenHasher();
  for (let i = 0; i < 1000; i++) {
    const token = hasher.token(new TextEncoder().encode(`key-${i}`));
    const { from, to } = ring.partitionRange(ring.partitionOf(hasher.hi, hasher.lo));
    assert.ok(from <= token && token < to, `key-${i}`);
  }
});

test('the fast path returns the cached, frozen list of the partition', () => {
  const ring = Ring.build(six, 256);
  const a = ring.preferenceList(0x12345678, 0, 3);
  assert.is(ring.preferenceList(0x12ffffff, 99, 3), a, 'same partition, same array');
  assert.equal(a, ring.listOf(0x12, 3));
  assert.ok(Object.isFrozen(a));
  assert.is(new Set(a.map((id) => ring.member(id)!.host)).size, 3);
  assert.throws(() => ring.preferenceList(0, 0, 7), (err: { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT');
});

test('epochs: default to previous + 1, given ones are kept, newer compares', () => {
  const one = Ring.build(six, 64);
  assert.is(one.epoch, 1);
  const two = Ring.build([...six, member('d/s0')], 64, { previous: one });
  assert.is(two.epoch, 2);
  assert.ok(two.newerThan(one) && !one.newerThan(two) && !two.newerThan(2));
  assert.is(Ring.build(six, 64, { previous: two, epoch: 40 }).epoch, 40);
  assert.throws(() => Ring.build(six, 64, { epoch: -1 }), /epoch/);
});

test('diff lists exactly the partitions whose owner changed', () => {
  const before = Ring.build(six, 256);
  const after = Ring.build([...six, member('d/s0'), member('d/s1')], 256, { previous: before });
  const moves = before.diff(after);
  assert.is(moves.length, 64);
  for (const m of moves) {
    assert.is(before.ownerOf(m.partition), m.from);
    assert.is(after.ownerOf(m.partition), m.to);
    assert.ok(m.to.startsWith('d/'));
  }
  assert.equal(after.partitionsOf('d/s0').concat(after.partitionsOf('d/s1')).sort((x, y) => x - y), moves.map((m) => m.partition));
  assert.throws(() => before.diff(Ring.build(six, 128)), /partitions/);
});

test('toJSON round-trips through JSON text, and fromJSON checks what it is given', () => {
  const ring = Ring.build(six.map((m, i) => ({ ...m, dc: i < 4 ? 'dc1' : 'dc2' })), 64, { epoch: 7, replication: { dc1: 2, dc2: 1 } });
  const back = Ring.fromJSON(JSON.parse(JSON.stringify(ring)));
  assert.is(back.epoch, 7);
  assert.equal(back.assignment(), ring.assignment());
  assert.equal(back.replication, { dc1: 2, dc2: 1 });
  assert.equal(back.listOf(5, 3), ring.listOf(5, 3));
  const json = ring.toJSON();
  const bad = (patch: object): void => {
    assert.throws(() => Ring.fromJSON({ ...json, ...patch }), (err: { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT');
  };
  bad({ owners: json.owners.slice(1) });
  bad({ owners: json.owners.map((id, p) => (p === 3 ? 'zz/s9' : id)) });
  bad({ q: 63 });
  bad({ epoch: 1.5 });
});

test('a ring is immutable and independent of the caller\'s arrays', () => {
  const members = six.map((m) => ({ ...m }));
  const ring = Ring.build(members, 64);
  members[0]!.weight = 100;
  assert.is(ring.member('a/s0')!.weight, 1);
  assert.ok(Object.isFrozen(ring.members) && Object.isFrozen(ring.members[0]));
  const owners = ring.assignment().owners as string[];
  owners[0] = 'x';
  assert.is.not(ring.ownerOf(0), 'x');
  let total = 0;
  for (const m of ring.members) total += ring.partitionsOf(m.id).length;
  assert.is(total, 64);
  assert.equal(ring.partitionsOf('nobody'), []);
});

test('out-of-range partitions are refused', () => {
  const ring = Ring.build(six, 64);
  for (const p of [-1, 64, 1.5, NaN]) {
    assert.throws(() => ring.ownerOf(p), (err: { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT');
    assert.throws(() => ring.listOf(p, 3), (err: { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT');
  }
});

test('a large ring: 100 hosts x 8 shards at Q = 65536 claims, grows and lists', () => {
  // Its speed is not asserted (the machine's load decides it): a pathological claim would
  // show as this file topping the runner's slowest list, or hit its file deadline.
  const members: Member[] = [];
  for (let h = 0; h < 100; h++) for (let s = 0; s < 8; s++) members.push(member(`n${h}/s${s}`, { rack: `r${h % 10}` }));
  const ring = Ring.build(members, 65536);
  const grown = Ring.build([...members, member('x/s0'), member('x/s1')], 65536, { previous: ring });
  assert.is(ring.diff(grown).length, 2 * Math.floor(65536 / 802));
  for (let p = 0; p < 65536; p += 97) assert.is(new Set(grown.listOf(p, 3).map((id) => grown.member(id)!.host)).size, 3);
});

test.run();
