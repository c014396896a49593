// Pruning drops only entries of retired actors that back no sibling, only above the size,
// never turns concurrent into dominated, and never makes a merge drop a value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  type Actor,
  type VObject,
  compareClocks,
  concurrent,
  mergeObjects,
  pruneObject,
  versionMetrics,
} from '../../src/version/index.js';
import { objectProblem } from '../../src/version/object.js';
import { dotKey, historyArb, run } from './history.js';

const dot = (replica: number, epoch: number, counter: number) => ({ replica, epoch, counter });
const sib = (d: ReturnType<typeof dot>) => ({ dot: d, value: new Uint8Array([1]), writtenAt: 0, expiresAt: 0 });

test('below maxEntries nothing is pruned; above it, only retired actors without a sibling', () => {
  const o: VObject = {
    clock: [dot(1, 0, 4), dot(1, 1, 2), dot(2, 0, 3), dot(3, 0, 1)],
    siblings: [sib(dot(1, 1, 2)), sib(dot(3, 0, 1))],
  };
  const retiredAll = { isRetired: () => true };
  assert.is(pruneObject(o, { maxEntries: 4, ...retiredAll }), o);
  const before = versionMetrics.prunedEntries;
  const p = pruneObject(o, { maxEntries: 3, ...retiredAll });
  assert.equal(p.clock, [dot(1, 1, 2), dot(3, 0, 1)], 'the entries backing siblings stay');
  assert.is(versionMetrics.prunedEntries, before + 2);
  assert.is(objectProblem(p), undefined);
  const oldEpochs = (a: Actor) => a.replica === 1 && a.epoch < 1;
  assert.equal(pruneObject(o, { maxEntries: 0, isRetired: oldEpochs }).clock, [dot(1, 1, 2), dot(2, 0, 3), dot(3, 0, 1)]);
  assert.is(pruneObject(o, { maxEntries: 0, isRetired: () => false }), o);
});

const cases = fc.tuple(historyArb(4, 40), fc.nat(), fc.nat(), fc.func(fc.boolean()));

test('pruning never turns concurrent objects into ordered ones (random histories, random retirements)', () => {
  let concurrentPairs = 0;
  fc.assert(fc.property(cases, ([ops, i, j, retire]) => {
    const snaps = run(ops, 4).snapshots;
    if (snaps.length === 0) return;
    const a = snaps[i % snaps.length]!;
    const b = snaps[j % snaps.length]!;
    const opts = { maxEntries: 0, isRetired: (x: Actor) => retire(x.replica, x.epoch) };
    const pa = pruneObject(a, opts);
    const pb = pruneObject(b, opts);
    if (concurrent(a.clock, b.clock)) {
      concurrentPairs++;
      assert.is(compareClocks(pa.clock, b.clock), 'concurrent');
      assert.is(compareClocks(a.clock, pb.clock), 'concurrent');
      assert.is(compareClocks(pa.clock, pb.clock), 'concurrent');
    }
  }), { numRuns: 300 });
  assert.ok(concurrentPairs > 20, `only ${concurrentPairs} concurrent pairs were tried`);
});

test('a merge with a pruned object keeps every value the unpruned merge keeps', () => {
  fc.assert(fc.property(cases, ([ops, i, j, retire]) => {
    const snaps = run(ops, 4).snapshots;
    if (snaps.length === 0) return;
    const a = snaps[i % snaps.length]!;
    const b = snaps[j % snaps.length]!;
    const pa = pruneObject(a, { maxEntries: 0, isRetired: (x) => retire(x.replica, x.epoch) });
    assert.is(objectProblem(pa), undefined);
    const kept = new Set(mergeObjects(pa, b).siblings.map((s) => dotKey(s.dot)));
    for (const s of mergeObjects(a, b).siblings) assert.ok(kept.has(dotKey(s.dot)), dotKey(s.dot));
  }), { numRuns: 300 });
});

test.run();
