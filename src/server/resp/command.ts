// Runs on: the main thread. What a command is: its name, arity and key positions (as Redis
// describes them in COMMAND), how it takes part in the key locks, and its handler.
import type { ReadResult } from '../../index.js';
import { type Reply, Simple } from './reply.js';
import type { Session } from './session.js';

/**
 * How a command takes part in KeyLocks: 'none' (no keys, runs at once), 'read' (waits for
 * writes in flight on its keys), 'write' (waits for them, then is the keys' new tail; a
 * blind write waits only for read-modify-writes: CommandSpec.blind).
 */
export type Access = 'none' | 'read' | 'write';

export type Handler = (s: Session, args: Buffer[]) => Reply | Promise<Reply>;

export interface CommandSpec {
  /** Lower case. */
  readonly name: string;
  /** Redis's arity: n = exactly n arguments (the name included); -n = at least n. */
  readonly arity: number;
  /** Redis's command flags, for COMMAND (write, readonly, fast, ...). */
  readonly flags: readonly Simple[];
  /** Key positions: first, last (negative: from the end), step; 0, 0, 0 = no keys. */
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  readonly access: Access;
  /**
   * A write that is one store request per key and reads nothing first (plain SET, MSET,
   * INCR at the replica), for these arguments: it waits only for a read-modify-write in
   * flight on its keys, not for earlier blind writes (KeyLocks). Undefined: never blind.
   */
  readonly blind: ((s: Session, args: readonly Buffer[]) => boolean) | undefined;
  /**
   * The keys of a command whose keys are not at fixed positions (EVAL's numkeys): when
   * present, execute() locks these instead of firstKey..lastKey. REQUIRES: args passed arity.
   */
  readonly keysOf?: (args: Buffer[]) => Buffer[];
  /** Runs before authentication (AUTH, HELLO, QUIT). */
  readonly noAuth: boolean;
  readonly run: Handler;
  /**
   * A read whose whole work is one store get of its key (args[firstKey]) and a pure answer
   * from the result (GET): run without a promise when nothing orders it (connection.ts);
   * `run` is the same command for every other case (MULTI, a write in flight on the key,
   * scripts). May throw a ReplyError (e.g. CONFLICT), which becomes the reply.
   */
  readonly fastRead?: FastRead;
  /**
   * For these arguments, the command's whole work is one overwrite put of args[firstKey] =
   * args[firstKey + 1], answered OK (a plain SET): run without a promise when nothing but
   * other such writes is in flight on the key (KeyLocks.startBlind, connection.ts).
   */
  readonly fastPut?: (s: Session, args: readonly Buffer[]) => boolean;
}

/** What a fastRead command answers for the read of its key. */
export type FastRead = (s: Session, key: Buffer, read: ReadResult | undefined) => Reply;

export interface Definition {
  arity: number;
  flags?: readonly string[];
  /** [first, last, step]; omitted: no keys. */
  keys?: readonly [number, number, number];
  access?: Access;
  /** See CommandSpec.blind (only for 'write' access). */
  blind?: (s: Session, args: readonly Buffer[]) => boolean;
  /** Keys at positions the table cannot describe (see CommandSpec.keysOf); access then defaults to 'read'. */
  keysOf?: (args: Buffer[]) => Buffer[];
  noAuth?: boolean;
  run: Handler;
  /** See CommandSpec.fastRead (only for a one-key 'read' command). */
  fastRead?: FastRead;
  /** See CommandSpec.fastPut (only for a blind 'write' command). */
  fastPut?: (s: Session, args: readonly Buffer[]) => boolean;
}

const flagReplies = new Map<string, Simple>();
function flag(name: string): Simple {
  let f = flagReplies.get(name);
  if (f === undefined) flagReplies.set(name, (f = new Simple(name)));
  return f;
}

export function defineCommand(name: string, d: Definition): CommandSpec {
  const [firstKey, lastKey, step] = d.keys ?? [0, 0, 0];
  const hasKeys = d.keys !== undefined || d.keysOf !== undefined;
  return {
    name,
    arity: d.arity,
    flags: (d.flags ?? []).map(flag),
    firstKey,
    lastKey,
    step,
    access: hasKeys ? (d.access ?? 'read') : 'none',
    blind: d.access === 'write' ? d.blind : undefined,
    ...(d.keysOf === undefined ? {} : { keysOf: d.keysOf }),
    noAuth: d.noAuth ?? false,
    run: d.run,
    ...(d.fastRead === undefined ? {} : { fastRead: d.fastRead }),
    ...(d.fastPut === undefined ? {} : { fastPut: d.fastPut }),
  };
}

/** Whether `args` (the name included) fits the command's arity. */
export function arityFits(spec: CommandSpec, args: readonly Buffer[]): boolean {
  return spec.arity >= 0 ? args.length === spec.arity : args.length >= -spec.arity;
}
