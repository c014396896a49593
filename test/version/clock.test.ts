// The laws of version vectors: merge is a join (commutative, associative, idempotent),
// descends is a partial order, increment moves strictly forward, concurrency is symmetric.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  type VersionVector,
  EMPTY_CLOCK,
  clockEquals,
  clockFrom,
  compareClocks,
  concurrent,
  counterOf,
  covers,
  descends,
  dominates,
  increment,
  mergeClocks,
} from '../../src/version/index.js';
import { isCanonicalClock } from '../../src/version/clock.js';

const RUNS = { numRuns: 300 };

const actorArb = fc.record({ replica: fc.nat(3), epoch: fc.nat(1) });
const clockArb: fc.Arbitrary<VersionVector> = fc
  .array(fc.record({ replica: fc.nat(3), epoch: fc.nat(1), counter: fc.nat(4) }), { maxLength: 6 })
  .map(clockFrom);

test('clockFrom is canonical: sorted, one entry per actor with its highest counter, no zeros', () => {
  const vv = clockFrom([
    { replica: 2, epoch: 0, counter: 1 },
    { replica: 1, epoch: 1, counter: 4 },
    { replica: 2, epoch: 0, counter: 3 },
    { replica: 1, epoch: 0, counter: 0 },
  ]);
  assert.equal(vv, [{ replica: 1, epoch: 1, counter: 4 }, { replica: 2, epoch: 0, counter: 3 }]);
  assert.ok(isCanonicalClock(vv));
  assert.throws(() => clockFrom([{ replica: -1, epoch: 0, counter: 1 }]), (e: any) => e.code === 'ERR_INVALID_ARGUMENT');
  assert.throws(() => clockFrom([{ replica: 1, epoch: 0, counter: 1.5 }]), (e: any) => e.code === 'ERR_INVALID_ARGUMENT');
});

test('merge is commutative, associative and idempotent, and yields a canonical clock', () => {
  fc.assert(fc.property(clockArb, clockArb, clockArb, (a, b, c) => {
    assert.ok(clockEquals(mergeClocks(a, b), mergeClocks(b, a)));
    assert.ok(clockEquals(mergeClocks(mergeClocks(a, b), c), mergeClocks(a, mergeClocks(b, c))));
    assert.ok(clockEquals(mergeClocks(a, a), a));
    assert.ok(isCanonicalClock(mergeClocks(a, b)));
  }), RUNS);
});

test('merge is the least upper bound: descends both, and anything that descends both descends it', () => {
  fc.assert(fc.property(clockArb, clockArb, clockArb, (a, b, c) => {
    const m = mergeClocks(a, b);
    assert.ok(descends(m, a) && descends(m, b));
    if (descends(c, a) && descends(c, b)) assert.ok(descends(c, m));
  }), RUNS);
});

test('descends is a partial order: reflexive, antisymmetric, transitive', () => {
  fc.assert(fc.property(clockArb, clockArb, clockArb, (a, b, c) => {
    assert.ok(descends(a, a));
    if (descends(a, b) && descends(b, a)) assert.ok(clockEquals(a, b));
    if (descends(a, b) && descends(b, c)) assert.ok(descends(a, c));
  }), RUNS);
});

test('descends agrees with the per-actor definition, and compareClocks with descends', () => {
  fc.assert(fc.property(clockArb, clockArb, (a, b) => {
    const byDefinition = b.every((e) => counterOf(a, e) >= e.counter);
    assert.is(descends(a, b), byDefinition);
    const expected = descends(a, b) ? (descends(b, a) ? 'equal' : 'after') : descends(b, a) ? 'before' : 'concurrent';
    assert.is(compareClocks(a, b), expected);
    assert.is(dominates(a, b), expected === 'after');
  }), RUNS);
});

test('concurrency is symmetric and irreflexive', () => {
  fc.assert(fc.property(clockArb, clockArb, (a, b) => {
    assert.is(concurrent(a, b), concurrent(b, a));
    assert.not.ok(concurrent(a, a));
  }), RUNS);
});

test('increment makes a clock strictly descend the old one, by one event of that actor', () => {
  fc.assert(fc.property(clockArb, actorArb, (a, actor) => {
    const b = increment(a, actor);
    assert.ok(dominates(b, a));
    assert.is(counterOf(b, actor), counterOf(a, actor) + 1);
    assert.not.ok(covers(a, { ...actor, counter: counterOf(b, actor) }));
    assert.ok(isCanonicalClock(b));
  }), RUNS);
});

test('the empty clock is below everything; equal clocks are neither concurrent nor dominating', () => {
  fc.assert(fc.property(clockArb, (a) => {
    assert.ok(descends(a, EMPTY_CLOCK));
    assert.is(descends(EMPTY_CLOCK, a), a.length === 0);
    assert.not.ok(dominates(a, a));
  }), RUNS);
});

test('an epoch bump is a different actor: (r, e+1) is concurrent with (r, e), whatever the counters', () => {
  const old = clockFrom([{ replica: 7, epoch: 0, counter: 5 }]);
  const reborn = increment(EMPTY_CLOCK, { replica: 7, epoch: 1 });
  assert.ok(concurrent(old, reborn));
  assert.not.ok(covers(old, reborn[0]!));
});

test.run();
