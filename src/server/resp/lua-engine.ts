// Runs on: the main thread. One Lua 5.4 state (wasmoon's WebAssembly build of the C Lua,
// used through its raw C API) that compiles and runs the scripts of one RESP server.
//
// A script runs as a coroutine of that state. redis.call (lua-prelude.ts) hands the command
// to the engine through a C function and yields; the engine awaits the command and resumes
// the coroutine with the reply. So a script awaiting the store does not block the event
// loop, and several scripts (on different keys) may be suspended at once; only one runs
// Lua code at any moment, and only between two redis.calls.
//
// Limits, so that a bad script harms nothing else:
// - Time: a count hook looks at the clock every HOOK_EVERY_INSTRUCTIONS instructions; once
//   the run's deadline has passed it yields with no values (which pcall cannot catch), and
//   the engine abandons the coroutine. A redis.call after the deadline ends the run too.
//   While Lua code runs (between redis.calls) the event loop waits for it, as Redis's one
//   thread waits for a script: the deadline bounds that wait.
// - Memory: every allocation of the state goes through allocate(), which refuses, while a
//   script runs, to take the state past SCRIPT_MEMORY_BYTES (the script gets Lua's "not
//   enough memory" error). Outside a run (the engine pushing replies) it never refuses, so
//   no allocation can fail where no Lua error handler is set.
// - A fault of the WebAssembly module itself (a RuntimeError escaping Lua) marks the engine
//   broken; the owner (scripting.ts) makes a new one and compiles scripts again from source.
//
// Conversions are Redis's (Lua 5.1's numbers are doubles, and so are they here at the
// boundary): a Lua number returned becomes an integer through a double, truncated toward
// zero (NaN, infinities and values out of range become INT64_MIN, as the C cast on x86
// gives); a number passed to redis.call is formatted as %.17g. Strings are bytes both ways.
import { createHash } from 'node:crypto';
import {
  type LuaApi, LuaBytes, LUA_MASKCOUNT, LUA_MULTRET, LUA_OK, LUA_REGISTRYINDEX, LUA_TBOOLEAN, LUA_TFUNCTION,
  LUA_TNIL, LUA_TNUMBER, LUA_TSTRING, LUA_TTABLE, LUA_YIELD,
} from './lua-api.js';
import { formatG, LuaJson } from './lua-json.js';
import { LUA_PRELUDE } from './lua-prelude.js';
import { errorReply, type Reply, ReplyError, RespMap, Simple } from './reply.js';

/** Instructions between two looks at the clock: a fraction of a millisecond of Lua. */
const HOOK_EVERY_INSTRUCTIONS = 10_000;
/** Nesting of a returned table past which the reply is refused (a table holding itself). */
const MAX_REPLY_DEPTH = 100;
/** Memory of the Lua state (every script's tables and strings together): a runaway allocation ends at this. */
export const SCRIPT_MEMORY_BYTES = 256 * 1024 * 1024;

const INT64_MIN = -(1n << 63n);
const TWO_63 = 2 ** 63;


/** An error reply whose line is exactly what the script gave ({err = "..."}), first word as prefix. */
export class ScriptErrorReply extends ReplyError {
  constructor(private readonly raw: string) {
    const space = raw.indexOf(' ');
    super(space < 0 ? raw : raw.slice(0, space), space < 0 ? '' : raw.slice(space + 1));
  }

  override get line(): string {
    return this.raw.replace(/[\r\n]+/g, ' ');
  }
}

/** One run of a script, as the engine sees it. */
export interface ScriptRun {
  /** Starts a command of the script (redis.call / redis.pcall); its reply or a promise of it. */
  call(args: Buffer[]): Reply | Promise<Reply>;
  /** Date.now() past which the run is stopped. */
  readonly deadline: number;
  /** Set by SCRIPT KILL: the run stops at its next hook or redis.call. */
  killed: boolean;
}

export type RunOutcome =
  | { kind: 'reply'; reply: Reply }
  /** An error raised by the script; `message` is its text with its prefix ('ERR ...', or a table's err). */
  | { kind: 'error'; message: string; line: number | undefined }
  | { kind: 'timeout' }
  | { kind: 'killed' };

export type CompileOutcome = { ref: number } | { error: string };

/** The double that %.17g prints, as Redis formats a Lua number passed to a command. */
export function formatLuaNumber(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (Number.isInteger(x) && Math.abs(x) < 1e17) return Object.is(x, -0) ? '-0' : BigInt(x).toString();
  return formatG(x, 17);
}

/** A Lua number returned by a script, as Redis turns it into an integer reply. */
export function luaNumberToInteger(x: number): number | bigint {
  if (!Number.isFinite(x) || x >= TWO_63 || x < -TWO_63) return INT64_MIN;
  const t = Math.trunc(x);
  return Number.isSafeInteger(t) ? t : BigInt(t);
}

export class LuaEngine {
  /** A RuntimeError of the module escaped Lua: the state may be inconsistent; do not use it again. */
  broken = false;
  private readonly G: number;
  private readonly compileRef: number;
  private readonly runRef: number;
  private readonly hook: number;
  private readonly bytes: LuaBytes;
  private readonly json: LuaJson;
  private readonly errKey: number;
  private readonly okKey: number;
  private readonly chunkName: number;
  private memoryUsed = 0;
  /** While a script's Lua code runs: allocations may be refused. */
  private limiting = false;
  /** The run whose coroutine is executing (at most one at a time). */
  private current: ScriptRun | undefined;
  /** The command the executing coroutine started with redis.call, read once it yields. */
  private pending: Reply | Promise<Reply> | undefined;

  private constructor(private readonly m: LuaApi) {
    const allocator = m.addFunction((_ud: number, ptr: number, oldSize: number, newSize: number): number => {
      if (newSize === 0) {
        if (ptr !== 0) {
          this.memoryUsed -= oldSize;
          m._free(ptr);
        }
        return 0;
      }
      const delta = ptr !== 0 ? newSize - oldSize : newSize;
      if (this.limiting && delta > 0 && this.memoryUsed + delta > SCRIPT_MEMORY_BYTES) return 0;
      const moved = m._realloc(ptr, newSize);
      if (moved !== 0) this.memoryUsed += delta;
      return moved;
    }, 'iiiii');
    const G = m._lua_newstate(allocator, 0);
    if (G === 0) throw new Error('lua_newstate failed');
    this.G = G;
    m._luaL_openlibs(G);
    this.bytes = new LuaBytes(m);
    this.json = new LuaJson(m, this.bytes);
    this.errKey = this.bytes.cString('err');
    this.okKey = this.bytes.cString('ok');
    this.chunkName = this.bytes.cString('=ringkv');
    this.hook = m.addFunction((L: number) => this.onHook(L), 'vii');
    const call = m.addFunction((L: number) => this.onCall(L), 'ii');
    const sha1 = m.addFunction((L: number) => this.onSha1(L), 'ii');
    // wrap(f): a C closure that calls f (yieldable: the continuation returns f's results).
    const returnAll = m.addFunction((L: number) => m._lua_gettop(L), 'iiii');
    const trampoline = m.addFunction((L: number): number => {
      m._lua_pushvalue(L, LUA_REGISTRYINDEX - 1);
      m._lua_rotate(L, 1, 1);
      m._lua_callk(L, m._lua_gettop(L) - 1, LUA_MULTRET, 0, returnAll);
      return m._lua_gettop(L);
    }, 'ii');
    const wrap = m.addFunction((L: number): number => {
      m._lua_settop(L, 1);
      m._lua_pushcclosure(L, trampoline, 1);
      return 1;
    }, 'ii');
    const prelude = Buffer.from(LUA_PRELUDE);
    const buf = m._malloc(prelude.length);
    m.HEAPU8.set(prelude, buf);
    const loaded = m._luaL_loadbufferx(G, buf, prelude.length, this.chunkName, 0);
    m._free(buf);
    if (loaded !== LUA_OK) throw new Error(`Lua prelude: ${this.textAt(G, -1)}`);
    m._lua_pushcclosure(G, call, 0);
    m._lua_pushcclosure(G, sha1, 0);
    m._lua_pushcclosure(G, wrap, 0);
    m._lua_pushcclosure(G, m.addFunction((L: number) => this.json.encode(L), 'ii'), 0);
    m._lua_pushcclosure(G, m.addFunction((L: number) => this.json.decode(L), 'ii'), 0);
    m._lua_pushlightuserdata(G, 0); // cjson.null
    if (m._lua_pcallk(G, 6, 2, 0, 0, 0) !== LUA_OK) throw new Error(`Lua prelude: ${this.textAt(G, -1)}`);
    this.runRef = m._luaL_ref(G, LUA_REGISTRYINDEX);
    this.compileRef = m._luaL_ref(G, LUA_REGISTRYINDEX);
  }

  static async create(): Promise<LuaEngine> {
    // Loaded on the first script, not at start: wasmoon costs ~50 ms of CPU to import, and
    // most servers never run a script.
    const { LuaFactory } = await import('wasmoon');
    const lua = await new LuaFactory().getLuaModule();
    return new LuaEngine(lua.module as unknown as LuaApi);
  }

  /** Bytes the Lua state holds. */
  get memory(): number {
    return this.memoryUsed;
  }

  /** Compiles a script's body; its function stays in the state until release(ref). */
  compile(source: Uint8Array): CompileOutcome {
    const { m, G } = this;
    const base = m._lua_gettop(G);
    try {
      m._lua_rawgeti(G, LUA_REGISTRYINDEX, BigInt(this.compileRef));
      // KEYS and ARGV are the chunk's arguments, declared on the script's first line.
      this.bytes.push(G, Buffer.concat([PREFIX, source]));
      this.limiting = true;
      const status = m._lua_pcallk(G, 1, 2, 0, 0, 0);
      this.limiting = false;
      if (status !== LUA_OK) return { error: this.textAt(G, -1) };
      if (m._lua_type(G, -2) !== LUA_TFUNCTION) return { error: this.textAt(G, -1) };
      m._lua_settop(G, -2);
      return { ref: m._luaL_ref(G, LUA_REGISTRYINDEX) };
    } catch (err) {
      this.fail();
      throw err;
    } finally {
      this.limiting = false;
      if (!this.broken) m._lua_settop(G, base);
    }
  }

  release(ref: number): void {
    if (!this.broken) this.m._luaL_unref(this.G, LUA_REGISTRYINDEX, ref);
  }

  /** Runs a compiled script with its KEYS and ARGV. */
  async run(ref: number, keys: readonly Uint8Array[], argv: readonly Uint8Array[], run: ScriptRun): Promise<RunOutcome> {
    const { m, G } = this;
    const T = m._lua_newthread(G);
    const threadRef = m._luaL_ref(G, LUA_REGISTRYINDEX);
    try {
      m._lua_sethook(T, this.hook, LUA_MASKCOUNT, HOOK_EVERY_INSTRUCTIONS);
      m._lua_rawgeti(T, LUA_REGISTRYINDEX, BigInt(this.runRef));
      m._lua_rawgeti(T, LUA_REGISTRYINDEX, BigInt(ref));
      this.pushArray(T, keys);
      this.pushArray(T, argv);
      let nargs = 3;
      for (;;) {
        const { status, results } = this.resume(T, nargs, run);
        if (status === LUA_YIELD) {
          if (results === 0) return run.killed ? { kind: 'killed' } : { kind: 'timeout' }; // the hook yielded
          m._lua_settop(T, -results - 1);
          const started = this.pending;
          this.pending = undefined;
          // Only redis.call yields values to the engine (the prelude's coroutine.yield refuses the run's own coroutine).
          if (started === undefined) return { kind: 'error', message: 'ERR the script yielded outside redis.call', line: undefined };
          let reply: Reply;
          try {
            reply = await started;
          } catch (err) {
            reply = errorReply(err);
          }
          if (this.broken) throw new Error('the Lua engine failed while the script waited');
          if (run.killed) return { kind: 'killed' };
          if (Date.now() > run.deadline) return { kind: 'timeout' };
          this.pushReply(T, reply, 0);
          m._lua_pushboolean(T, reply instanceof ReplyError ? 1 : 0);
          nargs = 2;
          continue;
        }
        // run() in the prelude catches the script's errors: another status is a memory error of its own.
        if (status !== LUA_OK) return { kind: 'error', message: `ERR ${this.textAt(T, -1)}`, line: undefined };
        const at = m._lua_gettop(T) - results + 1;
        if (m._lua_toboolean(T, at) !== 0) return { kind: 'reply', reply: this.toReply(T, at + 1, 0) };
        const line = m._lua_type(T, at + 2) === LUA_TNUMBER ? m._lua_tonumberx(T, at + 2, 0) : undefined;
        const fromReply = m._lua_toboolean(T, at + 3) !== 0;
        return { kind: 'error', message: fromReply ? this.textAt(T, at + 1) : this.errorText(T, at + 1), line };
      }
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('the Lua engine failed'))) this.fail();
      throw err;
    } finally {
      if (!this.broken) {
        m._lua_sethook(T, 0, 0, 0);
        m._luaL_unref(G, LUA_REGISTRYINDEX, threadRef); // the collector frees the coroutine
      }
    }
  }

  private fail(): void {
    this.broken = true;
    this.current = undefined;
    this.limiting = false;
  }

  private resume(T: number, nargs: number, run: ScriptRun): { status: number; results: number } {
    const m = this.m;
    this.current = run;
    this.pending = undefined;
    this.limiting = true;
    try {
      const status = m._lua_resume(T, 0, nargs, this.bytes.word);
      return { status, results: this.bytes.wordValue };
    } finally {
      this.limiting = false;
      this.current = undefined;
    }
  }

  // --- C functions and the hook (called from Lua: they must not throw, but for longjmps) ---

  private onHook(L: number): void {
    const run = this.current;
    if (run === undefined || (!run.killed && Date.now() <= run.deadline)) return;
    const m = this.m;
    if (m._lua_isyieldable(L) !== 0) {
      m._lua_yieldk(L, 0, 0, 0);
      return;
    }
    // Inside a call from C (a metamethod, a sort comparator): an error, until it can yield.
    this.bytes.push(L, Buffer.from(run.killed ? 'ERR Script killed by user with SCRIPT KILL' : 'ERR Script exceeded the time limit'));
    m._lua_error(L);
  }

  /** ringkv_call(...): nil once the command started, else the error text for redis.call to raise. */
  private onCall(L: number): number {
    const m = this.m;
    const n = m._lua_gettop(L);
    if (n === 0) return this.pushMessage(L, 'ERR Please specify at least one argument for this redis lib call');
    const args: Buffer[] = [];
    for (let i = 1; i <= n; i++) {
      const type = m._lua_type(L, i);
      if (type === LUA_TSTRING) args.push(this.bytes.at(L, i));
      else if (type === LUA_TNUMBER) args.push(Buffer.from(formatLuaNumber(m._lua_tonumberx(L, i, 0)), 'latin1'));
      else return this.pushMessage(L, 'ERR Lua redis lib command arguments must be strings or integers');
    }
    const run = this.current;
    if (run === undefined) return this.pushMessage(L, 'ERR redis.call outside a script run');
    // Inside a call from C (a sort comparator, a gsub callback) the script could not wait for
    // the reply: refuse before the command starts, so nothing runs unawaited.
    if (m._lua_isyieldable(L) === 0) return this.pushMessage(L, 'ERR redis.call cannot wait for its reply here (inside a function called from C, such as a table.sort comparator)');
    try {
      const started = run.call(args);
      if (started instanceof Promise) started.catch(() => {}); // awaited by run(); never an unhandled rejection
      this.pending = started;
    } catch (err) {
      if (typeof err === 'number') throw err; // a longjmp of the C code: let it through
      this.pending = errorReply(err);
    }
    return 0;
  }

  private onSha1(L: number): number {
    const hex = createHash('sha1').update(this.bytes.at(L, 1)).digest('hex');
    return this.pushMessage(L, hex);
  }

  private pushMessage(L: number, text: string): number {
    this.bytes.push(L, Buffer.from(text));
    return 1;
  }

  // --- values between Lua and replies ---

  private textAt(L: number, idx: number): string {
    const type = this.m._lua_type(L, idx);
    return type === LUA_TSTRING || type === LUA_TNUMBER ? this.bytes.at(L, idx).toString('utf8') : 'unknown error';
  }

  /** The text of an error the script raised: a table's err field as it is, a string after 'ERR '. */
  private errorText(L: number, idx: number): string {
    const m = this.m;
    const type = m._lua_type(L, idx);
    if (type === LUA_TTABLE) {
      m._lua_pushstring(L, this.errKey);
      const t = m._lua_rawget(L, idx);
      const text = t === LUA_TSTRING ? this.bytes.at(L, -1).toString('utf8') : undefined;
      m._lua_settop(L, -2);
      if (text !== undefined) return text;
    }
    if (type === LUA_TSTRING || type === LUA_TNUMBER) return `ERR ${this.bytes.at(L, idx).toString('utf8')}`;
    return 'ERR unknown error';
  }

  private toReply(L: number, index: number, depth: number): Reply {
    const m = this.m;
    const idx = m._lua_absindex(L, index);
    switch (m._lua_type(L, idx)) {
      case LUA_TNUMBER:
        return luaNumberToInteger(m._lua_tonumberx(L, idx, 0));
      case LUA_TSTRING:
        return this.bytes.at(L, idx);
      case LUA_TBOOLEAN:
        return m._lua_toboolean(L, idx) !== 0 ? 1 : null;
      case LUA_TTABLE: {
        if (depth >= MAX_REPLY_DEPTH || m._lua_checkstack(L, 4) === 0) return new ReplyError('ERR', 'reached lua stack limit');
        for (const [key, make] of [
          [this.errKey, (b: Buffer): Reply => new ScriptErrorReply(b.toString('utf8'))],
          [this.okKey, (b: Buffer): Reply => new Simple(b.toString('latin1').replace(/[\r\n]+/g, ' '))],
        ] as const) {
          m._lua_pushstring(L, key);
          const t = m._lua_rawget(L, idx);
          const field = t === LUA_TSTRING ? this.bytes.at(L, -1) : undefined;
          m._lua_settop(L, -2);
          if (field !== undefined) return make(field);
        }
        const items: Reply[] = [];
        for (let i = 1; ; i++) {
          const t = m._lua_rawgeti(L, idx, BigInt(i));
          if (t === LUA_TNIL) {
            m._lua_settop(L, -2);
            break;
          }
          const item = this.toReply(L, -1, depth + 1);
          m._lua_settop(L, -2);
          if (item instanceof ReplyError && item.message === 'reached lua stack limit') return item;
          items.push(item);
        }
        return items;
      }
      default:
        return null;
    }
  }

  private pushArray(L: number, items: readonly Uint8Array[]): void {
    const m = this.m;
    m._lua_createtable(L, items.length, 0);
    for (let i = 0; i < items.length; i++) {
      this.bytes.push(L, items[i]!);
      m._lua_rawseti(L, -2, BigInt(i + 1));
    }
  }

  /** Pushes a command's reply as Redis hands it to Lua: nil -> false, status -> {ok}, error -> {err}. */
  private pushReply(L: number, reply: Reply, depth: number): void {
    const m = this.m;
    m._lua_checkstack(L, 4);
    if (typeof reply === 'number' || typeof reply === 'bigint') m._lua_pushinteger(L, BigInt(reply));
    else if (typeof reply === 'string') this.bytes.push(L, Buffer.from(reply));
    else if (reply === null) m._lua_pushboolean(L, 0);
    else if (reply instanceof Uint8Array) this.bytes.push(L, reply);
    else if (reply instanceof Simple || reply instanceof ReplyError) {
      m._lua_createtable(L, 0, 1);
      this.bytes.push(L, Buffer.from(reply instanceof Simple ? reply.text : reply.line));
      m._lua_setfield(L, -2, reply instanceof Simple ? this.okKey : this.errKey);
    } else if (reply instanceof RespMap || Array.isArray(reply)) {
      const items: readonly Reply[] = reply instanceof RespMap ? reply.entries : reply;
      m._lua_createtable(L, items.length, 0);
      for (let i = 0; i < items.length; i++) {
        this.pushReply(L, items[i]!, depth + 1);
        m._lua_rawseti(L, -2, BigInt(i + 1));
      }
    } else {
      m._lua_pushboolean(L, 0);
    }
  }
}

const PREFIX = Buffer.from('local KEYS, ARGV = ...; ');
