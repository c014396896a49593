// Runs on: the main thread. Keyspace commands beyond kv-commands.ts: PERSIST, KEYS,
// RANDOMKEY, RENAME, RENAMENX, COPY, TIME, OBJECT, MEMORY USAGE, WAIT.
//
// Differences from Redis (a Dynamo store has no single copy of the keyspace):
// - KEYS walks the whole keyspace with store.scan (page by page) and filters by the
//   pattern: as slow as Redis's KEYS on a big store, and, like SCAN, it may miss a key
//   written while it runs or held only by a replica it did not ask.
// - RANDOMKEY starts a one-key scan at a random ring token (wrapping once): every key can
//   come back, not with equal chances (keys after a wide gap between tokens come more often).
// - RENAME/RENAMENX/COPY read the source, write the destination (keeping the TTL) and, for
//   RENAME, delete the source with the read's context: ordered against this server's
//   commands on both keys, but two writes, not one atomic step across replicas. A source
//   with concurrent values answers CONFLICT.
// - OBJECT ENCODING answers what Redis would pick for the value (int, embstr, raw);
//   IDLETIME answers 0 and REFCOUNT 1 (nothing is tracked per key); FREQ answers Redis's
//   error for a server without an LFU maxmemory-policy.
// - MEMORY USAGE estimates key + value + a fixed overhead per stored version.
// - WAIT answers how many replicas acknowledged each write of the connection before it was
//   answered: the connection's W (its CONSISTENCY, else the store's), 0 before its first
//   write; it never blocks, since a write is answered only once W replicas have it.
import { integerReply, isWord, keyString, parseInteger, text } from './args.js';
import { defineCommand, type CommandSpec } from './command.js';
import { expiresAtOf, keptExpiry } from './expiry.js';
import { globMatch } from './glob.js';
import { onlyValue, storeOf } from './kv-commands.js';
import { ErrorPrefix, notInteger, OK, type Reply, ReplyError, syntaxError } from './reply.js';
import type { Session } from './session.js';

/** Keys per page of KEYS's walk. */
const KEYS_PAGE = 1000;
/** MEMORY USAGE's fixed cost of one stored version (dot, times, framing), about what a record takes. */
const VERSION_OVERHEAD_BYTES = 48;
/** OBJECT ENCODING: values up to this length are 'embstr' in Redis. */
const EMBSTR_MAX_BYTES = 44;

async function persist(s: Session, args: Buffer[]): Promise<Reply> {
  const key = args[1]!;
  const store = storeOf(s);
  const read = await store.get(key, s.readOptions);
  if (read === undefined) return 0;
  const value = onlyValue(s, key, read);
  if ((expiresAtOf(read) ?? 0) === 0) return 0;
  await store.put(key, value, { ...s.writeOptions, context: read.context });
  return 1;
}

async function keys(s: Session, args: Buffer[]): Promise<Reply> {
  const pattern = keyString(args[1]!);
  const all = pattern === '*';
  const out: Buffer[] = [];
  let cursor = '0';
  do {
    const page = await storeOf(s).scan({ cursor, count: KEYS_PAGE });
    for (const k of page.keys) {
      const b = Buffer.from(k.buffer, k.byteOffset, k.length);
      if (all || globMatch(pattern, b.toString('latin1'))) out.push(Buffer.from(b));
    }
    cursor = page.cursor;
  } while (cursor !== '0');
  return out;
}

async function randomkey(s: Session): Promise<Reply> {
  const store = storeOf(s);
  const start = ((BigInt(Math.floor(Math.random() * 2 ** 32)) << 32n) | BigInt(Math.floor(Math.random() * 2 ** 32))).toString();
  let page = await store.scan({ cursor: start, count: 1 });
  if (page.keys.length === 0) page = await store.scan({ cursor: '0', count: 1 });
  const k = page.keys[0];
  return k === undefined ? null : Buffer.from(k);
}

/** RENAME (nx false) and RENAMENX (true). */
async function rename(s: Session, args: Buffer[], nx: boolean): Promise<Reply> {
  const [src, dst] = [args[1]!, args[2]!];
  const store = storeOf(s);
  const [from, to] = await store.getMany([src, dst], s.readOptions);
  if (from === undefined) throw new ReplyError(ErrorPrefix.ERR, 'no such key');
  const value = onlyValue(s, src, from);
  if (src.equals(dst)) return nx ? 0 : OK;
  if (nx && to !== undefined) return 0;
  await store.put(dst, value, { ...s.writeOptions, context: to?.context, expiresAt: keptExpiry(from), overwrite: true });
  await store.delete(src, { ...s.writeOptions, context: from.context });
  return nx ? 1 : OK;
}

async function copy(s: Session, args: Buffer[]): Promise<Reply> {
  const [src, dst] = [args[1]!, args[2]!];
  let replaceDst = false;
  for (let i = 3; i < args.length; i++) {
    const a = args[i]!;
    if (isWord(a, 'replace')) replaceDst = true;
    else if (isWord(a, 'db') && i + 1 < args.length) {
      const db = parseInteger(args[++i]!);
      if (db === null) throw notInteger();
      if (db !== 0) throw new ReplyError(ErrorPrefix.ERR, 'DB index is out of range (ringkv has one database: 0)');
    } else throw syntaxError();
  }
  if (src.equals(dst)) throw new ReplyError(ErrorPrefix.ERR, 'source and destination objects are the same');
  const store = storeOf(s);
  const [from, to] = await store.getMany([src, dst], s.readOptions);
  if (from === undefined) return 0;
  const value = onlyValue(s, src, from);
  if (to !== undefined && !replaceDst) return 0;
  await store.put(dst, value, { ...s.writeOptions, context: to?.context, expiresAt: keptExpiry(from), overwrite: true });
  return 1;
}

function time(): Reply {
  const us = BigInt(Date.now()) * 1000n + BigInt(Math.floor((performance.now() % 1) * 1000));
  return [(us / 1_000_000n).toString(), (us % 1_000_000n).toString()];
}

/** The encoding Redis would give a string value: int, embstr or raw. */
function encodingOf(value: Uint8Array): string {
  if (value.length <= 20 && /^(0|-?[1-9][0-9]*)$/.test(Buffer.from(value).toString('latin1'))) {
    const n = BigInt(Buffer.from(value).toString('latin1'));
    if (n >= -(1n << 63n) && n < 1n << 63n) return 'int';
  }
  return value.length <= EMBSTR_MAX_BYTES ? 'embstr' : 'raw';
}

const OBJECT_HELP = [
  'OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'ENCODING <key>',
  '    Return the kind of internal representation used in order to store the value',
  '    associated with a <key>.',
  'FREQ <key>',
  '    Not tracked (Redis answers this error without an LFU maxmemory-policy).',
  'IDLETIME <key>',
  '    ringkv tracks no idle time: 0 for an existing key.',
  'REFCOUNT <key>',
  '    1 for an existing key.',
  'HELP',
  '    Print this help.',
];

async function object(s: Session, args: Buffer[]): Promise<Reply> {
  const sub = args[1]!;
  if (isWord(sub, 'help') && args.length === 2) return OBJECT_HELP;
  const known = isWord(sub, 'encoding') || isWord(sub, 'freq') || isWord(sub, 'idletime') || isWord(sub, 'refcount');
  if (!known) return unknownSubcommand(sub, 'OBJECT');
  if (args.length !== 3) return subcommandArity('object', sub);
  const key = args[2]!;
  const read = await storeOf(s).get(key, s.readOptions);
  if (read === undefined) return null;
  if (isWord(sub, 'freq')) return NO_LFU; // as Redis without an LFU maxmemory-policy
  if (isWord(sub, 'encoding')) return encodingOf(onlyValue(s, key, read));
  return isWord(sub, 'refcount') ? 1 : 0;
}

async function memory(s: Session, args: Buffer[]): Promise<Reply> {
  const sub = args[1]!;
  if (!isWord(sub, 'usage')) return unknownSubcommand(sub, 'MEMORY');
  if (args.length < 3) return subcommandArity('memory', sub);
  if (args.length !== 3 && !(args.length === 5 && isWord(args[3]!, 'samples'))) throw syntaxError();
  if (args.length === 5 && parseInteger(args[4]!) === null) throw notInteger();
  const key = args[2]!;
  const read = await storeOf(s).get(key, s.readOptions);
  if (read === undefined) return null;
  let bytes = key.length;
  for (const v of read.values) bytes += v.length + VERSION_OVERHEAD_BYTES;
  return bytes;
}

function unknownSubcommand(sub: Buffer, command: string): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, `unknown subcommand '${text(sub)}'. Try ${command} HELP.`);
}

function subcommandArity(command: string, sub: Buffer): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, `wrong number of arguments for '${command}|${text(sub).toLowerCase()}' command`);
}

const NO_LFU = new ReplyError(
  ErrorPrefix.ERR,
  'An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.',
);

function wait(s: Session, args: Buffer[]): Reply {
  const replicas = parseInteger(args[1]!);
  const timeout = parseInteger(args[2]!);
  if (replicas === null || timeout === null) throw notInteger();
  if (timeout < 0) throw new ReplyError(ErrorPrefix.ERR, 'timeout is negative');
  if (!s.wrote) return 0;
  try {
    return integerReply(BigInt(s.server.store.checkQuorum(s.writeOptions).w));
  } catch {
    return 0;
  }
}

/** The key of `OBJECT sub key` / `MEMORY sub key` (none for OBJECT HELP, MEMORY STATS). */
function subcommandKey(args: Buffer[]): Buffer[] {
  return args.length >= 3 ? [args[2]!] : [];
}

const ONE: readonly [number, number, number] = [1, 1, 1];
const TWO: readonly [number, number, number] = [1, 2, 1];

export const keyspaceCommands: readonly CommandSpec[] = [
  defineCommand('persist', { arity: 2, flags: ['write', 'fast'], keys: ONE, access: 'write', run: persist }),
  defineCommand('keys', { arity: 2, flags: ['readonly'], run: keys }),
  defineCommand('randomkey', { arity: 1, flags: ['readonly'], run: randomkey }),
  defineCommand('rename', { arity: 3, flags: ['write'], keys: TWO, access: 'write', run: (s, a) => rename(s, a, false) }),
  defineCommand('renamenx', { arity: 3, flags: ['write', 'fast'], keys: TWO, access: 'write', run: (s, a) => rename(s, a, true) }),
  defineCommand('copy', { arity: -3, flags: ['write', 'denyoom'], keys: TWO, access: 'write', run: copy }),
  defineCommand('time', { arity: 1, flags: ['fast'], run: time }),
  // OBJECT ENCODING key, MEMORY USAGE key: reads of their key, so they wait for this
  // connection's writes of it in flight (SET k then OBJECT ENCODING k sees k).
  defineCommand('object', { arity: -2, flags: ['readonly'], keysOf: subcommandKey, run: object }),
  defineCommand('memory', { arity: -2, flags: ['readonly'], keysOf: subcommandKey, run: memory }),
  defineCommand('wait', { arity: 3, flags: [], run: wait }),
];
