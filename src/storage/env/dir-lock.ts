// Runs on: the main thread. `<dir>/LOCK`: one owner per data directory (an embedded open()
// or a server, in this process or any other).
//
// The lock is an advisory lock the kernel holds for an open file description of LOCK
// (fs-native-extensions' tryLock: Linux F_OFD_SETLK, flock elsewhere). So:
//   - the kernel drops it when its holder exits, however it exits (kill -9 included): a
//     stale lock never exists, and nothing has to be deleted by hand before a restart;
//   - it belongs to the open file, not to the process: a second open() of the same dir in
//     the same process (another thread included) conflicts as one from another process does;
//   - the PID inside LOCK is information only (who holds it, for the error message); a PID
//     left by a dead holder means nothing, since no lock is held on the file.
// LOCK is never deleted: removing it while another process has it open but not yet locked
// would let that process and a third one (creating a new LOCK) both take "the" lock.
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import fsx from 'fs-native-extensions';
import { ErrorCode, RingkvError, ioError } from '../../errors.js';

/** The lock file's name inside the data dir. */
export const LOCK_FILE = 'LOCK';

export interface DirLock {
  readonly path: string;
  /** Drops the lock (and clears the PID in LOCK). Idempotent. */
  release(): void;
}

/** The PID written in a LOCK file, if it holds one. */
export function lockHolder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes `<dir>/LOCK` (creating dir and file if missing), or throws ERR_LOCKED naming the
 * holder's PID. `pid` is what is written for others to read (tests pass another).
 */
export function takeDirLock(dir: string, pid = process.pid): DirLock {
  const path = join(dir, LOCK_FILE);
  let fd: number;
  try {
    mkdirSync(dir, { recursive: true });
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  } catch (err) {
    throw ioError(err, path, 'opening the lock file');
  }
  let locked: boolean;
  try {
    locked = fsx.tryLock(fd);
  } catch (err) {
    closeSync(fd);
    throw ioError(err, path, 'locking');
  }
  if (!locked) {
    closeSync(fd);
    const holder = lockHolder(path);
    const who = holder === undefined ? 'another process (its PID is not written yet)' : holder === process.pid ? `this process (pid ${holder})` : `pid ${holder}`;
    throw new RingkvError(
      ErrorCode.LOCKED,
      `data dir ${dir} in use by ${who}: it holds ${path}. Close that store or stop that server, or use another dir`,
      { file: path },
    );
  }
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${pid}\n`, 0);
  } catch (err) {
    closeSync(fd);
    throw ioError(err, path, 'writing the PID to');
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      try {
        ftruncateSync(fd, 0);
      } finally {
        closeSync(fd); // drops the lock
      }
    },
  };
}
