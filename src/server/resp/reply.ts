// Runs on: the main thread. The values a command answers with, before they are encoded
// (writer.ts), and how ringkv's errors become Redis error replies.
//
// A command returns a plain JS value so the common replies allocate nothing of their own:
//
//   Uint8Array   bulk string ($len\r\n bytes\r\n)
//   string       bulk string of its UTF-8 bytes
//   number       integer (:n\r\n); must be a safe integer
//   bigint       integer
//   null         null: $-1\r\n in RESP2, _\r\n in RESP3
//   Simple       status (+OK\r\n), pre-encoded
//   ReplyError   error (-PREFIX message\r\n)
//   RespMap      map: %n in RESP3, a flat array of 2n in RESP2
//   Reply[]      array (*n\r\n ...)
//
// Error prefixes are part of the server's interface: clients match on them, so they only
// ever grow (never change meaning).
import { ErrorCode, RingkvError } from '../../errors.js';

export type Reply = Uint8Array | string | number | bigint | null | Simple | ReplyError | RespMap | readonly Reply[];

/** A status reply; its wire bytes are encoded once. */
export class Simple {
  readonly bytes: Buffer;
  constructor(readonly text: string) {
    this.bytes = Buffer.from(`+${text}\r\n`, 'latin1');
  }
}

export const OK = new Simple('OK');
export const PONG = new Simple('PONG');

/** An error reply: `-PREFIX message`. Thrown or returned by commands. */
export class ReplyError {
  constructor(
    /** The first word, matched by clients: ERR, WRONGTYPE, NOAUTH, CONFLICT, QUORUM, ... */
    readonly prefix: string,
    readonly message: string,
  ) {}

  /** The whole line without its CRLF (CR and LF in messages become spaces). */
  get line(): string {
    return `${this.prefix} ${this.message}`.replace(/[\r\n]+/g, ' ');
  }
}

/** A map reply (HELLO, CONFIG GET): key, value, key, value, ... */
export class RespMap {
  constructor(readonly entries: readonly Reply[]) {}
}

/** Error prefixes on the wire (append-only). */
export const ErrorPrefix = {
  /** Generic, as Redis: bad syntax, bad arguments, unknown commands. */
  ERR: 'ERR',
  /** The key holds several concurrent values: VGET reads them, VSET ... CONTEXT resolves them. */
  CONFLICT: 'CONFLICT',
  /** Fewer replicas answered than R or W. */
  QUORUM: 'QUORUM',
  /** A replica did not answer in time. */
  TIMEOUT: 'TIMEOUT',
  /** A replica is down. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** A key or value over the store's limits. */
  TOOLARGE: 'TOOLARGE',
  /** A put would leave more concurrent values than the store's maxSiblings. */
  SIBLINGS: 'SIBLINGS',
  /** The disk is full; earlier data is intact. */
  NOSPACE: 'NOSPACE',
  /** Any other storage failure (I/O). */
  IOERR: 'IOERR',
  /** The store is closed (the server is shutting down). */
  CLOSED: 'CLOSED',
  NOAUTH: 'NOAUTH',
  WRONGPASS: 'WRONGPASS',
  NOPROTO: 'NOPROTO',
  /** A replica's copy failed its checksum (ERR_CORRUPTION): never a wrong value instead. */
  CORRUPTION: 'CORRUPTION',
  /** EXEC of a transaction in which a command was refused while queuing; nothing ran. */
  EXECABORT: 'EXECABORT',
  /** EVALSHA of a SHA-1 the script cache does not hold: the client sends EVAL. */
  NOSCRIPT: 'NOSCRIPT',
  /** SCRIPT KILL with no script running. */
  NOTBUSY: 'NOTBUSY',
  /** SCRIPT KILL of a script that has written. */
  UNKILLABLE: 'UNKILLABLE',
} as const;

const prefixOfCode: Record<string, string> = {
  [ErrorCode.QUORUM]: ErrorPrefix.QUORUM,
  [ErrorCode.TIMEOUT]: ErrorPrefix.TIMEOUT,
  [ErrorCode.UNAVAILABLE]: ErrorPrefix.UNAVAILABLE,
  [ErrorCode.TOO_LARGE]: ErrorPrefix.TOOLARGE,
  [ErrorCode.TOO_MANY_SIBLINGS]: ErrorPrefix.SIBLINGS,
  [ErrorCode.NO_SPACE]: ErrorPrefix.NOSPACE,
  [ErrorCode.IO]: ErrorPrefix.IOERR,
  [ErrorCode.CORRUPTION]: ErrorPrefix.CORRUPTION,
  [ErrorCode.CLOSED]: ErrorPrefix.CLOSED,
  [ErrorCode.INVALID_ARGUMENT]: ErrorPrefix.ERR,
  [ErrorCode.PROTOCOL]: ErrorPrefix.ERR,
};

/** The reply for anything a command threw: ReplyErrors as they are, RingkvErrors by code. */
export function errorReply(err: unknown): ReplyError {
  if (err instanceof ReplyError) return err;
  if (err instanceof RingkvError) return new ReplyError(prefixOfCode[err.code] ?? ErrorPrefix.ERR, err.message);
  const message = err instanceof Error ? err.message : String(err);
  return new ReplyError(ErrorPrefix.ERR, `internal error: ${message}`);
}

export function syntaxError(): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, 'syntax error');
}

export function notInteger(): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, 'value is not an integer or out of range');
}

export function conflict(key: Uint8Array, values: number): ReplyError {
  return new ReplyError(
    ErrorPrefix.CONFLICT,
    `key '${printable(key)}' has ${values} concurrent values: use VGET to read them and VSET ... CONTEXT to resolve`,
  );
}

/** A key or argument for an error message: at most 64 characters, control bytes escaped. */
export function printable(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 64)).toString('latin1');
  const clean = text.replace(/[\x00-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return bytes.length > 64 ? `${clean}...` : clean;
}
