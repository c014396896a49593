// readSingle (the coordinator's fast path for one replica's answer) agrees with decodeObject
// + visibleValues + encodeContext on every single-sibling object, declines the others, and
// never accepts damaged bytes that decodeObject rejects (it rejects them, or declines).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  EMPTY_CLOCK, type VObject, coordinatePut, decodeObject, encodeContext, encodeObject, mergeObjects, readSingle, visibleValues,
} from '../../src/version/index.js';
import { Slab } from '../../src/protocol/index.js';
import { RingkvError } from '../../src/errors.js';

const slab = new Slab();
const NOW = 1_700_000_000_000;

function put(stored: VObject | undefined, replica: number, value: Uint8Array | null, expiresAt = 0): VObject {
  return coordinatePut(stored, stored?.clock ?? EMPTY_CLOCK, { replica, epoch: 1 }, { value, writtenAt: NOW - 5, expiresAt }, { maxSiblings: 64, lww: false });
}

test('single-sibling objects: same value and context as the general path', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(4), fc.option(fc.uint8Array({ maxLength: 200 })), fc.constantFrom(0, NOW - 1, NOW, NOW + 1000)), { minLength: 1, maxLength: 8 }),
      (writes) => {
        let obj: VObject | undefined;
        for (const [replica, value, expiresAt] of writes) obj = put(obj, replica, value, expiresAt);
        const bytes = encodeObject(obj!);
        const read = readSingle(bytes, NOW, slab, 'test');
        assert.ok(read !== null, 'one sibling: read');
        const want = visibleValues(decodeObject(bytes), NOW);
        assert.equal(read!.value === undefined ? [] : [[...read!.value]], want.map((v) => [...v]));
        assert.equal([...read!.context], [...encodeContext(obj!.clock)]);
      },
    ),
    { numRuns: 300 },
  );
});

test('objects with siblings are declined (null): the caller merges them', () => {
  const a = put(undefined, 1, new Uint8Array([1]));
  const b = put(undefined, 2, new Uint8Array([2]));
  const both = mergeObjects(a, b);
  assert.is(both.siblings.length, 2);
  assert.is(readSingle(encodeObject(both), NOW, slab, 'test'), null);
});

test('damaged bytes throw ERR_CORRUPTION wherever decodeObject does', () => {
  const obj = put(put(undefined, 1, new Uint8Array(20).fill(4)), 3, new Uint8Array(30).fill(5), NOW + 9);
  const good = encodeObject(obj);
  let checked = 0;
  for (let cut = 0; cut < good.length; cut++) expectSame(good.subarray(0, cut));
  for (let i = 0; i < good.length; i++) {
    for (const v of [0, 1, 2, 0x7f, 0x80, 0xff]) {
      const bad = good.slice();
      bad[i] = v;
      expectSame(bad);
      checked++;
    }
  }
  expectSame(new Uint8Array([...good, 0]));
  assert.ok(checked > 100);

  function expectSame(bytes: Uint8Array): void {
    let general: VObject | Error;
    try {
      general = decodeObject(bytes);
    } catch (err) {
      general = err as Error;
    }
    let fast: unknown;
    try {
      fast = readSingle(bytes, NOW, slab, 'test');
    } catch (err) {
      fast = err;
    }
    if (general instanceof Error) {
      // Declining (null) is fine too: the caller then decodes, which rejects.
      if (fast === null) return;
      assert.instance(fast, RingkvError, 'the fast path rejects what decodeObject rejects');
      assert.is((fast as RingkvError).code, 'ERR_CORRUPTION');
    } else if (general.siblings.length === 1) {
      assert.ok(fast !== null && !(fast instanceof Error), 'the fast path reads what decodeObject reads');
    } else {
      assert.is(fast, null);
    }
  }
});

test.run();
