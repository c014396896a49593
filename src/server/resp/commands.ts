// Runs on: the main thread. The command table, and how a command is run: after the writes
// in flight on its keys (KeyLocks), concurrently with everything else.
//
// COMMAND, COMMAND COUNT, COMMAND INFO and COMMAND LIST describe the table; COMMAND DOCS
// answers an error on purpose: redis-cli then falls back to its built-in help (an empty
// reply would switch its help off).
import { ByteTable, keyString, text } from './args.js';
import { type CommandSpec, defineCommand } from './command.js';
import { connectionCommands } from './connection-commands.js';
import { keyspaceCommands } from './keyspace-commands.js';
import { kvCommands } from './kv-commands.js';
import { ErrorPrefix, type Reply, ReplyError } from './reply.js';
import { scriptingCommands } from './scripting.js';
import { serverCommands } from './server-commands.js';
import { stringCommands } from './string-commands.js';
import type { Session } from './session.js';
import { transactionCommands, transactionOf } from './transaction.js';
import type { BlindRun } from './key-locks.js';
import { versionCommands } from './version-commands.js';

/** The reply of COMMAND (INFO) for one command, in Redis 7's shape. */
function describe(c: CommandSpec): Reply {
  return [c.name, c.arity, c.flags, c.firstKey, c.lastKey, c.step, [], [], [], []];
}

function commandCommand(_s: Session, args: Buffer[]): Reply {
  if (args.length === 1) return ALL.map(describe);
  const sub = text(args[1]!).toLowerCase();
  if (sub === 'count' && args.length === 2) return ALL.length;
  if (sub === 'list' && args.length === 2) return ALL.map((c) => c.name);
  if (sub === 'info') {
    const names = args.length === 2 ? ALL.map((c) => c.name) : args.slice(2).map((a) => text(a).toLowerCase());
    return names.map((n) => {
      const c = TABLE.get(n);
      return c === undefined ? null : describe(c);
    });
  }
  if (sub === 'docs') return new ReplyError(ErrorPrefix.ERR, 'COMMAND DOCS is not supported by ringkv');
  return new ReplyError(ErrorPrefix.ERR, `unknown subcommand or wrong number of arguments for '${sub}'. Try COMMAND INFO.`);
}

const ALL: readonly CommandSpec[] = [
  ...connectionCommands,
  ...kvCommands,
  ...stringCommands,
  ...keyspaceCommands,
  ...versionCommands,
  ...serverCommands,
  ...transactionCommands,
  ...scriptingCommands(lookupCommand),
  defineCommand('command', { arity: -1, flags: [], run: commandCommand }),
];

/** Every command by lower-case name, and by upper-case name (what clients send) for a lookup without toLowerCase. */
const TABLE = new Map<string, CommandSpec>();
/**
 * The same names as bytes: the parser hands a command name found here as the table's own
 * Buffer (no view, no string), and lookupCommand takes it back by identity.
 */
export const commandNames = new ByteTable<CommandSpec>();
for (const c of ALL) {
  TABLE.set(c.name, c);
  TABLE.set(c.name.toUpperCase(), c);
  commandNames.add(c.name, c);
  commandNames.add(c.name.toUpperCase(), c);
}

export function lookupCommand(name: Buffer): CommandSpec | undefined {
  const named = commandNames.valueOf(name);
  if (named !== undefined) return named;
  if (name.length > 32) return undefined;
  const s = keyString(name);
  return TABLE.get(s) ?? TABLE.get(s.toLowerCase());
}

/** The reply to an unknown command; it spoils `s`'s open transaction (EXEC answers EXECABORT). */
export function unknownCommand(args: readonly Buffer[], s?: Session): ReplyError {
  if (s?.inMulti) transactionOf(s).refuse();
  const shown = args
    .slice(1, 6)
    .map((a) => `'${text(a.subarray(0, 64))}'`)
    .join(' ');
  return new ReplyError(ErrorPrefix.ERR, `unknown command '${text(args[0]!.subarray(0, 64))}', with args beginning with: ${shown}`);
}

/** The reply to a wrong number of arguments; it spoils `s`'s open transaction. */
export function wrongArity(spec: CommandSpec, s?: Session): ReplyError {
  if (s?.inMulti) transactionOf(s).refuse();
  return new ReplyError(ErrorPrefix.ERR, `wrong number of arguments for '${spec.name}' command`);
}

function keyIndexes(spec: CommandSpec, args: readonly Buffer[]): { first: number; last: number } {
  return { first: spec.firstKey, last: spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey };
}

/**
 * Runs a command whose arity and authentication were checked. Commands on keys with a
 * write of this server in flight start after it; a write becomes its keys' tail (a blind
 * write that started at once joins the tail instead: KeyLocks). May
 * throw (a synchronous ReplyError): the caller turns that into the reply. Inside MULTI, a
 * command queues instead (transaction.ts).
 */
export function execute(spec: CommandSpec, s: Session, args: Buffer[]): Reply | Promise<Reply> {
  if (s.inMulti && transactionOf(s).queues(spec)) return transactionOf(s).queue(spec, args);
  if (spec.access === 'none') return spec.run(s, args);
  if (spec.access === 'write') s.wrote = true;
  const locks = s.server.locks;
  if (spec.access === 'read' && locks.idle) return spec.run(s, args);
  const blind = spec.blind !== undefined && spec.blind(s, args);
  const run = (): Reply | Promise<Reply> => spec.run(s, args);
  if (spec.keysOf === undefined && spec.firstKey === spec.lastKey) {
    const key = keyString(args[spec.firstKey]!);
    const tail = blind ? locks.blindTail(key) : locks.tail(key);
    const op = tail === undefined ? run() : tail.then(run, run);
    if (op instanceof Promise) {
      // A blind write that waited, or a read that waited, is not ordered by the queue behind
      // it: later blind writes wait for it (else they would overtake it).
      if (blind && tail === undefined) locks.holdBlind(key, op);
      else if (spec.access === 'write' || tail !== undefined) locks.hold(key, op);
    }
    return op;
  }
  const keys: string[] = [];
  if (spec.keysOf !== undefined) {
    for (const k of spec.keysOf(args)) keys.push(keyString(k));
  } else {
    const { first, last } = keyIndexes(spec, args);
    for (let i = first; i <= last; i += spec.step) keys.push(keyString(args[i]!));
  }
  const tails: Promise<unknown>[] = [];
  for (const key of keys) {
    const tail = blind ? locks.blindTail(key) : locks.tail(key);
    if (tail !== undefined) tails.push(tail);
  }
  const op = tails.length === 0 ? run() : Promise.allSettled(tails).then(run);
  if (op instanceof Promise) {
    if (blind && tails.length === 0) for (const key of keys) locks.holdBlind(key, op);
    else if (spec.access === 'write' || tails.length > 0) for (const key of keys) locks.hold(key, op);
  }
  return op;
}


/**
 * The key of a fastRead command (GET) that may run now without a promise: outside MULTI,
 * with no write of this server in flight on its key (what execute() would run at once).
 * undefined: run it through execute().
 */
export function fastReadKey(spec: CommandSpec, s: Session, args: Buffer[]): Buffer | undefined {
  if (spec.fastRead === undefined || s.inMulti) return undefined;
  const key = args[spec.firstKey]!;
  const locks = s.server.locks;
  if (!locks.idle && locks.tail(keyString(key)) !== undefined) return undefined;
  return key;
}

/**
 * A fastPut command (plain SET) that may run now without a promise: outside MULTI, with only
 * such writes in flight on its key. The blind run it joined (call run.end() once it
 * settled), or undefined: run it through execute().
 */
export function fastPutRun(spec: CommandSpec, s: Session, args: Buffer[]): BlindRun | undefined {
  if (spec.fastPut === undefined || s.inMulti || !spec.fastPut(s, args)) return undefined;
  const run = s.server.locks.startBlind(keyString(args[spec.firstKey]!));
  if (run !== undefined) s.wrote = true;
  return run;
}

/** Every command (COMMAND's list; tests). */
export const commandTable: readonly CommandSpec[] = ALL;
