// Runs on: a shard worker or a piscina job (synchronous file calls are fine off the main thread).
//
// The Vfs is the seam through which the storage engine touches files: every open, read,
// write, fsync, rename and unlink goes through it, so tests can swap the real file system
// (RealVfs) for an in-memory one (MemoryVfs) or one that injects faults (FaultyVfs: power
// loss that drops unsynced writes, EIO/ENOSPC, a crash at the k-th operation).
//
// Semantics every implementation keeps, as POSIX does:
// - Data written to a file is durable only after `sync()` on that file.
// - A created, renamed or unlinked directory entry is durable only after `syncDir()` on
//   its directory.
// - `rename` atomically replaces the target.
// - An unlinked file stays readable through handles opened before the unlink.
// Errors are thrown as Node's are: an Error with `code` 'ENOENT', 'EEXIST', 'ENOSPC', 'EIO', ...

export interface VfsFile {
  readonly path: string;
  /** Reads up to `length` bytes at file `position` into `buf[offset..]`; returns the count read (0 at EOF). */
  read(buf: Uint8Array, offset: number, length: number, position: number): number;
  /** Appends all of `data` at the end of the file (the file was opened for writing). */
  append(data: Uint8Array): void;
  /** Makes everything written so far durable (fsync). */
  sync(): void;
  /**
   * sync() without blocking the calling thread (libuv's thread pool): `done` is called with
   * its outcome on a later turn of the event loop; appends made meanwhile may not be
   * covered. Optional: a Vfs without it gets sync() (the in-memory and fault-injecting ones).
   */
  syncInBackground?(done: (err: Error | null) => void): void;
  /** Cuts the file to `length` bytes. */
  truncate(length: number): void;
  /** Current size in bytes, including unsynced writes. */
  size(): number;
  close(): void;
}

export type OpenMode =
  /** Existing file, read only. */
  | 'read'
  /** Create a new empty file, truncating one that exists; read and append. */
  | 'create'
  /** Existing file (created if missing), positioned at its end; read and append. */
  | 'append';

export interface Vfs {
  open(path: string, mode: OpenMode): VfsFile;
  exists(path: string): boolean;
  /** Names (not paths) of the entries in `dir`. */
  readdir(dir: string): string[];
  /** Creates `dir` and its missing parents. */
  mkdirp(dir: string): void;
  rename(from: string, to: string): void;
  unlink(path: string): void;
  /** Makes the directory's entries (creates, renames, unlinks) durable. */
  syncDir(dir: string): void;
  /** Size of the file at `path`. */
  stat(path: string): { size: number };
}

/** Reads a whole file through the Vfs. */
export function readWholeFile(vfs: Vfs, path: string): Uint8Array {
  const file = vfs.open(path, 'read');
  try {
    const size = file.size();
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = file.read(buf, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return done === size ? buf : buf.subarray(0, done);
  } finally {
    file.close();
  }
}

/**
 * Writes `data` to `path` atomically and durably: write `path.tmp`, fsync it, rename it
 * over `path`, fsync the directory. After a crash the file holds either the old or the
 * new contents, never a mix.
 */
export function writeFileAtomic(vfs: Vfs, dir: string, name: string, data: Uint8Array): void {
  const tmp = `${dir}/${name}.tmp`;
  const file = vfs.open(tmp, 'create');
  try {
    file.append(data);
    file.sync();
  } finally {
    file.close();
  }
  vfs.rename(tmp, `${dir}/${name}`);
  vfs.syncDir(dir);
}
