// Runs on: the main thread. The C functions behind the scripts' `cjson` library
// (lua-prelude.ts wraps them): encode walks a Lua value from JS, decode parses with
// JSON.parse and builds the Lua value. Behaviour of lua-cjson 2.1 as Redis ships it:
//
// - encode: nil and cjson.null -> null; numbers as %.14g (NaN and infinities refused); a
//   table whose keys are all positive integers is an array (holes are null; one sparser
//   than half full past index 10 is refused, "excessively sparse"), any other table an
//   object whose keys are strings or numbers; the empty table is {}; strings escape '"',
//   '\', '/', the control characters and DEL; nesting past 1000 levels is refused.
// - decode: null -> cjson.null (a light userdata, as lua-cjson's); integral numbers that
//   are exact become Lua integers (they print as Lua 5.1 prints them), others floats.
// Both return (value) or (nil, message): the Lua side raises the message.
import { type LuaApi, type LuaBytes, LUA_TBOOLEAN, LUA_TLIGHTUSERDATA, LUA_TNIL, LUA_TNUMBER, LUA_TSTRING, LUA_TTABLE } from './lua-api.js';

/** lua-cjson's encode_max_depth and decode_max_depth. */
const MAX_DEPTH = 1000;
/** lua-cjson's encode_sparse_ratio and encode_sparse_safe. */
const SPARSE_RATIO = 2;
const SPARSE_SAFE = 10;

/**
 * A number as C's %.<precision>g prints it. C rounds the exact binary value half to even;
 * JS's toExponential rounds a tie up: a tie (the exact digits after the kept ones are 5 then
 * zeros) with an even last kept digit is truncated instead (123456789012345 at 14 digits:
 * 1.2345678901234e+14, as glibc).
 */
export function formatG(x: number, precision: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, e] = x.toExponential(precision - 1).split('e') as [string, string];
  let digits = mantissa.replace('-', '').replace('.', '');
  let exp = Number(e);
  const exact = exactDigits(Math.abs(x));
  if (/^50*$/.test(exact.digits.slice(precision)) && Number(exact.digits[precision - 1]) % 2 === 0) {
    digits = exact.digits.slice(0, precision).padEnd(precision, '0');
    exp = exact.exp;
  }
  const sign = x < 0 ? '-' : '';
  if (exp < -4 || exp >= precision) {
    const frac = digits.slice(1).replace(/0+$/, '');
    return `${sign}${digits[0]}${frac === '' ? '' : `.${frac}`}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const whole = exp >= 0 ? digits.slice(0, exp + 1) : '0';
  const frac = (exp >= 0 ? digits.slice(exp + 1) : '0'.repeat(-exp - 1) + digits).replace(/0+$/, '');
  return `${sign}${whole}${frac === '' ? '' : `.${frac}`}`;
}

/** The significant decimal digits of ax > 0 (up to 100, enough to see a tie at 17) and its decimal exponent. */
function exactDigits(ax: number): { digits: string; exp: number } {
  const s = ax.toPrecision(100);
  const [body, e] = s.split('e') as [string, string | undefined];
  const point = body.indexOf('.');
  const all = body.replace('.', '');
  const lead = all.length - all.replace(/^0+/, '').length;
  const intDigits = point < 0 ? body.length : point;
  return { digits: all.slice(lead).replace(/0+$/, ''), exp: (e === undefined ? 0 : Number(e)) + intDigits - 1 - lead };
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A Lua string (bytes) as a JSON string, byte for byte (latin1: one char per byte). */
function quote(bytes: Buffer): string {
  const s = bytes.toString('latin1').replace(/[\x00-\x1f"\\/\x7f]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `"${s}"`;
}

class EncodeError extends Error {}

export class LuaJson {
  constructor(
    private readonly m: LuaApi,
    private readonly bytes: LuaBytes,
  ) {}

  /** cjson.encode(value) -> json | nil, message. */
  encode(L: number): number {
    let out: string;
    try {
      out = this.encodeAt(L, 1, 0);
    } catch (err) {
      if (!(err instanceof EncodeError)) throw err; // a longjmp of the C code: let it through
      this.m._lua_settop(L, 0);
      this.m._lua_pushnil(L);
      this.bytes.push(L, Buffer.from(err.message));
      return 2;
    }
    this.bytes.push(L, Buffer.from(out, 'latin1'));
    return 1;
  }

  /** cjson.decode(json) -> value | nil, message. */
  decode(L: number): number {
    let value: unknown;
    try {
      value = JSON.parse(this.bytes.at(L, 1).toString('utf8'));
    } catch (err) {
      // JSON.parse throws nothing of the C code's: every error (RangeError too) is the script's.
      this.m._lua_pushnil(L);
      this.bytes.push(L, Buffer.from(`Expected value but found invalid token (${(err as Error).message})`));
      return 2;
    }
    if (depthOf(value, 0) > MAX_DEPTH) {
      this.m._lua_pushnil(L);
      this.bytes.push(L, Buffer.from(`Found too many nested data structures (${MAX_DEPTH + 1})`));
      return 2;
    }
    this.push(L, value);
    return 1;
  }

  private encodeAt(L: number, index: number, depth: number): string {
    const m = this.m;
    const idx = index < 0 ? m._lua_gettop(L) + index + 1 : index;
    switch (m._lua_type(L, idx)) {
      case LUA_TNIL:
        return 'null';
      case LUA_TBOOLEAN:
        return m._lua_toboolean(L, idx) !== 0 ? 'true' : 'false';
      case LUA_TNUMBER: {
        const x = m._lua_tonumberx(L, idx, 0);
        if (!Number.isFinite(x)) throw new EncodeError('Cannot serialise number: must not be NaN or Inf');
        return formatG(x, 14);
      }
      case LUA_TSTRING:
        return quote(this.bytes.at(L, idx));
      case LUA_TLIGHTUSERDATA:
        if (m._lua_touserdata(L, idx) === 0) return 'null';
        throw new EncodeError('Cannot serialise userdata: type not supported');
      case LUA_TTABLE:
        return this.encodeTable(L, idx, depth + 1);
      default:
        throw new EncodeError(`Cannot serialise ${this.typeName(L, idx)}: type not supported`);
    }
  }

  private typeName(L: number, idx: number): string {
    return ['nil', 'boolean', 'userdata', 'number', 'string', 'table', 'function', 'userdata', 'thread'][this.m._lua_type(L, idx)] ?? 'value';
  }

  private encodeTable(L: number, idx: number, depth: number): string {
    const m = this.m;
    if (depth > MAX_DEPTH || m._lua_checkstack(L, 6) === 0) throw new EncodeError(`Cannot serialise, excessive nesting (${depth})`);
    // First pass: is it an array (every key a positive integer), and how long?
    let count = 0;
    let max = 0;
    let array = true;
    m._lua_pushnil(L);
    while (m._lua_next(L, idx) !== 0) {
      count++;
      if (array && m._lua_isinteger(L, -2) !== 0) {
        const k = m._lua_tointegerx(L, -2, 0);
        if (k >= 1n && k <= BigInt(Number.MAX_SAFE_INTEGER)) max = Math.max(max, Number(k));
        else array = false;
      } else {
        array = false;
      }
      m._lua_settop(L, -2);
    }
    if (count === 0) return '{}';
    if (array) {
      if (max > count * SPARSE_RATIO && max > SPARSE_SAFE) throw new EncodeError('Cannot serialise table: excessively sparse array');
      const items: string[] = [];
      for (let i = 1; i <= max; i++) {
        m._lua_rawgeti(L, idx, BigInt(i));
        items.push(this.encodeAt(L, -1, depth));
        m._lua_settop(L, -2);
      }
      return `[${items.join(',')}]`;
    }
    const fields: string[] = [];
    m._lua_pushnil(L);
    while (m._lua_next(L, idx) !== 0) {
      const kt = m._lua_type(L, -2);
      let key: string;
      // A number key is read with tonumber: tolstring would turn it into a string in place and lose next()'s place.
      if (kt === LUA_TSTRING) key = quote(this.bytes.at(L, -2));
      else if (kt === LUA_TNUMBER) key = `"${formatG(m._lua_tonumberx(L, -2, 0), 14)}"`;
      else {
        throw new EncodeError(`Cannot serialise ${this.typeName(L, -2)}: table key must be a number or string`);
      }
      fields.push(`${key}:${this.encodeAt(L, -1, depth)}`);
      m._lua_settop(L, -2);
    }
    return `{${fields.join(',')}}`;
  }

  private push(L: number, v: unknown): void {
    const m = this.m;
    m._lua_checkstack(L, 4);
    if (v === null) m._lua_pushlightuserdata(L, 0);
    else if (typeof v === 'boolean') m._lua_pushboolean(L, v ? 1 : 0);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) m._lua_pushinteger(L, BigInt(v));
      else m._lua_pushnumber(L, v);
    } else if (typeof v === 'string') this.bytes.push(L, Buffer.from(v, 'utf8'));
    else if (Array.isArray(v)) {
      m._lua_createtable(L, v.length, 0);
      for (let i = 0; i < v.length; i++) {
        this.push(L, v[i]);
        m._lua_rawseti(L, -2, BigInt(i + 1));
      }
    } else {
      const entries = Object.entries(v as Record<string, unknown>);
      m._lua_createtable(L, 0, entries.length);
      for (const [k, x] of entries) {
        this.bytes.push(L, Buffer.from(k, 'utf8'));
        this.push(L, x);
        m._lua_rawset(L, -3);
      }
    }
  }
}

function depthOf(v: unknown, d: number): number {
  if (v === null || typeof v !== 'object' || d > MAX_DEPTH) return d;
  let max = d + 1;
  for (const x of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
    max = Math.max(max, depthOf(x, d + 1));
    if (max > MAX_DEPTH) break;
  }
  return max;
}
