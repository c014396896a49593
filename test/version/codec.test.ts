// The object codec: round trips (property), canonical bytes, and a catalogue of damaged
// inputs that must each be a clear ERR_CORRUPTION, never a crash or a huge allocation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { type VObject, decodeObject, decodeObjectClock, encodeObject, encodeObjectInto, equalObjects, objectSize } from '../../src/version/index.js';
import { RingkvError } from '../../src/errors.js';
import { objectProblem } from '../../src/version/object.js';
import { putVarint } from '../../src/encoding/varint.js';
import { historyArb, run } from './history.js';

const RUNS = { numRuns: 200 };

/** Objects from random histories, with random values, write times and expiries swapped in. */
const objectArb: fc.Arbitrary<VObject> = fc
  .tuple(historyArb(3, 25), fc.nat(), fc.array(fc.tuple(fc.option(fc.uint8Array({ maxLength: 300 })), fc.nat(), fc.oneof(fc.constant(0), fc.nat()), fc.boolean())))
  .map(([ops, pick, tweaks]) => {
    const snaps = run(ops, 3).snapshots;
    const o = snaps[pick % Math.max(1, snaps.length)] ?? { clock: [], siblings: [] };
    return {
      clock: o.clock,
      siblings: o.siblings.map((s, i) => {
        const t = tweaks[i];
        if (t === undefined) return s;
        const [value, writtenAt, expiresAt, big] = t;
        return { dot: s.dot, value, writtenAt: big ? writtenAt + 2 ** 52 : writtenAt, expiresAt: big ? expiresAt * 1000 : expiresAt };
      }),
    };
  });

const corrupt = (bytes: Uint8Array, what?: RegExp) =>
  assert.throws(() => decodeObject(bytes, { source: 'test.sst' }), (e: unknown) =>
    e instanceof RingkvError && e.code === 'ERR_CORRUPTION' && e.file === 'test.sst' && (what === undefined || what.test(e.message)));

const sample: VObject = {
  clock: [{ replica: 1, epoch: 0, counter: 3 }, { replica: 2, epoch: 4, counter: 1 }],
  siblings: [
    { dot: { replica: 1, epoch: 0, counter: 3 }, value: new Uint8Array([1, 2, 3]), writtenAt: 1_700_000_000_000, expiresAt: 0 },
    { dot: { replica: 2, epoch: 4, counter: 1 }, value: null, writtenAt: 5, expiresAt: 1_800_000_000_000 },
  ],
};

test('round trip: decode(encode(o)) equals o, re-encodes to the same bytes, and keeps the invariants', () => {
  fc.assert(fc.property(objectArb, (o) => {
    const bytes = encodeObject(o);
    assert.is(bytes.length, objectSize(o));
    const back = decodeObject(bytes);
    assert.ok(equalObjects(back, o));
    assert.is(objectProblem(back), undefined);
    assert.equal(encodeObject(back), bytes);
  }), RUNS);
});

test('extreme fields round trip: u32 replica and epoch, counters and times up to 2^53-1', () => {
  const max = Number.MAX_SAFE_INTEGER;
  const dot = { replica: 2 ** 32 - 1, epoch: 2 ** 32 - 1, counter: max };
  const o: VObject = { clock: [dot], siblings: [{ dot, value: new Uint8Array(0), writtenAt: max, expiresAt: max }] };
  assert.ok(equalObjects(decodeObject(encodeObject(o)), o));
});

test('encodeObjectInto writes at an offset of a reused buffer', () => {
  const buf = new Uint8Array(100).fill(0xee);
  const end = encodeObjectInto(sample, buf, 10);
  assert.is(end - 10, objectSize(sample));
  assert.is(buf[9], 0xee);
  assert.ok(equalObjects(decodeObject(buf.subarray(10, end)), sample));
});

test('values are copies by default, views with copyValues: false', () => {
  const bytes = encodeObject(sample);
  const copied = decodeObject(bytes);
  const viewed = decodeObject(bytes, { copyValues: false });
  bytes.fill(0);
  assert.equal(copied.siblings[0]!.value, new Uint8Array([1, 2, 3]));
  assert.equal(viewed.siblings[0]!.value, new Uint8Array([0, 0, 0]));
});

test('every truncation is ERR_CORRUPTION naming the source', () => {
  const bytes = encodeObject(sample);
  for (let n = 0; n < bytes.length; n++) corrupt(bytes.subarray(0, n));
});

test('trailing bytes, an unknown version, unknown flags are rejected', () => {
  const bytes = encodeObject(sample);
  corrupt(Uint8Array.of(...bytes, 0), /trailing/);
  corrupt(Uint8Array.of(2, ...bytes.subarray(1)), /version 2/);
  const flagsAt = 1 + 1 + 3 + 3 + 1 + 2; // version, count, two entries, nsib, actor+counter
  assert.is(bytes[flagsAt], 0);
  const f = bytes.slice();
  f[flagsAt] = 4;
  corrupt(f, /flags/);
});

test('structural lies are rejected: counts beyond the bytes, dots outside the clock, disorder', () => {
  const enc = (parts: number[]) => Uint8Array.from(parts);
  // A clock count of 2^40: rejected before anything is allocated for it.
  const huge = new Uint8Array(10);
  huge[0] = 1;
  corrupt(huge.subarray(0, putVarint(huge, 1, 2 ** 40)), /count/);
  corrupt(enc([1, 0, 200]), /sibling count/);
  corrupt(enc([1, 1, 1, 0, 0, 0]), /counter of 0/);
  corrupt(enc([1, 2, 2, 0, 1, 1, 0, 1, 0]), /out of order/);
  corrupt(enc([1, 1, 1, 0, 1, 1, 1, 1, 1, 0]), /actor index 1/);
  corrupt(enc([1, 1, 1, 0, 1, 1, 0, 2, 1, 0]), /not covered/);
  corrupt(enc([1, 1, 1, 0, 2, 2, 0, 2, 1, 0, 0, 1, 1, 0]), /siblings out of order/);
  corrupt(enc([1, 1, 1, 0, 1, 1, 0, 1, 2, 0, 0]), /expiresAt 0/);
  corrupt(enc([1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 5, 1]), /value length 5/);
  corrupt(enc([1, 1, 1, 0, 0x80, 0]), /minimal/);
  corrupt(enc([1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 1, 0]), /exceeds 4294967295/);
  corrupt(enc([1, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0]), /2\^53/);
  corrupt(enc([1, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /longer than 8/);
});

test('random damage (flips, splices) is either a valid object or ERR_CORRUPTION, never anything else', () => {
  fc.assert(fc.property(objectArb, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(), (o, flips, cut) => {
    const bytes = encodeObject(o);
    if (bytes.length === 0) return;
    const d = bytes.slice();
    for (const [at, v] of flips) d[at % d.length] = v;
    for (const input of [d, d.subarray(0, cut % (d.length + 1))]) {
      try {
        const back = decodeObject(input);
        assert.is(objectProblem(back), undefined);
        assert.equal(encodeObject(back), input, 'what decodes re-encodes to the same bytes');
      } catch (e) {
        assert.ok(e instanceof RingkvError && e.code === 'ERR_CORRUPTION', String(e));
      }
    }
  }), { numRuns: 500 });
});

/** What `f` returns, or the message of the error it throws. */
function outcome<T>(f: () => T): T | string {
  try {
    return f();
  } catch (e) {
    return `${(e as RingkvError).code}: ${(e as Error).message}`;
  }
}

test('decodeObjectClock answers as decodeObject does, clock or error, for intact and damaged bytes', () => {
  fc.assert(fc.property(objectArb, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.nat(), (o, flips, cut) => {
    const bytes = encodeObject(o);
    const d = bytes.slice();
    for (const [at, v] of flips) d[at % d.length] = v;
    for (const input of [bytes, d, d.subarray(0, cut % (d.length + 1))]) {
      const opts = { source: 'test.sst' };
      const full = outcome(() => decodeObject(input, opts));
      assert.equal(outcome(() => decodeObjectClock(input, opts)), typeof full === 'string' ? full : full.clock);
    }
  }), { numRuns: 500 });
});

test.run();
