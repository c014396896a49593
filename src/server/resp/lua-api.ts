// Runs on: the main thread. The part of Lua 5.4's C API that lua-engine.ts and lua-json.ts
// use, as wasmoon's WebAssembly module exports it, and moving bytes in and out of its memory.
// The constants are lua.h's.
// lua.h (Lua 5.4): status codes, value types, and constants of the C API.
export const LUA_OK = 0;
export const LUA_YIELD = 1;
export const LUA_TNIL = 0;
export const LUA_TBOOLEAN = 1;
export const LUA_TNUMBER = 3;
export const LUA_TSTRING = 4;
export const LUA_TTABLE = 5;
export const LUA_TFUNCTION = 6;
export const LUA_REGISTRYINDEX = -1001000;
export const LUA_MASKCOUNT = 1 << 3;
export const LUA_MULTRET = -1;
export const LUA_TLIGHTUSERDATA = 2;

/** The C API functions used, as the WebAssembly module exports them (64-bit integers are BigInt). */
export interface LuaApi {
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
  addFunction(f: (...args: number[]) => number | void, signature: string): number;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _realloc(ptr: number, size: number): number;
  _lua_newstate(alloc: number, ud: number): number;
  _luaL_openlibs(L: number): void;
  _lua_newthread(L: number): number;
  _luaL_ref(L: number, t: number): number;
  _luaL_unref(L: number, t: number, ref: number): void;
  _luaL_loadbufferx(L: number, buf: number, size: number, name: number, mode: number): number;
  _lua_pcallk(L: number, nargs: number, nresults: number, errfunc: number, ctx: number, k: number): number;
  _lua_resume(L: number, from: number, nargs: number, nresults: number): number;
  _lua_sethook(L: number, f: number, mask: number, count: number): void;
  _lua_isyieldable(L: number): number;
  _lua_yieldk(L: number, nresults: number, ctx: number, k: number): number;
  _lua_error(L: number): number;
  _lua_checkstack(L: number, n: number): number;
  _lua_gettop(L: number): number;
  _lua_settop(L: number, idx: number): void;
  _lua_absindex(L: number, idx: number): number;
  _lua_type(L: number, idx: number): number;
  _lua_toboolean(L: number, idx: number): number;
  _lua_tonumberx(L: number, idx: number, isnum: number): number;
  _lua_tolstring(L: number, idx: number, len: number): number;
  _lua_rawget(L: number, idx: number): number;
  _lua_rawgeti(L: number, idx: number, n: bigint): number;
  _lua_rawseti(L: number, idx: number, n: bigint): void;
  _lua_setfield(L: number, idx: number, k: number): void;
  _lua_createtable(L: number, narr: number, nrec: number): void;
  _lua_pushlstring(L: number, s: number, len: number): number;
  _lua_pushstring(L: number, s: number): number;
  _lua_pushinteger(L: number, n: bigint): void;
  _lua_pushboolean(L: number, b: number): void;
  _lua_pushcclosure(L: number, f: number, n: number): void;
  _lua_pushvalue(L: number, idx: number): void;
  _lua_rotate(L: number, idx: number, n: number): void;
  _lua_callk(L: number, nargs: number, nresults: number, ctx: number, k: number): void;
  _lua_next(L: number, idx: number): number;
  _lua_pushnil(L: number): void;
  _lua_rawset(L: number, idx: number): void;
  _lua_pushnumber(L: number, n: number): void;
  _lua_pushlightuserdata(L: number, p: number): void;
  _lua_touserdata(L: number, idx: number): number;
  _lua_isinteger(L: number, idx: number): number;
  _lua_tointegerx(L: number, idx: number, isnum: number): bigint;
}


/**
 * Strings between JS and the module's memory: one scratch buffer (grown, never shrunk) for
 * bytes pushed, and one word for the lengths the API writes back.
 */
export class LuaBytes {
  /** A 4-byte word in the module's memory (lua_tolstring's length, lua_resume's result count). */
  readonly word: number;
  private scratch = 0;
  private scratchSize = 0;

  constructor(private readonly m: LuaApi) {
    this.word = m._malloc(8);
  }

  /** The word's value. */
  get wordValue(): number {
    return this.m.HEAPU32[this.word >> 2]!;
  }

  /** A NUL-terminated copy of `s` that lives as long as the module. */
  cString(s: string): number {
    const bytes = Buffer.from(`${s}\0`);
    const p = this.m._malloc(bytes.length);
    this.m.HEAPU8.set(bytes, p);
    return p;
  }

  push(L: number, bytes: Uint8Array): void {
    const m = this.m;
    if (bytes.length > this.scratchSize) {
      const size = Math.max(bytes.length, 2 * this.scratchSize, 4096);
      if (this.scratch !== 0) m._free(this.scratch);
      this.scratch = m._malloc(size);
      if (this.scratch === 0) throw new Error('the Lua engine is out of memory');
      this.scratchSize = size;
    }
    m.HEAPU8.set(bytes, this.scratch); // HEAPU8 is read again each time: memory growth replaces it
    m._lua_pushlstring(L, this.scratch, bytes.length);
  }

  /** A copy of the string (or number, converted in place) at idx. */
  at(L: number, idx: number): Buffer {
    const m = this.m;
    const p = m._lua_tolstring(L, idx, this.word);
    if (p === 0) return Buffer.alloc(0);
    return Buffer.from(m.HEAPU8.subarray(p, p + this.wordValue));
  }
}
