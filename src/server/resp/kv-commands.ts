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
//   EXPIRE of one key are ordered by KeyLocks (plain SET and INCR as blind writes: they do
//   not wait for each other), so NX is a reliable "create" only when all writers of the key
//   go through this one server.
// - INCR/DECR/INCRBY/DECRBY are one request: the key's coordinating replica parses the
//   64-bit integer it holds, adds and versions the sum in one step (src/shard/increment.ts),
//   so increments need no read first and are atomic across servers too; a hot counter costs
//   what a cold one does. A key with siblings answers CONFLICT (picking one would lose
//   increments). An increment that times out is not retried on another replica (it may have
//   been applied): the client gets the error, as after a Redis timeout. With `lww` they
//   read and write back instead.
// - EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT [NX|XX|GT|LT] rewrite the value with its new expiry
//   (a new version, the store's expiresAt); a time already past deletes. The expiry is the
//   value's own in the store (replicated with it), so TTL/PTTL/EXPIRETIME/PEXPIRETIME read it
//   back (-2 missing, -1 none), and INCR and SET KEEPTTL keep it exactly.
// - DEL/UNLINK/EXISTS count existing keys; DEL reads each key and deletes what it read
//   (its context), so a concurrent write is kept, not deleted blind.
// - MSET writes each key as its own versioned write (not atomic across keys).
import { ErrorCode, RingkvError, type ReadResult, type Store } from '../../index.js';
import { integerReply, isInt64, isWord, keyString, parseInt64, parseInteger, text } from './args.js';
import { defineCommand, type CommandSpec } from './command.js';
import { expiresAtOf, keptExpiry, remainingMs } from './expiry.js';
import { conflict, ErrorPrefix, notInteger, OK, type Reply, ReplyError, syntaxError } from './reply.js';
import type { Session } from './session.js';

export function storeOf(s: Session): Store {
  return s.server.store;
}

/** The one value a GET-like command answers: null when absent; CONFLICT for siblings (unless lww). */
export function oneValue(s: Session, key: Uint8Array, read: ReadResult | undefined): Uint8Array | null {
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
export function onlyValue(s: Session, key: Uint8Array, read: ReadResult): Uint8Array {
  if (read.values.length === 1 || s.server.options.lww) return read.values[read.values.length - 1]!;
  s.server.stats.conflicts++;
  throw conflict(key, read.values.length);
}

/**
 * Writes `value` over whatever the key holds (SET's replace): one write with the store's
 * `overwrite`, which supersedes every value the coordinating replica has. `read`, when the
 * caller read the key first (NX/XX/GET), adds its context.
 */
export function replace(s: Session, key: Uint8Array, value: Uint8Array, read: ReadResult | undefined, ttlMs?: number, expiresAt?: number): Promise<unknown> {
  return storeOf(s).put(key, value, { ...s.writeOptions, context: read?.context, ttlMs, expiresAt, overwrite: true });
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
  /** KEEPTTL: the new value keeps the key's remaining time to live. */
  keepTtl: boolean;
}

export function invalidExpire(command: string): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, `invalid expire time in '${command}' command`);
}

/**
 * A time argument of an expiring command: not a 64-bit integer -> "not an integer"; an
 * integer too large to be a time here (beyond 2^53) -> "invalid expire time", as Redis's
 * overflow check answers.
 */
export function expireArg(arg: Uint8Array, command: string): number {
  const n = parseInt64(arg);
  if (n === null) throw notInteger();
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) throw invalidExpire(command);
  return Number(n);
}

/** SET's options after key and value: EX s | PX ms | EXAT s | PXAT ms, NX | XX, GET. */
function setOptions(args: Buffer[], now: number): SetOptions {
  const o: SetOptions = { ttlMs: undefined, nx: false, xx: false, get: false, keepTtl: false };
  let expiry = false;
  for (let i = 3; i < args.length; i++) {
    const a = args[i]!;
    if (isWord(a, 'nx') && !o.xx) o.nx = true;
    else if (isWord(a, 'xx') && !o.nx) o.xx = true;
    else if (isWord(a, 'get')) o.get = true;
    else if (isWord(a, 'keepttl') && !expiry) o.keepTtl = expiry = true;
    else if (!expiry && i + 1 < args.length && (isWord(a, 'ex') || isWord(a, 'px') || isWord(a, 'exat') || isWord(a, 'pxat'))) {
      const n = expireArg(args[++i]!, 'set');
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
  if (!o.nx && !o.xx && !o.get && !o.keepTtl && o.ttlMs !== 0) {
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
    // KEEPTTL of a key with siblings keeps the first value's expiry (every sibling is replaced).
    if (o.keepTtl) await replace(s, key, args[2]!, read, undefined, keptExpiry(read));
    else await replace(s, key, args[2]!, read, o.ttlMs);
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

/**
 * INCRBY: one request the key's coordinating replica computes (Store.increment), a blind
 * write for KeyLocks. With `lww` (where a read picks one of several values) it reads and
 * writes back instead, as a read-modify-write.
 */
function incrBy(s: Session, key: Buffer, delta: bigint): Promise<Reply> {
  if (!isInt64(delta)) throw new ReplyError(ErrorPrefix.ERR, 'increment or decrement would overflow');
  if (s.server.options.lww) return readIncrBy(s, key, delta);
  return storeOf(s).increment(key, delta, s.writeOptions).then((w) => integerReply(w.sum), (err: unknown) => {
    if (!(err instanceof RingkvError)) throw err;
    if (err.code === ErrorCode.NOT_INTEGER) throw new ReplyError(ErrorPrefix.ERR, err.message);
    if (err.code === ErrorCode.CONFLICT) {
      s.server.stats.conflicts++;
      throw conflict(key, Number(/(\d+) concurrent/.exec(err.message)?.[1] ?? 2));
    }
    throw err;
  });
}

/** INCRBY as a read, then a write with the read's context (the lww server's). */
async function readIncrBy(s: Session, key: Buffer, delta: bigint): Promise<Reply> {
  const store = storeOf(s);
  const read = await store.get(key, s.readOptions);
  let current = 0n;
  if (read !== undefined) {
    const n = parseInt64(onlyValue(s, key, read));
    if (n === null) throw notInteger();
    current = n;
  }
  const next = current + delta;
  if (!isInt64(next)) throw new ReplyError(ErrorPrefix.ERR, 'increment or decrement would overflow');
  await store.put(key, next.toString(), { ...s.writeOptions, context: read?.context, expiresAt: keptExpiry(read) });
  return integerReply(next);
}

function deltaArg(arg: Buffer): bigint {
  const d = parseInt64(arg);
  if (d === null) throw notInteger();
  return d;
}

/** EXPIRE's condition options (Redis 7): NX, XX, GT, LT, with Redis's errors for bad combinations. */
interface ExpireCondition {
  nx: boolean;
  xx: boolean;
  gt: boolean;
  lt: boolean;
}

function expireCondition(args: Buffer[], from: number): ExpireCondition {
  const c: ExpireCondition = { nx: false, xx: false, gt: false, lt: false };
  for (let i = from; i < args.length; i++) {
    const a = args[i]!;
    if (isWord(a, 'nx')) c.nx = true;
    else if (isWord(a, 'xx')) c.xx = true;
    else if (isWord(a, 'gt')) c.gt = true;
    else if (isWord(a, 'lt')) c.lt = true;
    else throw new ReplyError(ErrorPrefix.ERR, `Unsupported option ${text(a)}`);
  }
  if (c.nx && (c.xx || c.gt || c.lt)) throw new ReplyError(ErrorPrefix.ERR, 'NX and XX, GT or LT options at the same time are not compatible');
  if (c.gt && c.lt) throw new ReplyError(ErrorPrefix.ERR, 'GT and LT options at the same time are not compatible');
  return c;
}

/**
 * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `unitMs` per unit of the argument; `absolute` for
 * the AT forms. Sets the key's expiry to `when` unless the condition says no (-> 0); a time
 * already past deletes the key (-> 1).
 */
async function expire(s: Session, args: Buffer[], unitMs: number, absolute: boolean, command: string): Promise<Reply> {
  const cond = expireCondition(args, 3);
  const n = expireArg(args[2]!, command);
  const now = Date.now();
  const when = (absolute ? 0 : now) + n * unitMs;
  if (!Number.isSafeInteger(n * unitMs) || !Number.isSafeInteger(when)) throw invalidExpire(command);
  const key = args[1]!;
  const store = storeOf(s);
  const read = await store.get(key, s.readOptions);
  if (read === undefined) return 0;
  const value = onlyValue(s, key, read);
  const at = expiresAtOf(read) ?? 0; // 0: no expiry (an infinite TTL for GT and LT)
  if (cond.nx && at !== 0) return 0;
  if (cond.xx && at === 0) return 0;
  if (cond.gt && (at === 0 || when <= at)) return 0;
  if (cond.lt && at !== 0 && when >= at) return 0;
  const opts = { ...s.writeOptions, context: read.context };
  if (when <= now) await store.delete(key, opts);
  else await store.put(key, value, { ...opts, expiresAt: when });
  return 1;
}

/** EXPIRETIME (unitMs 1000) and PEXPIRETIME (1): the absolute expiry; -2 missing, -1 none. */
async function expireTime(s: Session, key: Buffer, unitMs: number): Promise<Reply> {
  const read = await storeOf(s).get(key, s.readOptions);
  if (read === undefined) return -2;
  const at = expiresAtOf(read) ?? 0;
  return at === 0 ? -1 : Math.floor(at / unitMs);
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

/** SET k v and SET k v EX|PX n: one write, no read (set() writes those blind; NX, XX, GET, KEEPTTL read first). */
function plainSet(_s: Session, args: readonly Buffer[]): boolean {
  return args.length === 3 || (args.length === 5 && (isWord(args[3]!, 'ex') || isWord(args[3]!, 'px')));
}
/** SET key value, without options. */
function noOptions(_s: Session, args: readonly Buffer[]): boolean {
  return args.length === 3;
}
function always(): boolean {
  return true;
}
/** INCRBY and its family are one request at the replica, except under lww (readIncrBy). */
function notLww(s: Session): boolean {
  return !s.server.options.lww;
}

const ONE: readonly [number, number, number] = [1, 1, 1];
const ALL: readonly [number, number, number] = [1, -1, 1];

export const kvCommands: readonly CommandSpec[] = [
  defineCommand('get', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: get, fastRead: oneValue }),
  defineCommand('set', { arity: -3, flags: ['write', 'denyoom'], keys: ONE, access: 'write', blind: plainSet, run: set, fastPut: noOptions }),
  defineCommand('del', { arity: -2, flags: ['write'], keys: ALL, access: 'write', run: del }),
  defineCommand('unlink', { arity: -2, flags: ['write', 'fast'], keys: ALL, access: 'write', run: del }),
  defineCommand('exists', { arity: -2, flags: ['readonly', 'fast'], keys: ALL, run: exists }),
  defineCommand('mget', { arity: -2, flags: ['readonly', 'fast'], keys: ALL, run: mget }),
  defineCommand('mset', { arity: -3, flags: ['write', 'denyoom'], keys: [1, -1, 2], access: 'write', blind: always, run: mset }),
  defineCommand('incr', { blind: notLww, arity:  2, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: (s, a) => incrBy(s, a[1]!, 1n) }),
  defineCommand('decr', { blind: notLww, arity:  2, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: (s, a) => incrBy(s, a[1]!, -1n) }),
  defineCommand('incrby', { blind: notLww, arity:  3, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: (s, a) => incrBy(s, a[1]!, deltaArg(a[2]!)) }),
  defineCommand('decrby', { blind: notLww, arity:  3, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: (s, a) => incrBy(s, a[1]!, -deltaArg(a[2]!)) }),
  defineCommand('expire', { arity: -3, flags: ['write', 'fast'], keys: ONE, access: 'write', run: (s, a) => expire(s, a, 1000, false, 'expire') }),
  defineCommand('pexpire', { arity: -3, flags: ['write', 'fast'], keys: ONE, access: 'write', run: (s, a) => expire(s, a, 1, false, 'pexpire') }),
  defineCommand('expireat', { arity: -3, flags: ['write', 'fast'], keys: ONE, access: 'write', run: (s, a) => expire(s, a, 1000, true, 'expireat') }),
  defineCommand('pexpireat', { arity: -3, flags: ['write', 'fast'], keys: ONE, access: 'write', run: (s, a) => expire(s, a, 1, true, 'pexpireat') }),
  defineCommand('expiretime', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: (s, a) => expireTime(s, a[1]!, 1000) }),
  defineCommand('pexpiretime', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: (s, a) => expireTime(s, a[1]!, 1) }),
  defineCommand('ttl', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: (s, a) => ttl(s, a[1]!, 1000) }),
  defineCommand('pttl', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: (s, a) => ttl(s, a[1]!, 1) }),
  defineCommand('type', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: type }),
];
