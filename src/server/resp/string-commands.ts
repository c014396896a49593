// Runs on: the main thread. The rest of Redis's string family over the versioned store:
// SETNX, SETEX, PSETEX, GETEX, GETDEL, GETSET, APPEND, STRLEN, GETRANGE, SETRANGE,
// INCRBYFLOAT, MSETNX.
//
// As in kv-commands.ts: a read-modify-write reads the key, answers CONFLICT if it has
// concurrent values (unless lww), and writes back with the read's context; through this
// server the commands on one key are ordered by KeyLocks. APPEND, SETRANGE and INCRBYFLOAT
// keep the key's time to live (as Redis, which changes the value in place); SETEX, GETSET
// and the SET-like commands set or clear it.
//
// Differences from Redis: INCRBYFLOAT computes in 64-bit doubles (Redis: long double), so
// the last digits of a long fraction may differ; its result is written as the shortest
// decimal that reads back as the same double, never in exponent form. MSETNX checks and
// writes through this server's key locks: atomic against this server's commands, not
// against a write of one of its keys through another node meanwhile.
import type { ReadResult } from '../../index.js';
import { isWord, keyString, parseInteger, text } from './args.js';
import { defineCommand, type CommandSpec } from './command.js';
import { keptExpiry, remainingMs } from './expiry.js';
import { expireArg, invalidExpire, oneValue, onlyValue, replace, storeOf } from './kv-commands.js';
import { ErrorPrefix, notInteger, OK, type Reply, ReplyError, syntaxError } from './reply.js';
import type { Session } from './session.js';

/** Redis's limit on a string's length (proto-max-bulk-len's default), for SETRANGE and APPEND. */
const MAX_STRING_BYTES = 512 * 1024 * 1024;

const EMPTY = new Uint8Array(0);

function tooLong(): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, 'string exceeds maximum allowed size (proto-max-bulk-len)');
}

/** Writes `value` with the read's context, keeping the read's remaining time to live. */
function rewrite(s: Session, key: Uint8Array, value: Uint8Array | string, read: ReadResult | undefined): Promise<unknown> {
  return storeOf(s).put(key, value, { ...s.writeOptions, context: read?.context, expiresAt: keptExpiry(read) });
}

async function setnx(s: Session, args: Buffer[]): Promise<Reply> {
  const key = args[1]!;
  const read = await storeOf(s).get(key, s.readOptions);
  if (read !== undefined) return 0;
  await replace(s, key, args[2]!, undefined);
  return 1;
}

/** SETEX key seconds value / PSETEX key ms value. */
async function setex(s: Session, args: Buffer[], unitMs: number, command: string): Promise<Reply> {
  const n = expireArg(args[2]!, command);
  if (n <= 0 || !Number.isSafeInteger(n * unitMs)) throw invalidExpire(command);
  await replace(s, args[1]!, args[3]!, undefined, n * unitMs);
  return OK;
}

/** GETEX's option, checked for syntax only: undefined = none (a plain GET). */
function getexSyntax(args: Buffer[]): 'persist' | 'time' | undefined {
  if (args.length === 2) return undefined;
  const a = args[2]!;
  if (args.length === 3 && isWord(a, 'persist')) return 'persist';
  if (args.length !== 4 || !(isWord(a, 'ex') || isWord(a, 'px') || isWord(a, 'exat') || isWord(a, 'pxat'))) throw syntaxError();
  return 'time';
}

/** GETEX's time option as ms since the epoch (checked once the key exists, as Redis does). */
function getexTime(args: Buffer[], now: number): number {
  const a = args[2]!;
  const seconds = isWord(a, 'ex') || isWord(a, 'exat');
  const n = expireArg(args[3]!, 'getex');
  const ms = seconds ? n * 1000 : n;
  if (n <= 0 || !Number.isSafeInteger(ms) || !Number.isSafeInteger(ms + now)) throw invalidExpire('getex');
  return isWord(a, 'ex') || isWord(a, 'px') ? now + ms : ms;
}

async function getex(s: Session, args: Buffer[]): Promise<Reply> {
  const syntax = getexSyntax(args);
  const key = args[1]!;
  const store = storeOf(s);
  const read = await store.get(key, s.readOptions);
  if (syntax === undefined || read === undefined) return oneValue(s, key, read);
  const now = Date.now();
  const option = syntax === 'persist' ? 'persist' : getexTime(args, now);
  const value = onlyValue(s, key, read);
  s.server.stats.keyspaceHits++;
  const opts = { ...s.writeOptions, context: read.context };
  if (option === 'persist') {
    if (remainingMs(read, now) !== undefined) await store.put(key, value, opts);
  } else if (option <= now) {
    await store.delete(key, opts);
  } else {
    await store.put(key, value, { ...opts, expiresAt: option });
  }
  return value;
}

async function getdel(s: Session, args: Buffer[]): Promise<Reply> {
  const key = args[1]!;
  const store = storeOf(s);
  const read = await store.get(key, s.readOptions);
  const value = oneValue(s, key, read);
  if (read !== undefined) await store.delete(key, { ...s.writeOptions, context: read.context });
  return value;
}

async function getset(s: Session, args: Buffer[]): Promise<Reply> {
  const key = args[1]!;
  const read = await storeOf(s).get(key, s.readOptions);
  const old = oneValue(s, key, read);
  await replace(s, key, args[2]!, read);
  return old;
}

async function append(s: Session, args: Buffer[]): Promise<Reply> {
  const key = args[1]!;
  const read = await storeOf(s).get(key, s.readOptions);
  const old = read === undefined ? EMPTY : onlyValue(s, key, read);
  if (old.length + args[2]!.length > MAX_STRING_BYTES) throw tooLong();
  const value = Buffer.concat([old, args[2]!]);
  await rewrite(s, key, value, read);
  return value.length;
}

async function strlen(s: Session, args: Buffer[]): Promise<Reply> {
  const key = args[1]!;
  const read = await storeOf(s).get(key, s.readOptions);
  return read === undefined ? 0 : onlyValue(s, key, read).length;
}

async function getrange(s: Session, args: Buffer[]): Promise<Reply> {
  let start = parseInteger(args[2]!);
  let end = parseInteger(args[3]!);
  if (start === null || end === null) throw notInteger();
  const key = args[1]!;
  const read = await storeOf(s).get(key, s.readOptions);
  if (read === undefined) return EMPTY;
  const value = onlyValue(s, key, read);
  const len = value.length;
  // Redis's rules: negative indexes count from the end; both negative and crossed: empty.
  if (start < 0 && end < 0 && start > end) return EMPTY;
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) return EMPTY;
  return value.subarray(start, end + 1);
}

async function setrange(s: Session, args: Buffer[]): Promise<Reply> {
  const offset = parseInteger(args[2]!);
  if (offset === null) throw notInteger();
  if (offset < 0) throw new ReplyError(ErrorPrefix.ERR, 'offset is out of range');
  const patch = args[3]!;
  const key = args[1]!;
  const read = await storeOf(s).get(key, s.readOptions);
  const old = read === undefined ? EMPTY : onlyValue(s, key, read);
  if (patch.length === 0) return old.length; // Redis: nothing written, not even a new key
  if (offset + patch.length > MAX_STRING_BYTES) throw tooLong();
  const value = Buffer.alloc(Math.max(old.length, offset + patch.length)); // zero-padded
  value.set(old, 0);
  value.set(patch, offset);
  await rewrite(s, key, value, read);
  return value.length;
}

/** A float as Redis's string2ld reads it: decimal or exponent form, inf; no spaces, no hex, no nan. */
const FLOAT_PATTERN = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity)$/i;

function parseFloatArg(arg: Uint8Array): number | null {
  if (arg.length === 0 || arg.length > 5000) return null;
  const t = text(arg);
  if (!FLOAT_PATTERN.test(t)) return null;
  const lower = t.toLowerCase();
  if (lower.endsWith('inf') || lower.endsWith('infinity')) return t.startsWith('-') ? -Infinity : Infinity;
  return Number(t);
}

/** The shortest decimal that reads back as `n`, in plain (never exponent) form, as Redis prints floats. */
export function formatFloat(n: number): string {
  if (Object.is(n, -0)) return '0';
  const shortest = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(shortest);
  if (m === null) return shortest;
  const [, sign, lead, frac = '', exp] = m;
  const digits = lead! + frac;
  const point = 1 + Number(exp); // where the decimal point falls in `digits`
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

async function incrbyfloat(s: Session, args: Buffer[]): Promise<Reply> {
  const delta = parseFloatArg(args[2]!);
  if (delta === null) throw new ReplyError(ErrorPrefix.ERR, 'value is not a valid float');
  const key = args[1]!;
  const read = await storeOf(s).get(key, s.readOptions);
  let current = 0;
  if (read !== undefined) {
    const n = parseFloatArg(onlyValue(s, key, read));
    if (n === null) throw new ReplyError(ErrorPrefix.ERR, 'value is not a valid float');
    current = n;
  }
  const next = current + delta;
  if (!Number.isFinite(next)) throw new ReplyError(ErrorPrefix.ERR, 'increment would produce NaN or Infinity');
  const out = formatFloat(next);
  await rewrite(s, key, out, read);
  return out;
}

async function msetnx(s: Session, args: Buffer[]): Promise<Reply> {
  if ((args.length - 1) % 2 !== 0) throw new ReplyError(ErrorPrefix.ERR, "wrong number of arguments for 'msetnx' command");
  const last = new Map<string, number>();
  for (let i = 1; i < args.length; i += 2) last.set(keyString(args[i]!), i);
  const indexes = [...last.values()];
  const store = storeOf(s);
  const reads = await store.getMany(indexes.map((i) => args[i]!), s.readOptions);
  if (reads.some((r) => r !== undefined)) return 0;
  await Promise.all(indexes.map((i) => replace(s, args[i]!, args[i + 1]!, undefined)));
  return 1;
}

const ONE: readonly [number, number, number] = [1, 1, 1];

export const stringCommands: readonly CommandSpec[] = [
  defineCommand('setnx', { arity: 3, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: setnx }),
  defineCommand('setex', { arity: 4, flags: ['write', 'denyoom'], keys: ONE, access: 'write', run: (s, a) => setex(s, a, 1000, 'setex') }),
  defineCommand('psetex', { arity: 4, flags: ['write', 'denyoom'], keys: ONE, access: 'write', run: (s, a) => setex(s, a, 1, 'psetex') }),
  defineCommand('getex', { arity: -2, flags: ['write', 'fast'], keys: ONE, access: 'write', run: getex }),
  defineCommand('getdel', { arity: 2, flags: ['write', 'fast'], keys: ONE, access: 'write', run: getdel }),
  defineCommand('getset', { arity: 3, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: getset }),
  defineCommand('append', { arity: 3, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: append }),
  defineCommand('strlen', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: strlen }),
  defineCommand('getrange', { arity: 4, flags: ['readonly'], keys: ONE, run: getrange }),
  defineCommand('substr', { arity: 4, flags: ['readonly'], keys: ONE, run: getrange }),
  defineCommand('setrange', { arity: 4, flags: ['write', 'denyoom'], keys: ONE, access: 'write', run: setrange }),
  defineCommand('incrbyfloat', { arity: 3, flags: ['write', 'denyoom', 'fast'], keys: ONE, access: 'write', run: incrbyfloat }),
  defineCommand('msetnx', { arity: -3, flags: ['write', 'denyoom'], keys: [1, -1, 2], access: 'write', run: msetnx }),
];
