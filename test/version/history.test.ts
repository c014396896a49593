// Random histories on a simulated 3-replica cluster (see history.ts): the merge laws on the
// objects replicas really hold, and no lost updates - after anti-entropy, the surviving
// values are exactly the writes no later write had seen.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { coordinatePut, contextOf, equalObjects, mergeObjects, visibleValues } from '../../src/version/index.js';
import { objectProblem } from '../../src/version/object.js';
import { dotKey, historyArb, run, valueOf } from './history.js';

const RUNS = { numRuns: 150 };
const REPLICAS = 3;

/** Three objects out of one history (replica states at various times). */
const triples = fc
  .tuple(historyArb(REPLICAS, 30), fc.nat(), fc.nat(), fc.nat())
  .map(([ops, i, j, k]) => {
    const snaps = run(ops, REPLICAS).snapshots;
    return snaps.length === 0 ? undefined : ([snaps[i % snaps.length]!, snaps[j % snaps.length]!, snaps[k % snaps.length]!] as const);
  });

test('mergeObjects is commutative, associative and idempotent on objects from random histories', () => {
  fc.assert(fc.property(triples, (t) => {
    if (t === undefined) return;
    const [a, b, c] = t;
    assert.ok(equalObjects(mergeObjects(a, b), mergeObjects(b, a)), 'commutative');
    assert.ok(equalObjects(mergeObjects(mergeObjects(a, b), c), mergeObjects(a, mergeObjects(b, c))), 'associative');
    assert.ok(equalObjects(mergeObjects(a, a), a), 'idempotent');
    assert.is(objectProblem(mergeObjects(a, b)), undefined);
  }), RUNS);
});

test('every object a replica holds keeps the invariants, and no two writes share a dot (epochs included)', () => {
  fc.assert(fc.property(historyArb(REPLICAS, 40), (ops) => {
    const sim = run(ops, REPLICAS);
    for (const o of sim.snapshots) assert.is(objectProblem(o), undefined);
    const dots = new Set(sim.writes.map((w) => dotKey(w.dot)));
    assert.is(dots.size, sim.writes.length);
  }), RUNS);
});

test('no lost updates: after anti-entropy the siblings are exactly the writes no later context covered', () => {
  fc.assert(fc.property(historyArb(REPLICAS, 40), (ops) => {
    const sim = run(ops, REPLICAS);
    const final = sim.converged();
    const expected = sim.unsuperseded().map((w) => dotKey(w.dot)).sort();
    const got = (final?.siblings ?? []).map((s) => dotKey(s.dot)).sort();
    assert.equal(got, expected);
    // And each surviving sibling carries the value its write carried.
    for (const w of sim.unsuperseded()) {
      const s = final!.siblings.find((x) => dotKey(x.dot) === dotKey(w.dot))!;
      assert.equal(s.value, w.tombstone ? null : valueOf(w.id));
    }
  }), RUNS);
});

test('replicas converge whatever the order in which they exchange objects', () => {
  fc.assert(fc.property(historyArb(REPLICAS, 30), fc.array(fc.tuple(fc.nat(REPLICAS - 1), fc.nat(REPLICAS - 1)), { maxLength: 20 }), (ops, extra) => {
    const sim = run(ops, REPLICAS);
    const final = sim.converged();
    // Some random extra exchanges, then a full round both ways: every replica ends at `final`.
    for (const [from, to] of extra) sim.apply({ kind: 'sync', from, to });
    for (let round = 0; round < 2; round++) {
      for (let from = 0; from < REPLICAS; from++) for (let to = 0; to < REPLICAS; to++) sim.apply({ kind: 'sync', from, to });
    }
    for (const s of sim.states) {
      if (final === undefined) assert.is(s, undefined);
      else if (s !== undefined) assert.ok(equalObjects(s, final));
    }
  }), RUNS);
});

test('writing back with the merged context collapses every sibling into the one new value', () => {
  fc.assert(fc.property(historyArb(REPLICAS, 30), fc.nat(REPLICAS - 1), (ops, coord) => {
    const sim = run(ops, REPLICAS);
    const final = sim.converged();
    const o = coordinatePut(sim.states[coord], contextOf(final), { replica: coord, epoch: sim.epochs[coord]! },
      { value: valueOf(1e6), writtenAt: 0, expiresAt: 0 }, { maxSiblings: 1, lww: false });
    assert.is(o.siblings.length, 1);
    const everywhere = final === undefined ? o : mergeObjects(final, o);
    assert.equal(visibleValues(everywhere, 0), [valueOf(1e6)]);
  }), RUNS);
});

test('LWW histories: every replica always holds a value once written, and readers see at most one', () => {
  fc.assert(fc.property(historyArb(REPLICAS, 40), (ops) => {
    const sim = run(ops, REPLICAS, { lww: true });
    for (const o of sim.snapshots) {
      assert.ok(o.siblings.length >= 1);
      assert.is(objectProblem(o), undefined);
      assert.ok(visibleValues(o, 0, { lww: true }).length <= 1);
    }
    const final = sim.converged();
    if (sim.writes.length > 0) assert.ok(final !== undefined && final.siblings.length >= 1);
  }), RUNS);
});

test.run();
