// Runs on: any thread. Every public error of ringkv, with a stable `code`.
//
// Codes are part of the API: they never change meaning and are only ever added.
// A missing key is `undefined`, never an error.

export const ErrorCode = {
  /** A file or record failed its checksum or does not parse. The message names the file. */
  CORRUPTION: 'ERR_CORRUPTION',
  /** A key or value is larger than the engine accepts. */
  TOO_LARGE: 'ERR_TOO_LARGE',
  /** The disk is full (ENOSPC). Earlier data is intact; retry once space returns. */
  NO_SPACE: 'ERR_NO_SPACE',
  /** Any other I/O failure (EIO, EACCES, ...). */
  IO: 'ERR_IO',
  /** The store or engine was closed. */
  CLOSED: 'ERR_CLOSED',
  /** An argument or option is invalid. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** A frame from a peer or a shard does not parse. */
  PROTOCOL: 'ERR_PROTOCOL',
  /**
   * A put would leave a key with more concurrent values (siblings) than `maxSiblings`.
   * Nothing was written: read the key, resolve its values, write back with its context.
   */
  TOO_MANY_SIBLINGS: 'ERR_TOO_MANY_SIBLINGS',
  /** Fewer replicas answered than the request's R or W: the error says how many did. */
  QUORUM: 'ERR_QUORUM',
  /** A replica did not answer in time. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** A replica is down or went away before answering. */
  UNAVAILABLE: 'ERR_UNAVAILABLE',
  /**
   * A cluster change (commit, leave, remove) cannot be made now: this node is not the
   * claimant, a member is down, or the ring has not converged. The message says which.
   */
  NOT_READY: 'ERR_NOT_READY',
  /** A request was routed by an older ring than the node now holds: re-route and retry. */
  STALE_EPOCH: 'ERR_STALE_EPOCH',
  /**
   * A replica's hint store is at its byte limit: it keeps no more hints for down replicas
   * (the coordinator tries another stand-in; anti-entropy repairs what is not hinted).
   */
  HINTS_FULL: 'ERR_HINTS_FULL',
  /**
   * The data directory is held by another open store or server (in this process or another):
   * the message names the holder's PID. The OS drops the lock when its holder exits, however.
   */
  LOCKED: 'ERR_LOCKED',
  /**
   * A replica-side read-modify-write (an increment) found concurrent values (siblings) for
   * the key: it cannot pick one without losing the others. Read them (VGET), resolve, write.
   */
  CONFLICT: 'ERR_CONFLICT',
  /** An increment's stored value is not a 64-bit integer, or the sum would overflow (the message says which). */
  NOT_INTEGER: 'ERR_NOT_INTEGER',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class RingkvError extends Error {
  readonly code: ErrorCode;
  /** The file involved, when there is one. */
  readonly file: string | undefined;

  constructor(code: ErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RingkvError';
    this.code = code;
    this.file = options.file;
  }
}

export function corruption(file: string, what: string): RingkvError {
  return new RingkvError(ErrorCode.CORRUPTION, `corruption in ${file}: ${what}`, { file });
}

/**
 * Damage in the middle of a WAL segment: `recordsAfter` good records follow the bad one at
 * `offset`, so dropping the rest of the segment would lose them. Refused at open unless the
 * operator chose to salvage them (walRecovery 'skip-damaged').
 */
export function walCorruption(file: string, offset: number, recordsAfter: number, what: string): RingkvError {
  return new RingkvError(
    ErrorCode.CORRUPTION,
    `corruption in ${file}: damaged WAL record at offset ${offset} with ${recordsAfter} valid records after it ` +
      `(${what.replace(/^offset \d+: /, '')}); refusing to open and drop them. Restore the file, or start with ` +
      '--wal-recovery skip-damaged (RINGKV_WAL_RECOVERY, option walRecovery) to keep every valid record and keep ' +
      'a copy of the segment aside',
    { file },
  );
}

export function isCorruption(err: unknown): boolean {
  return err instanceof RingkvError && err.code === ErrorCode.CORRUPTION;
}

export function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * Turns an error thrown by a file operation into a RingkvError: ENOSPC becomes
 * ERR_NO_SPACE, anything else from the OS ERR_IO. RingkvErrors pass through unchanged.
 */
export function ioError(err: unknown, file: string, op: string): RingkvError {
  if (err instanceof RingkvError) return err;
  // ERR_NO_SPACE too: a RingkvError that crossed a thread (a merge job's) arrives as a plain Error with its code.
  const sys = hasCode(err, 'ENOSPC') || hasCode(err, ErrorCode.NO_SPACE) ? ErrorCode.NO_SPACE : ErrorCode.IO;
  const detail = err instanceof Error ? err.message : String(err);
  const hint = sys === ErrorCode.NO_SPACE
    ? ' (disk full: free space, then retry)'
    : hasCode(err, 'EMFILE') || hasCode(err, 'ENFILE')
      ? ' (out of file descriptors: raise ulimit -n, or lower maxclients)'
      : '';
  return new RingkvError(sys, `${op} ${file} failed: ${detail}${hint}`, { file, cause: err });
}

/** Checks an internal invariant; kept in every build because the checks are cheap. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}
