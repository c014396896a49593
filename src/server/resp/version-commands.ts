// Runs on: the main thread. The Dynamo extensions: read every concurrent value with its
// context, write with a context, choose R and W per connection.
//
//   VGET key
//     -> [context, value1, value2, ...]   every concurrent value, in the store's order
//     -> []                               the key is absent (no context, no values)
//   VSET key value [CONTEXT ctx] [W w] [TTL ms]
//     -> the new context                  without CONTEXT the write is concurrent with what is
//                                         stored (a sibling); with the context of a VGET it
//                                         supersedes exactly the values that VGET saw
//   VDEL key [CONTEXT ctx]
//     -> the tombstone's context          without CONTEXT: deletes nothing it has not seen
//                                         (the tombstone is a sibling of current values)
//   CONSISTENCY R r W w [STRICT|SLOPPY]   this connection's reads wait for r replies, writes
//                                         for w acknowledgements (either may be given alone;
//                                         DEFAULT goes back to the store's); STRICT: only
//                                         primaries count, their acks toward W (not hints
//                                         or stand-ins') and their answers toward R (not
//                                         fallbacks'), SLOPPY: those count too; -> OK
//   CONSISTENCY LOCAL_QUORUM [STRICT|...] a level for reads and writes (ONE, QUORUM, ALL,
//                                         LOCAL_ONE, LOCAL_QUORUM, EACH_QUORUM: Cassandra's)
//   CONSISTENCY                           -> [R, r, W, w, LEVEL, level, QUORUM, strict|sloppy]
//                                         (0 / '' = the default)
//   VSET ... STRICT                       this write alone under strict quorum
//
// Contexts travel as base64url text (the encoding of contextToString); '' = none.
import { ErrorCode, RingkvError } from '../../errors.js';
import { CONSISTENCY_LEVELS, type Store } from '../../index.js';
import { isWord, parseInteger, text } from './args.js';
import { defineCommand, type CommandSpec } from './command.js';
import { ErrorPrefix, OK, type Reply, ReplyError, syntaxError } from './reply.js';
import { type Consistency, requestOptions, type Session } from './session.js';

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function contextText(context: Uint8Array): string {
  return Buffer.from(context.buffer, context.byteOffset, context.length).toString('base64url');
}

/** A context argument as bytes; the store checks that they decode. */
function contextArg(arg: Buffer): Uint8Array | undefined {
  const t = text(arg);
  if (!BASE64URL.test(t) || t.length % 4 === 1) throw new ReplyError(ErrorPrefix.ERR, 'invalid context: not base64url text (pass the first element of a VGET reply)');
  return t.length === 0 ? undefined : Buffer.from(t, 'base64url');
}

function positive(arg: Buffer | undefined, what: string): number {
  const n = arg === undefined ? null : parseInteger(arg);
  if (n === null || n < 1) throw new ReplyError(ErrorPrefix.ERR, `${what} must be a positive integer`);
  return n;
}

function storeOf(s: Session): Store {
  return s.server.store;
}

async function vget(s: Session, args: Buffer[]): Promise<Reply> {
  const read = await storeOf(s).get(args[1]!, s.readOptions);
  if (read === undefined) return [];
  const out: Reply[] = [contextText(read.context)];
  for (const v of read.values) out.push(v);
  return out;
}

async function vset(s: Session, args: Buffer[]): Promise<Reply> {
  let context: Uint8Array | undefined;
  let w = s.writeOptions.w;
  let ttlMs: number | undefined;
  let sloppy = s.writeOptions.sloppy;
  for (let i = 3; i < args.length; i += 2) {
    const word = args[i]!;
    if (isWord(word, 'strict')) {
      sloppy = false;
      i--; // a flag: no value follows
      continue;
    }
    const value = args[i + 1];
    if (value === undefined) throw syntaxError();
    if (isWord(word, 'context')) context = contextArg(value);
    else if (isWord(word, 'w')) w = positive(value, 'W');
    else if (isWord(word, 'ttl')) ttlMs = positive(value, 'TTL');
    else throw syntaxError();
  }
  // overwrite: false: a VSET without a context is a blind write, concurrent with what is stored
  // (a sibling of it), as the Dynamo API has it; the embedded put()'s default would overwrite.
  const result = await storeOf(s).put(args[1]!, args[2]!, { w, context, ttlMs, overwrite: false, ...(sloppy === undefined ? {} : { sloppy }) });
  return contextText(result.context);
}

async function vdel(s: Session, args: Buffer[]): Promise<Reply> {
  let context: Uint8Array | undefined;
  if (args.length === 4 && isWord(args[2]!, 'context')) context = contextArg(args[3]!);
  else if (args.length !== 2) throw syntaxError();
  const result = await storeOf(s).delete(args[1]!, { ...s.writeOptions, context, overwrite: false });
  return contextText(result.context);
}

/**
 * Sets the connection's consistency once the store accepts it (R and W within 1..N, a level
 * the ring can serve): a bad one is this command's error, never every later command's.
 */
function apply(s: Session, c: Consistency): Reply {
  const { readOptions, writeOptions } = requestOptions(c);
  try {
    s.server.store.checkQuorum(readOptions);
    s.server.store.checkQuorum(writeOptions);
  } catch (err) {
    // Only a bad setting is refused; a ring still forming (NOT_READY) may serve it later.
    if (err instanceof RingkvError && err.code === ErrorCode.INVALID_ARGUMENT) return new ReplyError(ErrorPrefix.ERR, `invalid consistency (the connection keeps its current one): ${err.message}`);
  }
  s.setConsistency(c);
  return OK;
}

function consistency(s: Session, args: Buffer[]): Reply {
  if (args.length === 1) {
    const c = s.consistency;
    return ['R', c.r ?? 0, 'W', c.w ?? 0, 'LEVEL', c.level ?? '', 'QUORUM', c.sloppy === undefined ? '' : c.sloppy ? 'sloppy' : 'strict'];
  }
  if (args.length === 2 && isWord(args[1]!, 'default')) {
    // Back to the server's default (CONFIG SET ringkv-consistency), else the store's.
    s.ownConsistency = false;
    s.useDefaultConsistency();
    return OK;
  }
  // STRICT or SLOPPY may close any form; alone, it keeps R, W and the level.
  let rest = args.slice(1);
  let sloppy: boolean | undefined;
  const last = rest[rest.length - 1]!;
  if (isWord(last, 'strict') || isWord(last, 'sloppy')) {
    sloppy = isWord(last, 'sloppy');
    rest = rest.slice(0, -1);
  }
  if (rest.length === 0) {
    return apply(s, { ...s.consistency, sloppy });
  }
  if (rest.length === 1) {
    const level = CONSISTENCY_LEVELS.find((l) => isWord(rest[0]!, l.toLowerCase()));
    if (level === undefined) throw new ReplyError(ErrorPrefix.ERR, `unknown consistency level; use R r W w, DEFAULT, or one of ${CONSISTENCY_LEVELS.join(', ')}, then optionally STRICT or SLOPPY`);
    return apply(s, { r: undefined, w: undefined, level, sloppy });
  }
  const next = { ...s.consistency, level: undefined, sloppy: sloppy ?? s.consistency.sloppy };
  for (let i = 0; i < rest.length; i += 2) {
    const word = rest[i]!;
    if (i + 1 >= rest.length) throw syntaxError();
    if (isWord(word, 'r')) next.r = positive(rest[i + 1], 'R');
    else if (isWord(word, 'w')) next.w = positive(rest[i + 1], 'W');
    else throw syntaxError();
  }
  return apply(s, next);
}

const ONE: readonly [number, number, number] = [1, 1, 1];

export const versionCommands: readonly CommandSpec[] = [
  defineCommand('vget', { arity: 2, flags: ['readonly', 'fast'], keys: ONE, run: vget }),
  defineCommand('vset', { arity: -3, flags: ['write', 'denyoom'], keys: ONE, access: 'write', run: vset }),
  defineCommand('vdel', { arity: -2, flags: ['write', 'fast'], keys: ONE, access: 'write', run: vdel }),
  defineCommand('consistency', { arity: -1, flags: ['fast'], run: consistency }),
];
