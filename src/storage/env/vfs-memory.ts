// Runs on: any thread (no I/O; used by tests and simulations in place of RealVfs).
//
// MemoryVfs: a file system in memory that models durability the way vfs.ts states it, so
// that `powerLoss()` leaves exactly what a real disk could hold after the machine died.
//
//   directory  /db ──entries──▶ { "000001.log" → inode 7, "MANIFEST" → inode 3 }
//              └────durable───▶ { "MANIFEST" → inode 3 }          (as of the last syncDir)
//   inode 7    data: [ synced bytes | unsynced appended bytes | spare capacity ]
//                      └ durable prefix ┘ (or a private copy after a truncate, see Inode)
//
// - A file's bytes are durable only after sync() on a handle to it.
// - A directory entry (create, rename, unlink) is durable only after syncDir() of its
//   directory; a rename across two directories is two entry changes, each made durable by
//   its own directory's sync.
// - Directories themselves are durable as soon as mkdirp() returns (an engine makes its
//   directory once and never syncs the parent; modelling that loss buys nothing).
// - An inode lives while an entry (current or durable) or an open handle refers to it, so
//   an unlinked file stays readable through handles opened before the unlink.
//
// Not safe for concurrent use from several threads (it is plain objects); one owner only.

import { posix } from 'node:path';
import type { Random } from './random.js';
import type { OpenMode, Vfs, VfsFile } from './vfs.js';

export interface PowerLossOptions {
  /** When given, each file may keep a random prefix of its unsynced appends (a torn write). */
  tornTails?: Random;
}

/** An Error shaped like Node's fs errors: `ENOENT: no such file or directory, open '/x'`. */
export function vfsError(code: string, description: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${description}, ${syscall} '${path}'`), { code, syscall, path });
}

const DESCRIPTIONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  EISDIR: 'illegal operation on a directory',
  ENOTDIR: 'not a directory',
  EBADF: 'bad file descriptor',
  EINVAL: 'invalid argument',
  ENOTSUP: 'operation not supported by MemoryVfs',
};

function fail(code: string, syscall: string, path: string): never {
  throw vfsError(code, DESCRIPTIONS[code] ?? code, syscall, path);
}

/** First allocation of a file's buffer; it then doubles, so appends cost amortised O(bytes). */
const MIN_CAPACITY = 256;

/**
 * One file's bytes. Durable bytes are kept cheaply: while the file has only grown since its
 * last sync, they are `data[0 .. durableLength)`, so sync() is O(1). A truncate below that
 * length would overwrite them, so it first copies them aside into `durableCopy`, which then
 * stands for the durable bytes until the next sync.
 */
class Inode {
  private data: Uint8Array = new Uint8Array(0);
  /** Current size; bytes of `data` past it are garbage. */
  length = 0;
  /** Meaningful only while `durableCopy` is undefined; then always <= length. */
  private durableLength = 0;
  private durableCopy: Uint8Array | undefined;

  read(buf: Uint8Array, offset: number, length: number, position: number): number {
    if (position >= this.length) return 0;
    const n = Math.min(length, this.length - position);
    buf.set(this.data.subarray(position, position + n), offset);
    return n;
  }

  append(bytes: Uint8Array): void {
    const end = this.length + bytes.length;
    this.reserve(end);
    this.data.set(bytes, this.length);
    this.length = end;
  }

  truncate(length: number): void {
    if (length < this.length) {
      if (this.durableCopy === undefined && length < this.durableLength) {
        this.durableCopy = this.data.slice(0, this.durableLength);
      }
      this.length = length;
    } else if (length > this.length) {
      this.reserve(length);
      this.data.fill(0, this.length, length);
      this.length = length;
    }
  }

  sync(): void {
    this.durableCopy = undefined;
    this.durableLength = this.length;
  }

  /** Power loss: back to the durable bytes, or with `torn`, to a random longer prefix of what was appended. */
  revert(torn: Random | undefined): void {
    if (this.durableCopy !== undefined) {
      // A truncate happened since the last sync: no tearing, just the synced bytes.
      this.data = this.durableCopy;
      this.length = this.durableCopy.length;
      this.durableCopy = undefined;
    } else {
      const unsynced = this.length - this.durableLength;
      this.length = this.durableLength + (torn !== undefined && unsynced > 0 ? torn.int(unsynced + 1) : 0);
    }
    this.durableLength = this.length;
  }

  private reserve(capacity: number): void {
    if (capacity <= this.data.length) return;
    let size = Math.max(MIN_CAPACITY, this.data.length * 2);
    while (size < capacity) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.data.subarray(0, this.length));
    this.data = grown;
  }
}

class Dir {
  entries = new Map<string, Inode>();
  durable = new Map<string, Inode>();
  readonly subdirs = new Set<string>();
}

/** Handles of one power cycle share one; powerLoss() kills it, invalidating them all. */
interface PowerCycle {
  alive: boolean;
}

class MemoryFile implements VfsFile {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly inode: Inode,
    private readonly cycle: PowerCycle,
    private readonly writable: boolean,
  ) {}

  read(buf: Uint8Array, offset: number, length: number, position: number): number {
    this.check('read');
    if (!isCount(offset) || !isCount(length) || !isCount(position) || offset + length > buf.length) {
      throw Object.assign(new RangeError(`read out of range: offset ${offset}, length ${length}, position ${position}`), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
    return this.inode.read(buf, offset, length, position);
  }

  append(data: Uint8Array): void {
    this.check('write');
    if (!this.writable) fail('EBADF', 'write', this.path);
    this.inode.append(data);
  }

  sync(): void {
    this.check('fsync');
    this.inode.sync();
  }

  truncate(length: number): void {
    this.check('ftruncate');
    if (!this.writable || !isCount(length)) fail('EINVAL', 'ftruncate', this.path);
    this.inode.truncate(length);
  }

  size(): number {
    this.check('fstat');
    return this.inode.length;
  }

  /** Closing twice is a no-op (as RealFile); closing after powerLoss() throws EBADF. */
  close(): void {
    if (this.closed) return;
    this.check('close');
    this.closed = true;
  }

  private check(syscall: string): void {
    if (this.closed || !this.cycle.alive) fail('EBADF', syscall, this.path);
  }
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n >= 0;
}

export class MemoryVfs implements Vfs {
  private readonly dirs = new Map<string, Dir>([['/', new Dir()]]);
  private cycle: PowerCycle = { alive: true };

  open(path: string, mode: OpenMode): VfsFile {
    const p = normalize(path);
    if (this.dirs.has(p)) fail('EISDIR', 'open', p);
    const dir = this.parentOf(p, 'open');
    const name = posix.basename(p);
    let inode = dir.entries.get(name);
    if (inode === undefined) {
      if (mode === 'read') fail('ENOENT', 'open', p);
      inode = new Inode();
      dir.entries.set(name, inode);
    } else if (mode === 'create') {
      inode.truncate(0);
    }
    return new MemoryFile(p, inode, this.cycle, mode !== 'read');
  }

  exists(path: string): boolean {
    const p = normalize(path);
    if (this.dirs.has(p)) return true;
    return this.dirs.get(posix.dirname(p))?.entries.has(posix.basename(p)) ?? false;
  }

  readdir(dir: string): string[] {
    const d = this.dirAt(normalize(dir), 'scandir');
    return [...d.entries.keys(), ...d.subdirs].sort();
  }

  mkdirp(dir: string): void {
    const p = normalize(dir);
    let at = '/';
    for (const part of p.split('/').filter((s) => s !== '')) {
      const parent = this.dirs.get(at);
      at = posix.join(at, part);
      if (this.dirs.has(at)) continue;
      if (parent === undefined) throw new Error(`MemoryVfs: missing parent of ${at}`); // unreachable: parents made first
      if (parent.entries.has(part)) fail(at === p ? 'EEXIST' : 'ENOTDIR', 'mkdir', p);
      this.dirs.set(at, new Dir());
      parent.subdirs.add(part);
    }
  }

  /** Same-directory and cross-directory renames of files; renaming a directory is ENOTSUP. */
  rename(from: string, to: string): void {
    const f = normalize(from);
    const t = normalize(to);
    if (this.dirs.has(f)) fail('ENOTSUP', 'rename', f);
    const fromDir = this.parentOf(f, 'rename');
    const inode = fromDir.entries.get(posix.basename(f));
    if (inode === undefined) fail('ENOENT', 'rename', f);
    if (this.dirs.has(t)) fail('EISDIR', 'rename', t);
    const toDir = this.parentOf(t, 'rename');
    if (f === t) return;
    fromDir.entries.delete(posix.basename(f));
    toDir.entries.set(posix.basename(t), inode);
  }

  unlink(path: string): void {
    const p = normalize(path);
    if (this.dirs.has(p)) fail('EISDIR', 'unlink', p);
    const dir = this.parentOf(p, 'unlink');
    if (!dir.entries.delete(posix.basename(p))) fail('ENOENT', 'unlink', p);
  }

  syncDir(dir: string): void {
    const d = this.dirAt(normalize(dir), 'fsync');
    d.durable = new Map(d.entries);
  }

  stat(path: string): { size: number } {
    const p = normalize(path);
    if (this.dirs.has(p)) return { size: 0 };
    const inode = this.dirs.get(posix.dirname(p))?.entries.get(posix.basename(p));
    if (inode === undefined) fail('ENOENT', 'stat', p);
    return { size: inode.length };
  }

  /**
   * The machine loses power: every directory's entries and every file's bytes revert to
   * their durable state (see PowerLossOptions for torn writes), and every open handle
   * becomes invalid (EBADF). The same object is then used as the rebooted disk.
   */
  powerLoss(options: PowerLossOptions = {}): void {
    this.cycle.alive = false;
    this.cycle = { alive: true };
    const reverted = new Set<Inode>();
    for (const dir of this.dirs.values()) {
      dir.entries = new Map(dir.durable);
      for (const inode of dir.durable.values()) {
        if (reverted.has(inode)) continue;
        reverted.add(inode);
        inode.revert(options.tornTails);
      }
    }
  }

  /** Sum of the current sizes of the files that have a name (for tests and FaultyVfs.spaceLimit). */
  totalBytes(): number {
    const counted = new Set<Inode>();
    let total = 0;
    for (const dir of this.dirs.values()) {
      for (const inode of dir.entries.values()) {
        if (counted.has(inode)) continue;
        counted.add(inode);
        total += inode.length;
      }
    }
    return total;
  }

  /** The directory holding the file `path`: ENOENT if missing, ENOTDIR if it is a file. */
  private parentOf(path: string, syscall: string): Dir {
    if (path === '/') fail('EISDIR', syscall, path);
    return this.dirAt(posix.dirname(path), syscall, path);
  }

  private dirAt(dir: string, syscall: string, reported = dir): Dir {
    const d = this.dirs.get(dir);
    if (d !== undefined) return d;
    if (this.exists(dir)) fail('ENOTDIR', syscall, reported);
    fail('ENOENT', syscall, reported);
  }
}

/** Absolute, normalised, no trailing slash: `db//x/../000001.log` → `/db/000001.log`. */
function normalize(path: string): string {
  return posix.resolve('/', path);
}
