// Runs on: the main thread. MULTI, EXEC, DISCARD, WATCH and UNWATCH, with Redis's rules.
//
// - MULTI opens a transaction: every later command of the connection (but EXEC, DISCARD,
//   MULTI, WATCH and QUIT) is checked (known, right arity) and queued, answering +QUEUED.
//   A command refused at queue time answers its error and spoils the transaction: EXEC
//   then answers -EXECABORT and runs nothing. Errors a command meets when it runs (a wrong
//   value, a syntax error in its options) are its own element of EXEC's array; the
//   commands before and after it still run, as in Redis.
// - EXEC runs the queued commands one after the other, in order, isolated from every other
//   command of this server on the same keys: it waits for the writes in flight on all of
//   its keys (the queued commands' and the watched ones), and commands that arrive on those
//   keys meanwhile wait for it (KeyIsolation). It is not isolated from writes coming
//   through another node or the embedded API, and it is not all-or-nothing: each queued
//   write is its own versioned write, so a replica failure can fail one command of the
//   array (its element is the error) after earlier ones were written.
// - WATCH reads each key's version context now (after this server's writes in flight on
//   it). EXEC, under the isolation of its keys, reads the watched keys again and answers a
//   nil reply, running nothing, if any context differs: the key was written, deleted or
//   expired, through this server or any other node. A watched key whose read failed
//   (a quorum not met) counts as changed. EXEC and DISCARD forget the watched keys, as
//   does UNWATCH.
//
// The ordering of EXEC against other commands is behind KeyIsolation, so a different
// ordering (replica-side, say) replaces keyLockIsolation alone.
import type { ReadResult } from '../../index.js';
import { keyString } from './args.js';
import { type CommandSpec, defineCommand } from './command.js';
import type { KeyLocks } from './key-locks.js';
import { ErrorPrefix, errorReply, OK, type Reply, ReplyError, Simple } from './reply.js';
import type { Session } from './session.js';

/** How EXEC keeps the other commands of this server off its keys while it runs. */
export interface KeyIsolation {
  /**
   * Runs `body` once the writes in flight on `keys` have settled; commands issued on those
   * keys before `body` settles wait for it.
   */
  exclusive<T>(keys: readonly string[], body: () => Promise<T>): Promise<T>;
}

/** KeyIsolation over the server's per-key write tails: EXEC is a write on every one of its keys. */
export function keyLockIsolation(locks: KeyLocks): KeyIsolation {
  return {
    exclusive<T>(keys: readonly string[], body: () => Promise<T>): Promise<T> {
      const tails: Promise<unknown>[] = [];
      for (const key of keys) {
        const tail = locks.tail(key);
        if (tail !== undefined) tails.push(tail);
      }
      const op = tails.length === 0 ? body() : Promise.allSettled(tails).then(body);
      for (const key of keys) locks.hold(key, op);
      return op;
    },
  };
}

const QUEUED = new Simple('QUEUED');

/** Commands that run at once inside MULTI instead of being queued (as in Redis). */
const RUN_AT_ONCE = new Set(['exec', 'discard', 'multi', 'watch', 'quit']);

/** The keys a command names (its table entry's first, last, step), as binary-safe strings. */
export function keysOf(spec: CommandSpec, args: Buffer[]): string[] {
  if (spec.keysOf !== undefined) return spec.keysOf(args).map(keyString);
  if (spec.firstKey === 0) return [];
  const last = spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey;
  const keys: string[] = [];
  for (let i = spec.firstKey; i <= last && i < args.length; i += spec.step) keys.push(keyString(args[i]!));
  return keys;
}

interface Queued {
  spec: CommandSpec;
  args: Buffer[];
}

/** What WATCH saw of a key: its context (null: absent), or undefined when the read failed. */
type Seen = Promise<Uint8Array | null | undefined>;

function contextOf(read: ReadResult | undefined): Uint8Array | null {
  return read === undefined ? null : read.context;
}

function sameVersion(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/**
 * A connection's transaction state: the queue while MULTI is open, and the watched keys.
 * Kept beside the session (transactionOf), not in it, so that session.ts needs nothing of
 * this file; the session's `inMulti` flag is the one bit the command loop reads per command.
 */
export class Transaction {
  private queued: Queued[] | null = null;
  constructor(private readonly session: { inMulti: boolean }) {}
  /** A command was refused while queuing: EXEC answers EXECABORT. */
  private spoiled = false;
  private readonly watched = new Map<string, { key: Buffer; seen: Seen }>();

  /** Whether MULTI is open (commands queue). */
  get open(): boolean {
    return this.queued !== null;
  }

  /** Whether this command queues rather than runs (MULTI is open and it is not one of RUN_AT_ONCE). */
  queues(spec: CommandSpec): boolean {
    return this.queued !== null && !RUN_AT_ONCE.has(spec.name);
  }

  queue(spec: CommandSpec, args: Buffer[]): Reply {
    this.queued!.push({ spec, args });
    return QUEUED;
  }

  /** A command was refused (unknown, wrong arity) while MULTI is open. */
  refuse(): void {
    if (this.queued !== null) this.spoiled = true;
  }

  begin(): Reply {
    if (this.queued !== null) return new ReplyError(ErrorPrefix.ERR, 'MULTI calls can not be nested');
    this.queued = [];
    this.spoiled = false;
    this.session.inMulti = true;
    return OK;
  }

  discard(): Reply {
    if (this.queued === null) return new ReplyError(ErrorPrefix.ERR, 'DISCARD without MULTI');
    this.reset();
    return OK;
  }

  watch(s: Session, keys: readonly Buffer[]): Reply {
    if (this.queued !== null) return new ReplyError(ErrorPrefix.ERR, 'WATCH inside MULTI is not allowed');
    const locks = s.server.locks;
    for (const key of keys) {
      const k = keyString(key);
      if (this.watched.has(k)) continue; // Redis keeps the first WATCH of a key
      const read = (): Seen => s.server.store.get(key, s.readOptions).then(contextOf, () => undefined);
      const tail = locks.tail(k);
      this.watched.set(k, { key, seen: tail === undefined ? read() : tail.then(read, read) });
    }
    return OK;
  }

  unwatch(): Reply {
    this.watched.clear();
    return OK;
  }

  /** EXEC: takes the queue and the watched keys now (synchronously), runs them under isolation. */
  exec(s: Session, isolation: KeyIsolation): Reply | Promise<Reply> {
    const queued = this.queued;
    if (queued === null) return new ReplyError(ErrorPrefix.ERR, 'EXEC without MULTI');
    const spoiled = this.spoiled;
    const watched = [...this.watched.values()];
    this.reset();
    if (spoiled) return new ReplyError(ErrorPrefix.EXECABORT, 'Transaction discarded because of previous errors.');
    const keys = new Set<string>();
    for (const q of queued) {
      for (const k of keysOf(q.spec, q.args)) keys.add(k);
      if (q.spec.access === 'write') s.wrote = true;
    }
    for (const w of watched) keys.add(keyString(w.key));
    return isolation.exclusive([...keys], async () => {
      if (watched.length > 0 && (await changed(s, watched))) return null;
      const replies: Reply[] = [];
      for (const q of queued) {
        try {
          replies.push(await q.spec.run(s, q.args));
        } catch (err) {
          replies.push(errorReply(err));
        }
      }
      return replies;
    });
  }

  private reset(): void {
    this.queued = null;
    this.session.inMulti = false;
    this.spoiled = false;
    this.watched.clear();
  }
}

/** Whether any watched key's version differs from what WATCH saw (or could not be read). */
async function changed(s: Session, watched: readonly { key: Buffer; seen: Seen }[]): Promise<boolean> {
  const before = await Promise.all(watched.map((w) => w.seen));
  if (before.some((b) => b === undefined)) return true;
  let now: (ReadResult | undefined)[];
  try {
    now = await s.server.store.getMany(watched.map((w) => w.key), s.readOptions);
  } catch {
    return true;
  }
  for (let i = 0; i < watched.length; i++) if (!sameVersion(before[i]!, contextOf(now[i]))) return true;
  return false;
}

const transactions = new WeakMap<Session, Transaction>();

/** The transaction state of a connection, made on first use. */
export function transactionOf(s: Session): Transaction {
  let t = transactions.get(s);
  if (t === undefined) transactions.set(s, (t = new Transaction(s)));
  return t;
}

export const transactionCommands: readonly CommandSpec[] = [
  defineCommand('multi', { arity: 1, flags: ['fast'], run: (s) => transactionOf(s).begin() }),
  defineCommand('exec', { arity: 1, flags: [], run: (s) => transactionOf(s).exec(s, keyLockIsolation(s.server.locks)) }),
  defineCommand('discard', { arity: 1, flags: ['fast'], run: (s) => transactionOf(s).discard() }),
  // WATCH reads its keys itself (after this server's writes in flight on them), so it
  // takes no part in the key locks and its effect on the session is immediate.
  defineCommand('watch', { arity: -2, flags: ['fast'], keys: [1, -1, 1], access: 'none', run: (s, a) => transactionOf(s).watch(s, a.slice(1)) }),
  defineCommand('unwatch', { arity: 1, flags: ['fast'], run: (s) => transactionOf(s).unwatch() }),
];
