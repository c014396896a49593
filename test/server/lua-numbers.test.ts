// The number conversions of scripting against C's printf (the expected strings are what
// glibc's %.14g, %.17g and %.1g print for the same doubles: round half to even on the exact
// binary value), and the integer a returned Lua number becomes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatLuaNumber, luaNumberToInteger } from '../../src/server/resp/lua-engine.js';
import { formatG } from '../../src/server/resp/lua-json.js';

/** [x, %.14g, %.17g, %.1g] */
const CASES: [number, string, string, string][] = [
  [123456789012345, '1.2345678901234e+14', '123456789012345', '1e+14'],
  [0.1, '0.1', '0.10000000000000001', '0.1'],
  [2.5, '2.5', '2.5', '2'],
  [3.5, '3.5', '3.5', '4'],
  [1.5, '1.5', '1.5', '2'],
  [0.125, '0.125', '0.125', '0.1'],
  [0.375, '0.375', '0.375', '0.4'],
  [99.5, '99.5', '99.5', '1e+02'],
  [-0.000123456, '-0.000123456', '-0.00012345600000000001', '-0.0001'],
  [123456789012355, '1.2345678901236e+14', '123456789012355', '1e+14'],
  [1e+20, '1e+20', '1e+20', '1e+20'],
  [-2.5e-07, '-2.5e-07', '-2.4999999999999999e-07', '-2e-07'],
  [5e-324, '4.9406564584125e-324', '4.9406564584124654e-324', '5e-324'],
  [0.5, '0.5', '0.5', '0.5'],
  [0.3333333333333333, '0.33333333333333', '0.33333333333333331', '0.3'],
  [1e+300, '1e+300', '1.0000000000000001e+300', '1e+300'],
  [100, '100', '100', '1e+02'],
  [1e+16, '1e+16', '10000000000000000', '1e+16'],
  [123.456, '123.456', '123.456', '1e+02'],
  [1e-05, '1e-05', '1.0000000000000001e-05', '1e-05'],
  [0.0001, '0.0001', '0.0001', '0.0001'],
  [9007199254740994, '9.007199254741e+15', '9007199254740994', '9e+15'],
  [-1.7976931348623157e+308, '-1.7976931348623e+308', '-1.7976931348623157e+308', '-2e+308'],
  [4.35, '4.35', '4.3499999999999996', '4'],
  [0.045, '0.045', '0.044999999999999998', '0.04'],
  [1e-07, '1e-07', '9.9999999999999995e-08', '1e-07'],
  [9.5, '9.5', '9.5', '1e+01'],
  [10.5, '10.5', '10.5', '1e+01'],
];

test('formatG prints as C printf does, ties to even included', () => {
  for (const [x, g14, g17, g1] of CASES) {
    assert.is(formatG(x, 14), g14, `%.14g of ${x}`);
    assert.is(formatG(x, 17), g17, `%.17g of ${x}`);
    assert.is(formatG(x, 1), g1, `%.1g of ${x}`);
  }
  assert.is(formatG(Number.NaN, 14), 'nan');
  assert.is(formatG(-Infinity, 17), '-inf');
});

test('a number passed to redis.call is %.17g (integers below 1e17 exactly)', () => {
  assert.is(formatLuaNumber(3), '3');
  assert.is(formatLuaNumber(0.1), '0.10000000000000001');
  assert.is(formatLuaNumber(2 ** 53 + 2), '9007199254740994');
  assert.is(formatLuaNumber(1e20), '1e+20');
  assert.is(formatLuaNumber(-2.5), '-2.5');
});

test('a returned number becomes an integer through a double, truncated; out of range is INT64_MIN', () => {
  assert.is(luaNumberToInteger(3.99), 3);
  assert.is(luaNumberToInteger(-3.99), -3);
  assert.is(luaNumberToInteger(2 ** 60), 2n ** 60n);
  assert.is(luaNumberToInteger(2 ** 63), -(2n ** 63n));
  assert.is(luaNumberToInteger(-(2 ** 63)), -(2n ** 63n));
  assert.is(luaNumberToInteger(Number.NaN), -(2n ** 63n));
  assert.is(luaNumberToInteger(Infinity), -(2n ** 63n));
});

test.run();
