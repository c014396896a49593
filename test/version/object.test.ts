// Behaviour of the sibling set: a put supersedes exactly what its context saw, stale
// contexts make siblings, the cap, last-writer-wins, TTL, tombstones, epochs (KV679).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Actor,
  type PutOptions,
  type VObject,
  EMPTY_CLOCK,
  clockFrom,
  contextOf,
  coordinateOverwrite,
  coordinatePut,
  mergeClocks,
  descendsObject,
  isTombstoneOnly,
  mergeObjects,
  versionMetrics,
  visibleSiblings,
  visibleValues,
} from '../../src/version/index.js';
import { objectProblem } from '../../src/version/object.js';
import { idOf, valueOf } from './history.js';

const A: Actor = { replica: 1, epoch: 0 };
const B: Actor = { replica: 2, epoch: 0 };
const C: Actor = { replica: 3, epoch: 0 };
const OPTS: PutOptions = { maxSiblings: 10, lww: false };
const LWW: PutOptions = { maxSiblings: 10, lww: true };

const put = (stored: VObject | undefined, ctx: VObject | undefined, actor: Actor, id: number | null, opts = OPTS, at = 0, expiresAt = 0) =>
  coordinatePut(stored, contextOf(ctx), actor, { value: id === null ? null : valueOf(id), writtenAt: at, expiresAt }, opts);
const ids = (o: VObject | undefined, now = 0, lww = false) => visibleValues(o, now, { lww }).map(idOf);

test('a first put makes one sibling with dot (actor, 1) and a clock of that dot', () => {
  const o = put(undefined, undefined, A, 1);
  assert.equal(o.clock, [{ replica: 1, epoch: 0, counter: 1 }]);
  assert.is(o.siblings.length, 1);
  assert.equal(o.siblings[0]!.dot, { replica: 1, epoch: 0, counter: 1 });
  assert.equal(ids(o), [1]);
  assert.is(objectProblem(o), undefined);
});

test('a put with the context it read replaces the value; a blind put (no context) becomes a sibling', () => {
  const v1 = put(undefined, undefined, A, 1);
  const v2 = put(v1, v1, A, 2);
  assert.equal(ids(v2), [2]);
  const blind = put(v2, undefined, A, 3);
  assert.equal(ids(blind), [2, 3]);
  assert.is(objectProblem(blind), undefined);
});

test('a stale context creates a sibling instead of overwriting the newer value', () => {
  const v1 = put(undefined, undefined, A, 1);
  const v2 = put(v1, v1, A, 2); // another client updated after v1 was read
  const stale = put(v2, v1, A, 3); // this client read v1 only
  assert.equal(ids(stale), [2, 3]);
});

test('writing back with the context of a read that returned siblings collapses them to one', () => {
  const a = put(undefined, undefined, A, 1);
  const b = put(undefined, undefined, B, 2);
  const merged = mergeObjects(a, b);
  assert.equal(ids(merged), [1, 2]);
  const resolved = put(merged, merged, C, 3);
  assert.equal(ids(resolved), [3]);
  assert.equal(ids(mergeObjects(resolved, a)), [3], 'the old replicas\' values stay superseded');
  assert.equal(ids(mergeObjects(b, resolved)), [3]);
});

test('a put supersedes exactly what its context saw, even siblings the coordinator has not received', () => {
  const onA = put(undefined, undefined, A, 1);
  const onB = put(undefined, undefined, B, 2);
  const read = mergeObjects(onA, onB); // the client read both replicas
  const written = put(onA, read, A, 3); // coordinated by A, which never saw value 2
  assert.equal(ids(written), [3]);
  assert.equal(ids(mergeObjects(onB, written)), [3], 'value 2 is dropped once B merges the write');
});

test('the coordinator\'s new dot is above both its stored counter and the context\'s', () => {
  const x1 = put(undefined, undefined, A, 1);
  const x2 = put(x1, x1, A, 2);
  // A replica of A's actor that only holds x1 (stale) but a context that has seen x2.
  const o = put(x1, x2, A, 3);
  assert.equal(o.siblings.map((s) => s.dot.counter), [3]);
});

test('the sibling cap: a put that would exceed maxSiblings throws ERR_TOO_MANY_SIBLINGS, writes nothing, counts', () => {
  const cap: PutOptions = { maxSiblings: 3, lww: false };
  let o: VObject | undefined;
  for (let i = 1; i <= 3; i++) o = put(o, undefined, A, i, cap);
  assert.is(o!.siblings.length, 3);
  const before = versionMetrics.tooManySiblings;
  try {
    put(o, undefined, A, 4, cap);
    assert.unreachable('should have thrown');
  } catch (err: any) {
    assert.is(err.code, 'ERR_TOO_MANY_SIBLINGS');
    assert.match(err.message, /4 concurrent values.*limit 3.*context/);
  }
  assert.is(versionMetrics.tooManySiblings, before + 1);
  assert.equal(ids(put(o, o, A, 5, cap)), [5], 'resolving with the context is always accepted');
});

test('merges are never capped: replication must converge', () => {
  const cap: PutOptions = { maxSiblings: 1, lww: false };
  const merged = mergeObjects(mergeObjects(put(undefined, undefined, A, 1, cap), put(undefined, undefined, B, 2, cap)), put(undefined, undefined, C, 3, cap));
  assert.is(merged.siblings.length, 3);
});

test('LWW: a put keeps one value, the latest writtenAt; ties go to the greater dot', () => {
  const a = put(undefined, undefined, A, 1, LWW, 100);
  const b = put(a, undefined, B, 2, LWW, 50); // blind and older: loses
  assert.equal(ids(b), [1]);
  assert.is(b.siblings.length, 1);
  const c = put(b, undefined, C, 3, LWW, 200);
  assert.equal(ids(c), [3]);
  const tieLow = put(undefined, undefined, B, 4, LWW, 7);
  const tie = put(tieLow, undefined, C, 5, LWW, 7);
  assert.equal(ids(tie), [5], 'replica 3 > replica 2');
});

test('LWW: what the context saw is superseded whatever its timestamp (clock skew cannot resurrect it)', () => {
  const a = put(undefined, undefined, A, 1, LWW, 1_000);
  const b = put(a, a, B, 2, LWW, 10); // a skewed clock, but it read value 1
  assert.equal(ids(b), [2]);
});

test('LWW readers see one value even when two replicas coordinated concurrently', () => {
  const a = put(undefined, undefined, A, 1, LWW, 10);
  const b = put(undefined, undefined, B, 2, LWW, 20);
  const m = mergeObjects(a, b);
  assert.is(m.siblings.length, 2, 'merges stay causal');
  assert.equal(ids(m, 0, true), [2]);
  assert.equal(ids(put(m, undefined, C, 3, LWW, 5)), [2], 'the next LWW put collapses to the winner');
});

test('TTL: an expired sibling is invisible from expiresAt on, and travels with the object', () => {
  const o = put(undefined, undefined, A, 1, OPTS, 0, 1_000);
  assert.equal(ids(o, 999), [1]);
  assert.equal(ids(o, 1_000), []);
  const both = mergeObjects(o, put(undefined, undefined, B, 2, OPTS, 0, 0));
  assert.equal(ids(both, 5_000), [2], 'a sibling without expiry stays');
  assert.is(visibleSiblings(both, 10)[0]!.expiresAt, 1_000, 'the expiry is readable (TTL commands)');
  assert.equal(ids(o, 5_000, true), [], 'an expired LWW winner means absent');
});

test('a tombstone hides the value, keeps causality, and a put with its context supersedes it', () => {
  const v = put(undefined, undefined, A, 1);
  const dead = put(v, v, A, null);
  assert.equal(ids(dead), []);
  assert.ok(isTombstoneOnly(dead));
  assert.ok(descendsObject(dead, v));
  assert.equal(ids(mergeObjects(v, dead)), [], 'a stale replica\'s value does not come back');
  const again = put(dead, dead, B, 2);
  assert.equal(ids(again), [2]);
  assert.not.ok(isTombstoneOnly(again));
  assert.is(again.siblings.length, 1);
});

test('a delete concurrent with a write leaves the write visible', () => {
  const v = put(undefined, undefined, A, 1);
  const del = put(v, v, A, null);
  const w = put(v, v, B, 2);
  const m = mergeObjects(del, w);
  assert.equal(ids(m), [2]);
  assert.is(m.siblings.length, 2, 'the tombstone stays a sibling until a put sees it');
});

test('KV679: a replica that lost its data must bump its epoch, or its new writes are silently dropped', () => {
  let onA: VObject | undefined;
  for (let i = 1; i <= 5; i++) onA = put(onA, onA, A, i);
  const onB = mergeObjects(put(undefined, undefined, B, 99), onA!); // B has seen (A, 5)
  // A loses its disk. Restarted with the same actor, its first write is dot (1.0, 1)...
  const sameEpoch = put(undefined, undefined, A, 6);
  assert.equal(ids(mergeObjects(onB, sameEpoch)), [5, 99], 'the new value vanished: B thinks it saw it');
  // ... restarted as (1.1), the dot is new to everyone.
  const bumped = put(undefined, undefined, { replica: 1, epoch: 1 }, 6);
  assert.equal(bumped.siblings[0]!.dot, { replica: 1, epoch: 1, counter: 1 });
  assert.equal(ids(mergeObjects(onB, bumped)), [5, 6, 99]);
  assert.equal(ids(mergeObjects(bumped, onB)), [5, 6, 99]);
});

test('descendsObject tells a stale replica from a fresh or concurrent one', () => {
  const v1 = put(undefined, undefined, A, 1);
  const v2 = put(v1, v1, A, 2);
  const other = put(undefined, undefined, B, 3);
  assert.ok(descendsObject(v2, v1));
  assert.not.ok(descendsObject(v1, v2));
  assert.not.ok(descendsObject(v2, other));
  assert.ok(descendsObject(mergeObjects(v2, other), other));
});

test('bad arguments are ERR_INVALID_ARGUMENT', () => {
  const bad = (f: () => unknown) => assert.throws(f, (e: any) => e.code === 'ERR_INVALID_ARGUMENT');
  const w = { value: valueOf(1), writtenAt: 0, expiresAt: 0 };
  bad(() => coordinatePut(undefined, EMPTY_CLOCK, { replica: -1, epoch: 0 }, w, OPTS));
  bad(() => coordinatePut(undefined, EMPTY_CLOCK, { replica: 1, epoch: 2 ** 32 }, w, OPTS));
  bad(() => coordinatePut(undefined, EMPTY_CLOCK, A, { ...w, writtenAt: -1 }, OPTS));
  bad(() => coordinatePut(undefined, EMPTY_CLOCK, A, { ...w, expiresAt: 1.5 }, OPTS));
  bad(() => coordinatePut(undefined, EMPTY_CLOCK, A, { ...w, value: 'x' as any }, OPTS));
  bad(() => coordinatePut(undefined, EMPTY_CLOCK, A, w, { maxSiblings: 0, lww: false }));
  const unsorted = [{ replica: 2, epoch: 0, counter: 1 }, { replica: 1, epoch: 0, counter: 1 }];
  bad(() => coordinatePut(undefined, unsorted, A, w, OPTS));
  assert.ok(coordinatePut(undefined, clockFrom(unsorted), A, w, OPTS));
});

test('coordinateOverwrite from the stored clock equals coordinatePut with the stored clock merged into the context', () => {
  const read = put(put(undefined, undefined, A, 1), undefined, B, 2); // two siblings
  const cases: [VObject | undefined, VObject | undefined, Actor, PutOptions][] = [
    [undefined, undefined, A, OPTS],
    [read, undefined, A, OPTS],
    [read, undefined, C, LWW],
    [read, read, B, OPTS],
    [put(read, undefined, C, null), put(undefined, undefined, A, 9), A, { maxSiblings: 1, lww: false }],
    [{ clock: read.clock, siblings: [] }, undefined, B, OPTS],
  ];
  for (const [stored, ctx, actor, opts] of cases) {
    for (const value of [valueOf(7), null]) {
      const write = { value, writtenAt: 5, expiresAt: 9 };
      const seen = contextOf(ctx);
      const context = stored !== undefined && stored.siblings.length > 0 ? mergeClocks(seen, stored.clock) : seen;
      const want = coordinatePut(stored, context, actor, write, opts);
      assert.equal(coordinateOverwrite(contextOf(stored), seen, actor, write, opts), want);
    }
  }
  assert.throws(() => coordinateOverwrite(EMPTY_CLOCK, EMPTY_CLOCK, A, { value: valueOf(1), writtenAt: -1, expiresAt: 0 }, OPTS), /writtenAt/);
});

test.run();
