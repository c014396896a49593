// Runs on: the main thread. `<dir>/LOCK`: keeps two ringkv servers off one data directory.
//
// The file holds the owner's PID (decimal, newline). Taking it is an exclusive create
// (O_CREAT|O_EXCL). If it exists and that PID is alive, the directory is in use; if the PID
// is gone (a crash, kill -9), the lock is stale: it is renamed aside (atomic: of two
// processes taking over the same stale lock, one rename wins) and the create retried.
//
// A PID can be reused by an unrelated process after a crash; then the operator removes
// LOCK by hand, which the error message says.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, CliErrorCode } from './cli-error.js';

export const LOCK_FILE = 'LOCK';
/** Stale locks taken over in a row before giving up (another process keeps re-creating it). */
const MAX_ATTEMPTS = 5;

export interface DirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** Whether a process with this PID exists (EPERM: it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function takeDirLock(dir: string, pid = process.pid): DirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = readPid(path);
      if (owner !== undefined && owner !== pid && pidAlive(owner)) {
        throw new CliError(
          CliErrorCode.DIR_LOCKED,
          `data dir ${dir} in use by pid ${owner} (${path}); stop that server, or choose another dir with --dir / RINGKV_DIR. ` +
            `If pid ${owner} is not ringkv, remove ${path}`,
        );
      }
      // Stale (or unreadable: a writer died between create and write). Move it aside.
      try {
        renameSync(path, `${path}.stale-${pid}`);
        rmSync(`${path}.stale-${pid}`, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      continue;
    }
    try {
      writeSync(fd, `${pid}\n`);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      path,
      release() {
        if (released) return;
        released = true;
        if (readPid(path) === pid) rmSync(path, { force: true });
      },
    };
  }
  throw new CliError(CliErrorCode.DIR_LOCKED, `could not take ${path} after ${MAX_ATTEMPTS} attempts: another process keeps taking it`);
}
