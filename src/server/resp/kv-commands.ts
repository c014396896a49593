// Runs on: the main thread. The Redis string commands over the versioned store.
//
// Semantics (what a Redis client can count on, and where a Dynamo store differs):
//
// - GET/MGET answer the value. A key with several concurrent values (siblings) answers
//   `-CONFLICT key '...' has N concurrent values: use VGET ...`, unless the server runs
//   with `lww`, where the last value in the store's (dot) order is answered.
// - SET replaces whatever the key holds, siblings included: one write with the store's
//   `overwrite`, which supersedes every value the coordinating replica holds (see replace()).
//   NX/XX (and GET) read first and add the read's context. The read and the write are not
//   one atomic step: a write to the same key through another coordinator in between is kept
//   as a concurrent value (a sibling), never lost. Through this server, SET, NX/XX, INCR and
//   EXPIRE of one key are ordered by KeyLocks, so NX is a reliable "create" only when all
//   writers of the key go through this one server.
// - INCR/DECR/INCRBY/DECRBY read, parse a 64-bit integer, and write back with the read's
//   context. A key with siblings answers CONFLICT (picking one would lose increments). Two
//   servers incrementing one key concurrently make siblings; the next INCR says CONFLICT.
// - EXPIRE/PEXPIRE rewrite the value with a TTL (a new version); a non-positive TTL deletes.
//   TTL/PTTL answer -2 for a missing key and the remaining time when the store reports the
//   value's expiry, else -1 (see expiry.ts). INCR keeps a TTL only when the store reports it.
// - DEL/UNLINK/EXISTS count existing keys; DEL reads each key and deletes what it read
//   (its context), so a concurrent write is kept, not deleted blind.
// - MSET writes each key as its own versioned write (not atomic across keys).
import type { ReadResult, Store } from '../../index.js';
import { integerReply, isInt64, isWord, keyString, parseInt64, parseInteger } from './args.js';
import { defineCommand, type CommandSpec } from './command.js';
import { remainingMs } from './expiry.js';
import { conflict, ErrorPrefix, notInteger, OK, type Reply, ReplyError, syntaxError } from './reply.js';
import type { Session } from './session.js';

function storeOf(s: Session): Store {
  return s.server.store;
}

/** The one value a GET-like command answers: null when absent; CONFLICT for siblings (unless lww). */
function oneValue(s: Session, key: Uint8Array, read: ReadResult | undefined): Uint8Array | null {
  const stats = s.server.stats;
  if (read === undefined || read.values.length === 0) {
    stats.keyspaceMisses++;
    return null;
  }
  stats.keyspaceHits++;
  const values = read.values;
  if (values.length === 1 || s.server.options.lww) return values[values.length - 1]!;
  stats.conflicts++;
  throw conflict(key, values.length);
}

/** The read's single value for a read-modify-write; CONFLICT when there are siblings. */
function onlyValue(s: Session, key: Uint8Array, read: ReadResult): Uint8Array {
  if (read.values.length === 1 || s.server.options.lww) return read.values[read.values.length - 1]!;
  s.server.stats.conflicts++;
  throw conflict(key, read.values.length);
}

/**
 * Writes `value` over whatever the key holds (SET's replace): one write with the store's
 * `overwrite`, which supersedes every value the coordinating replica has. `read`, when the
 * caller read the key first (NX/XX/GET), adds its context.
 */
function replace(s: Session, key: Uint8Array, value: Uint8Array, read: ReadResult | undefined, ttlMs?: number): Promise<unknown> {
  return storeOf(s).put(key, value, { ...s.writeOptions, context: read?.context, ttlMs, overwrite: true });
}

async function get(s: Session, args: Buffer[]): Promise<Reply> {
  const key = args[1]!;
  return oneValue(s, key, await storeOf(s).get(key, s.readOptions));
}

interface SetOptions {
  ttlMs: number | undefined;
  nx: boolean;
  xx: boolean;
  get: boolean;
}

function invalidExpire(command: string): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, `invalid expire time in '${command}' command`);
}

/** SET's options after key and value: EX s | PX ms | EXAT s | PXAT ms, NX | XX, GET. */
function setOptions(args: Buffer[], now: number): SetOptions {
  const o: SetOptions = { ttlMs: undefined, nx: false, xx: false, get: false };
  let expiry = false;
  for (let i = 3; i < args.length; i++) {
    const a = args[i]!;
    if (isWord(a, 'nx') && !o.xx) o.nx = true;
    else if (isWord(a, 'xx') && !o.nx) o.xx = true;
    else if (isWord(a, 'get')) o.get = true;
    else if (isWord(a, 'keepttl')) throw new ReplyError(ErrorPrefix.ERR, 'SET KEEPTTL is not supported (the store does not report expiry yet)');
    else if (!expiry && i + 1 < args.length && (isWord(a, 'ex') || isWord(a, 'px') || isWord(a, 'exat') || isWord(a, 'pxat'))) {
      const n = parseInteger(args[++i]!);
      if (n === null) throw notInteger();
      const seconds = isWord(a, 'ex') || isWord(a, 'exat');
      const ms = seconds ? n * 1000 : n;
      const ttl = isWord(a, 'ex') || isWord(a, 'px') ? ms : ms - now;
      if (n <= 0 || !Number.isSafeInteger(ms)) throw invalidExpire('set');
      // An absolute time already past: Redis stores and expires at once; here the key is deleted.
      o.ttlMs = Math.max(0, ttl);
      expiry = true;
    } else {
      throw syntaxError();
    }
  }
  return o;
}

async function set(s: Session, args: Buffer[]): Promise<Reply> {
  const o = setOptions(args, Date.now());
  const key = args[1]!;
  const store = storeOf(s);
  if (!o.nx && !o.xx && !o.get && o.ttlMs !== 0) {
    await replace(s, key, args[2]!, undefined, o.ttlMs); // plain SET: one write, no read
    return OK;
  }
  const read = await store.get(key, s.readOptions);
  const old = o.get ? oneValue(s, key, read) : null;
  const exists = read !== undefined;
  if ((o.nx && exists) || (o.xx && !exists)) return o.get ? old : null;
  if (o.ttlMs === 0) {
    if (exists) await store.delete(key, { ...s.writeOptions, context: read.context });
  } else {
    await replace(s, key, args[2]!, read, o.ttlMs);
  }
  return o.get ? old : OK;
}

/** Distinct keys of args[from..], by bytes (DEL a a deletes and counts a once, as Redis). */
function distinctKeys(args: Buffer[], from: number, step = 1): Buffer[] {
  if (args.length - from <= step) return args.slice(from, from + 1);
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (let i = from; i < args.length; i += step) {
    const k = keyString(args[i]!);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(args[i]!);
    }
  }
  return out;
}

async function del(s: Session, args: Buffer[]): Promise<Reply> {
  const store = storeOf(s);
  const keys = distinctKeys(args, 1);
  const reads = await store.getMany(keys, s.readOptions);
  const deletes: Promise<unknown>[] = [];
  for (let i = 0; i < keys.length; i++) {
    const read = reads[i];
    if (read !== undefined) deletes.push(store.delete(keys[i]!, { ...s.writeOptions, context: read.context }));
  }
  await Promise.all(deletes);
  return deletes.length;
}

async function exists(s: Session, args: Buffer[]): Promise<Reply> {
  const reads = await storeOf(s).getMany(args.slice(1), s.readOptions);
  let n = 0;
  for (const r of reads) if (r !== undefined) n++;
  return n;
}

async function mget(s: Session, args: Buffer[]): Promise<Reply> {
  const keys = args.slice(1);
  const reads = await storeOf(s).getMany(keys, s.readOptions);
  const out = new Array<Reply>(keys.length);
  for (let i = 0; i < keys.length; i++) out[i] = oneValue(s, keys[i]!, reads[i]);
  return out;
}

async function mset(s: Session, args: Buffer[]): Promise<Reply> {
  if ((args.length - 1) % 2 !== 0) throw new ReplyError(ErrorPrefix.ERR, `wrong number of arguments for '${keyString(args[0]!).toLowerCase()}' command`);
  // The last value of a key given twice wins, as in Redis (and no sibling of itself is made).
  const last = new Map<string, number>();
  for (let i = 1; i < args.length; i += 2) last.set(keyString(args[i]!), i);
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  for (const i of last.values()) {
    keys.push(args[i]!);
    values.push(args[i + 1]!);
  }
  const writes = new Array<Promise<unknown>>(keys.length);
  for (let i = 0; i < keys.length; i++) writes[i] = replace(s, keys[i]!, values[i]!, undefined);
  await Promise.all(writes);
  return OK;
}

async function incrBy(s: Session, key: Buffer, delta: bigint): Promise<Reply> {
  const store = storeOf(s);
  const read = await store.get(key, s.readOptions);
  let current = 0n;
  let ttlMs: number | undefined;
  if (read !== undefined) {
    const n = parseInt64(onlyValue(s, key, read));
    if (n === null) throw notInteger();
    current = n;
    ttlMs = remainingMs(read, Date.now());
  }
  const next = current + delta;
  if (!isInt64(next)) throw new ReplyError(ErrorPrefix.ERR, 'increment or decrement would overflow');
  await store.put(key, next.toString(), { ...s.writeOptions, context: read?.context, ttlMs });
  return integerReply(next);
}

function deltaArg(arg: Buffer): bigint {
  const d = parseInt64(arg);
  if (d === null) throw notInteger();
  return d;
}

async function expire(s: Session, args: Buffer[], unitMs: number, command: string): Promise<Reply> {
  if (args.length > 3) throw new ReplyError(ErrorPrefix.ERR, `${command.toUpperCase()} options (NX, XX, GT, LT) are not supported`);
  const n = parseInteger(args[2]!);
  if (n === null) throw notInteger();
  const ttlMs = n * unitMs;
  if (!Number.isSafeInteger(ttlMs)) throw invalidExpire(command);
  const key = args[1]!;
  const store = storeOf(s);
  const read = await store.get(key, s.readOptions);
  if (read === undefined) return 0;
  const value = onlyValue(s, key, read);
  const opts = { ...s.writeOptions, context: read.context };
  if (ttlMs <= 0) await store.delete(key, opts);
  else await store.put(key, value, { ...opts, ttlMs });
  return 1;
}

async function ttl(s: Session, key: Buffer, unitMs: number): Promise<Reply> {
  const read = await storeOf(s).get(key, s.readOptions);
  if (read === undefined) return -2;
  const left = remainingMs(read, Date.now());
  return left === undefined ? -1 : Math.round(left / unitMs);
}

async function type(s: Session, args: Buffer[]): Promise<Reply> {
  const read = await storeOf(s).get(args[1]!, s.readOptions);
  return read === undefined ? 'none' : 'string';
}

const ONE: readonly [number, number, number] = [1, 1, 1];
const ALL: readonly [number, number, number] = [1, -1, 1];

export const kvCommands: readonly CommandSpec[] = [
  defineCommand('get', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: get }),
  defineCommand('set', { arity: -3, flags: ['write', 'denyoom'], keys: ONE, access: 'write', run: set }),
  defineCommand('del', { arity: -2, flags: ['write'], keys: ALL, access: 'write', run: del }),
  defineCommand('unlink', { arity: -2, flags: ['write', 'fast'], keys: ALL, access: 'write', run: del }),
  defineCommand('exists', { arity: -2, flags: ['readonly', 'fast'], keys: ALL, run: exists }),
  defineCommand('mget', { arity: -2, flags: ['readonly', 'fast'], keys: ALL, run: mget }),
  defineCommand('mset', { arity: -3, flags: ['write', 'denyoom'], keys: [1, -1, 2], access: 'write', run: mset }),
  defineCommand('incr', { arity: 2, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: (s, a) => incrBy(s, a[1]!, 1n) }),
  defineCommand('decr', { arity: 2, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: (s, a) => incrBy(s, a[1]!, -1n) }),
  defineCommand('incrby', { arity: 3, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: (s, a) => incrBy(s, a[1]!, deltaArg(a[2]!)) }),
  defineCommand('decrby', { arity: 3, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: (s, a) => incrBy(s, a[1]!, -deltaArg(a[2]!)) }),
  defineCommand('expire', { arity: -3, flags: ['write', 'fast'], keys: ONE, access: 'write', run: (s, a) => expire(s, a, 1000, 'expire') }),
  defineCommand('pexpire', { arity: -3, flags: ['write', 'fast'], keys: ONE, access: 'write', run: (s, a) => expire(s, a, 1, 'pexpire') }),
  defineCommand('ttl', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: (s, a) => ttl(s, a[1]!, 1000) }),
  defineCommand('pttl', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: (s, a) => ttl(s, a[1]!, 1) }),
  defineCommand('type', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: type }),
];
