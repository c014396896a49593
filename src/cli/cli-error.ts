// Runs on: the main thread. Errors of the `ringkv` command, with stable codes and the exit
// status each one ends the process with. Messages are written for the operator: they say
// what is wrong and which flag or environment variable changes it.

export const CliErrorCode = {
  /** A bad flag, environment variable or config file value. Exit status 2, as getopt tools. */
  USAGE: 'ERR_USAGE',
  /** The data directory is locked by another live ringkv process. */
  DIR_LOCKED: 'ERR_DIR_LOCKED',
  /** A port (RESP or admin) is already taken. */
  PORT_IN_USE: 'ERR_PORT_IN_USE',
  /** `ringkv status` / `bench` could not reach the server. */
  UNREACHABLE: 'ERR_UNREACHABLE',
  /** The server refused a command (its own code and message follow). */
  REFUSED: 'ERR_REFUSED',
  /** `ringkv cluster leave --timeout` ran out before the node had left. */
  WAIT_TIMEOUT: 'ERR_WAIT_TIMEOUT',
} as const;

export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

export class CliError extends Error {
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
  }

  /** The process exit status for this error. */
  get exitCode(): number {
    return this.code === CliErrorCode.USAGE ? 2 : 1;
  }
}

export function usage(message: string): CliError {
  return new CliError(CliErrorCode.USAGE, message);
}
