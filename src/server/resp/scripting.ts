// Runs on: the main thread. Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and
// SCRIPT LOAD / EXISTS / FLUSH / KILL, with Redis's replies and error strings.
//
// - Atomicity: EVAL is a write on the keys it declares (numkeys, KEYS): execute() waits for
//   this server's writes in flight on them and holds them until the script ends, so no other
//   command of this server on those keys runs in between (EVAL_RO: a read of them). Keys a
//   script touches without declaring them are not protected, as in Redis Cluster: scripts
//   must declare their keys. As with MULTI/EXEC, this is per server: writes of the same keys
//   through another node are not held off, and a script is not all-or-nothing (each write
//   is its own versioned write; a script stopped half-way keeps what it wrote).
// - redis.call runs the command through the command table (every ringkv command but the
//   few of NOT_IN_SCRIPTS), straight to its handler: the script already holds its keys, so
//   a command inside it takes no key lock of its own (and cannot wait for its own script).
// - Time: a script is stopped once it has run scriptTimeLimitMs (default 5 s, Redis's
//   busy-reply-threshold) since it started, waits for the store included. Its Lua code
//   holds the event loop while it runs between two redis.calls (Redis would answer BUSY to
//   others meanwhile; here they wait), at most until that limit.
// - Scripts are cached by SHA-1 of their body: SCRIPT LOAD's until SCRIPT FLUSH, EVAL's the
//   last MAX_EVAL_SCRIPTS used (as Redis 7.4 evicts EVAL scripts), so a client generating
//   scripts cannot grow the cache without bound. EVALSHA of an evicted one answers
//   NOSCRIPT, on which clients (ioredis, node-redis, redis-py) send EVAL.
// The engine and its conversions are in lua-engine.ts, the Lua side in lua-prelude.ts.
import { createHash } from 'node:crypto';
import { parseInteger, text } from './args.js';
import { arityFits, type CommandSpec, defineCommand } from './command.js';
import { LuaEngine, type RunOutcome, ScriptErrorReply, type ScriptRun } from './lua-engine.js';
import { ErrorPrefix, OK, type Reply, ReplyError, Simple } from './reply.js';
import type { ServerContext, Session } from './session.js';

/** EVAL scripts kept compiled (SCRIPT LOAD's are kept until SCRIPT FLUSH): Redis 7.4's number. */
const MAX_EVAL_SCRIPTS = 500;

/** Commands a script may not call (Redis's `noscript` flag): they change the connection or nest scripts. */
const NOT_IN_SCRIPTS = new Set([
  'multi', 'exec', 'discard', 'watch', 'unwatch', 'eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'script',
  'auth', 'hello', 'quit', 'reset', 'wait', 'client',
]);

export type CommandLookup = (name: Buffer) => CommandSpec | undefined;

function sha1hex(body: Uint8Array): string {
  return createHash('sha1').update(body).digest('hex');
}

function isWrite(spec: CommandSpec): boolean {
  return spec.access === 'write' || spec.flags.some((f) => f.text === 'write');
}

interface Cached {
  body: Buffer;
  /** Loaded by SCRIPT LOAD: never evicted. */
  loaded: boolean;
}

class Run implements ScriptRun {
  killed = false;
  /** The script has called a write command (SCRIPT KILL then refuses, as Redis). */
  wrote = false;
  readonly deadline: number;

  constructor(
    private readonly session: Session,
    private readonly lookup: CommandLookup,
    private readonly readOnly: boolean,
    limitMs: number,
  ) {
    this.deadline = Date.now() + limitMs;
  }

  call(args: Buffer[]): Reply | Promise<Reply> {
    const spec = this.lookup(args[0]!);
    if (spec === undefined) return new ReplyError(ErrorPrefix.ERR, 'Unknown Redis command called from script');
    if (!arityFits(spec, args)) return new ReplyError(ErrorPrefix.ERR, 'Wrong number of args calling Redis command from script');
    if (NOT_IN_SCRIPTS.has(spec.name)) return new ReplyError(ErrorPrefix.ERR, 'This Redis command is not allowed from script');
    if (isWrite(spec)) {
      if (this.readOnly) return new ReplyError(ErrorPrefix.ERR, 'Write commands are not allowed from read-only scripts.');
      this.wrote = true;
      this.session.wrote = true;
    }
    return spec.run(this.session, args);
  }
}

/** The scripts of one server: the cache of bodies, the engine, the runs in progress. */
class Scripts {
  private readonly cache = new Map<string, Cached>();
  private engine: Promise<LuaEngine> | undefined;
  /** Compiled functions of the current engine, by SHA-1. */
  private compiled = new Map<string, number>();
  readonly running = new Set<Run>();
  /** The current engine's memory, kept once it exists (INFO reads it synchronously). */
  private current: LuaEngine | undefined;

  get luaBytes(): number {
    return this.current?.memory ?? 0;
  }

  get cached(): number {
    return this.cache.size;
  }

  body(sha: string): Buffer | undefined {
    const c = this.cache.get(sha);
    if (c === undefined) return undefined;
    this.cache.delete(sha); // most recently used last
    this.cache.set(sha, c);
    return c.body;
  }

  remember(sha: string, body: Buffer, loaded: boolean): void {
    const c = this.cache.get(sha);
    if (c !== undefined) {
      c.loaded ||= loaded;
      this.body(sha); // most recently used
      return;
    }
    this.cache.set(sha, { body: Buffer.from(body), loaded });
    if (loaded) return;
    let kept = 0;
    for (const v of this.cache.values()) if (!v.loaded) kept++;
    for (const [k, v] of this.cache) {
      if (kept <= MAX_EVAL_SCRIPTS) break;
      if (!v.loaded) {
        this.forget(k);
        kept--;
      }
    }
  }

  exists(sha: string): boolean {
    return this.cache.has(sha);
  }

  flush(): void {
    for (const sha of [...this.cache.keys()]) this.forget(sha);
  }

  private forget(sha: string): void {
    this.cache.delete(sha);
    const ref = this.compiled.get(sha);
    if (ref === undefined) return;
    this.compiled.delete(sha);
    void this.engine?.then((e) => e.release(ref));
  }

  /** The engine, made on first use, and again after a fault of the old one. */
  async lua(): Promise<LuaEngine> {
    if (this.engine !== undefined) {
      const e = await this.engine;
      if (!e.broken) return e;
      this.engine = undefined;
      this.compiled = new Map();
    }
    if (this.engine === undefined) {
      const made = LuaEngine.create();
      made.then(
        (e) => {
          this.current = e;
        },
        () => {
          if (this.engine === made) this.engine = undefined; // the next EVAL tries again
        },
      );
      this.engine = made;
    }
    return this.engine;
  }

  /** The script's compiled function in `engine`; a compile error as its reply. */
  functionOf(engine: LuaEngine, sha: string, body: Buffer): number {
    const ref = this.compiled.get(sha);
    if (ref !== undefined) return ref;
    const out = engine.compile(body);
    if ('error' in out) throw new ReplyError(ErrorPrefix.ERR, `Error compiling script (new function): ${out.error}`);
    this.compiled.set(sha, out.ref);
    return out.ref;
  }
}

/** For INFO: bytes of the server's Lua state (0 before the first script) and scripts cached. */
export function scriptStats(server: ServerContext): { luaBytes: number; cached: number } {
  const s = scriptsOfServer.get(server);
  return s === undefined ? { luaBytes: 0, cached: 0 } : { luaBytes: s.luaBytes, cached: s.cached };
}

const scriptsOfServer = new WeakMap<ServerContext, Scripts>();

function scriptsOf(server: ServerContext): Scripts {
  let s = scriptsOfServer.get(server);
  if (s === undefined) scriptsOfServer.set(server, (s = new Scripts()));
  return s;
}

/** numkeys, checked as Redis checks it. */
function numKeys(args: readonly Buffer[]): number {
  const n = parseInteger(args[2]!);
  if (n === null) throw new ReplyError(ErrorPrefix.ERR, 'value is not an integer or out of range');
  if (n > args.length - 3) throw new ReplyError(ErrorPrefix.ERR, "Number of keys can't be greater than number of args");
  if (n < 0) throw new ReplyError(ErrorPrefix.ERR, "Number of keys can't be negative");
  return n;
}

/** The keys EVAL declares (what execute() locks); none when numkeys is bad (the run answers the error). */
function declaredKeys(args: Buffer[]): Buffer[] {
  const n = parseInteger(args[2]!);
  if (n === null || n < 0 || n > args.length - 3) return [];
  return args.slice(3, 3 + n);
}

function noScript(): ReplyError {
  return new ReplyError(ErrorPrefix.NOSCRIPT, 'No matching script. Please use EVAL.');
}

function outcomeReply(outcome: RunOutcome, sha: string, limitMs: number): Reply {
  switch (outcome.kind) {
    case 'reply':
      return outcome.reply;
    case 'error': {
      const where = outcome.line === undefined ? '' : `, on @user_script:${outcome.line}.`;
      return new ScriptErrorReply(`${outcome.message} script: ${sha}${where}`);
    }
    case 'timeout':
      return new ReplyError(
        ErrorPrefix.ERR,
        `Script ran longer than the script time limit (${limitMs} ms) and was stopped; writes it made stay. script: ${sha}`,
      );
    case 'killed':
      return new ReplyError(ErrorPrefix.ERR, 'Script killed by user with SCRIPT KILL...');
  }
}

async function evalScript(s: Session, args: Buffer[], lookup: CommandLookup, bySha: boolean, readOnly: boolean): Promise<Reply> {
  const n = numKeys(args);
  const scripts = scriptsOf(s.server);
  let sha: string;
  let body: Buffer;
  if (bySha) {
    sha = text(args[1]!).toLowerCase();
    const known = scripts.body(sha);
    if (known === undefined) throw noScript();
    body = known;
  } else {
    body = args[1]!;
    sha = sha1hex(body);
  }
  const engine = await scripts.lua();
  const ref = scripts.functionOf(engine, sha, body);
  if (!bySha) scripts.remember(sha, body, false);
  const limitMs = s.server.options.scriptTimeLimitMs;
  const run = new Run(s, lookup, readOnly, limitMs);
  scripts.running.add(run);
  try {
    return outcomeReply(await engine.run(ref, args.slice(3, 3 + n), args.slice(3 + n), run), sha, limitMs);
  } finally {
    scripts.running.delete(run);
  }
}

const SCRIPT_HELP = [
  'SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'EXISTS <sha1> [<sha1> ...]',
  '    Return information about the existence of the scripts in the script cache.',
  'FLUSH [ASYNC|SYNC]',
  '    Flush the Lua scripts cache.',
  'KILL',
  '    Kill the currently executing Lua script (one waiting for the store; ringkv).',
  'LOAD <script>',
  '    Load a script into the scripts cache without executing it.',
  'HELP',
  '    Print this help.',
].map((line) => new Simple(line));

function wrongSubArity(sub: string): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, `wrong number of arguments for 'script|${sub}' command`);
}

async function scriptCommand(s: Session, args: Buffer[]): Promise<Reply> {
  const sub = text(args[1]!).toLowerCase();
  const scripts = scriptsOf(s.server);
  switch (sub) {
    case 'load': {
      if (args.length !== 3) throw wrongSubArity(sub);
      const body = args[2]!;
      const sha = sha1hex(body);
      scripts.functionOf(await scripts.lua(), sha, body);
      scripts.remember(sha, body, true);
      return sha;
    }
    case 'exists':
      if (args.length < 3) throw wrongSubArity(sub);
      return args.slice(2).map((a) => (scripts.exists(text(a).toLowerCase()) ? 1 : 0));
    case 'flush':
      if (args.length > 3) throw wrongSubArity(sub);
      if (args.length === 3 && !['async', 'sync'].includes(text(args[2]!).toLowerCase())) {
        throw new ReplyError(ErrorPrefix.ERR, 'SCRIPT FLUSH only support SYNC|ASYNC option');
      }
      scripts.flush();
      return OK;
    case 'kill': {
      if (args.length !== 2) throw wrongSubArity(sub);
      if (scripts.running.size === 0) return new ReplyError(ErrorPrefix.NOTBUSY, 'No scripts in execution right now.');
      if ([...scripts.running].some((r) => r.wrote)) {
        return new ReplyError(
          ErrorPrefix.UNKILLABLE,
          'Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.',
        );
      }
      for (const r of scripts.running) r.killed = true;
      return OK;
    }
    case 'help':
      return SCRIPT_HELP;
    default:
      return new ReplyError(ErrorPrefix.ERR, `unknown subcommand '${text(args[1]!.subarray(0, 64))}'. Try SCRIPT HELP.`);
  }
}

/** The scripting commands; `lookup` is the command table redis.call runs through. */
export function scriptingCommands(lookup: CommandLookup): CommandSpec[] {
  const evalFlags = ['noscript', 'skip_monitor', 'may_replicate', 'no_mandatory_keys', 'movablekeys'];
  const roFlags = ['noscript', 'skip_monitor', 'no_mandatory_keys', 'movablekeys', 'readonly'];
  return [
    defineCommand('eval', { arity: -3, flags: evalFlags, keysOf: declaredKeys, access: 'write', run: (s, a) => evalScript(s, a, lookup, false, false) }),
    defineCommand('evalsha', { arity: -3, flags: evalFlags, keysOf: declaredKeys, access: 'write', run: (s, a) => evalScript(s, a, lookup, true, false) }),
    defineCommand('eval_ro', { arity: -3, flags: roFlags, keysOf: declaredKeys, access: 'read', run: (s, a) => evalScript(s, a, lookup, false, true) }),
    defineCommand('evalsha_ro', { arity: -3, flags: roFlags, keysOf: declaredKeys, access: 'read', run: (s, a) => evalScript(s, a, lookup, true, true) }),
    defineCommand('script', { arity: -2, flags: ['noscript'], run: scriptCommand }),
  ];
}
