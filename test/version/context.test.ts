// The opaque context: bytes and base64url text round trips; garbage is ERR_INVALID_ARGUMENT.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  type VersionVector,
  EMPTY_CLOCK,
  clockEquals,
  clockFrom,
  contextFromString,
  contextToString,
  decodeContext,
  encodeContext,
} from '../../src/version/index.js';
import { RingkvError } from '../../src/errors.js';

const clockArb: fc.Arbitrary<VersionVector> = fc
  .array(fc.record({
    replica: fc.oneof(fc.nat(10), fc.constant(2 ** 32 - 1)),
    epoch: fc.oneof(fc.nat(3), fc.nat(2 ** 32 - 1)),
    counter: fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER)),
  }), { maxLength: 8 })
  .map(clockFrom);

const invalid = (f: () => unknown) =>
  assert.throws(f, (e: unknown) => e instanceof RingkvError && e.code === 'ERR_INVALID_ARGUMENT' && /context/.test(e.message));

test('round trip through bytes and through base64url text', () => {
  fc.assert(fc.property(clockArb, (vv) => {
    const bytes = encodeContext(vv);
    assert.ok(clockEquals(decodeContext(bytes), vv));
    const text = contextToString(vv);
    assert.match(text, /^[A-Za-z0-9_-]+$/);
    assert.ok(clockEquals(contextFromString(text), vv));
  }), { numRuns: 300 });
});

test('no context (zero bytes, empty text) is the empty clock; the empty clock encodes to 2 bytes', () => {
  assert.is(decodeContext(new Uint8Array(0)).length, 0);
  assert.is(contextFromString('').length, 0);
  assert.equal(encodeContext(EMPTY_CLOCK), Uint8Array.of(1, 0));
});

test('garbage is ERR_INVALID_ARGUMENT: version, truncation, order, zero counters, trailing bytes, bad text', () => {
  const good = encodeContext(clockFrom([{ replica: 1, epoch: 0, counter: 2 }, { replica: 3, epoch: 1, counter: 9 }]));
  for (let n = 1; n < good.length; n++) invalid(() => decodeContext(good.subarray(0, n)));
  invalid(() => decodeContext(Uint8Array.of(...good, 0)));
  invalid(() => decodeContext(Uint8Array.of(9, ...good.subarray(1))));
  invalid(() => decodeContext(Uint8Array.of(1, 2, 3, 0, 1, 1, 0, 1)));
  invalid(() => decodeContext(Uint8Array.of(1, 1, 1, 0, 0)));
  invalid(() => decodeContext(Uint8Array.of(1, 0xff, 0xff, 0xff, 0x7f)));
  invalid(() => contextFromString('not a context!'));
  invalid(() => contextFromString('AQ=='));
  invalid(() => contextFromString('A'));
  invalid(() => decodeContext('AQA' as any));
});

test('random bytes either decode to a canonical clock or are rejected as invalid', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
    try {
      const vv = decodeContext(bytes);
      if (bytes.length > 0) assert.equal(encodeContext(vv), bytes);
    } catch (e) {
      assert.ok(e instanceof RingkvError && e.code === 'ERR_INVALID_ARGUMENT');
    }
  }), { numRuns: 500 });
});

test.run();
