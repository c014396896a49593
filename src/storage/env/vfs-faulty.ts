// Runs on: any thread (tests and simulations). FaultyVfs wraps a MemoryVfs and injects the
// failures a storage engine must survive:
//
// - a crash at the k-th mutating operation: that operation does not happen, CrashError is
//   thrown, and every later call throws CrashError (the process is dead) until powerLoss()
//   reboots the machine, keeping only what was durable (see MemoryVfs);
// - EIO, ENOSPC or EMFILE from chosen operations (failWith), which then have no effect;
// - a full disk (spaceLimit), with optional short writes before ENOSPC (partialWrites).
//
// Mutating operations, counted in `ops` (each call counts, whether it succeeds, fails or is
// the crash point): open in 'create'/'append' mode, append, sync, truncate, rename, unlink,
// syncDir, mkdirp. Reads (open 'read', read, size, exists, readdir, stat) and close are not
// counted. failWith applies to the operations named by VfsOpName (exists, readdir, stat and
// size never fail). One owner, one thread.

import { MemoryVfs, vfsError, type PowerLossOptions } from './vfs-memory.js';
import type { OpenMode, Vfs, VfsFile } from './vfs.js';

export type VfsOpName = 'open' | 'append' | 'sync' | 'truncate' | 'rename' | 'unlink' | 'syncDir' | 'mkdirp' | 'read' | 'close';

export type InjectedErrorCode = 'EIO' | 'ENOSPC' | 'EMFILE';

/** Thrown at the crash point and by every call after it, until powerLoss(). */
export class CrashError extends Error {
  readonly code = 'ECRASH';

  constructor(op: string, path: string) {
    super(`ECRASH: simulated crash (process dead), ${op} '${path}'`);
    this.name = 'CrashError';
  }
}

const DESCRIPTIONS: Record<InjectedErrorCode, string> = {
  EIO: 'i/o error (injected)',
  ENOSPC: 'no space left on device (injected)',
  EMFILE: 'too many open files (injected)',
};

/** What a FaultyFile asks of its FaultyVfs before each call. */
interface Gate {
  /** Any call: throws CrashError once crashed. */
  alive(op: string, path: string): void;
  /** A counted mutating call: may become the crash point; returns the code to fail with, if any. */
  mutate(op: VfsOpName, path: string): InjectedErrorCode | undefined;
  /** An uncounted call that failWith may fail. */
  uncounted(op: VfsOpName, path: string): InjectedErrorCode | undefined;
  /** A counted append: undefined to write it all, else the error to throw after storing `keep` bytes. */
  beforeAppend(path: string, bytes: number): { code: InjectedErrorCode; keep: number } | undefined;
}

class FaultyFile implements VfsFile {
  constructor(
    private readonly inner: VfsFile,
    private readonly gate: Gate,
  ) {}

  get path(): string {
    return this.inner.path;
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): number {
    this.throwIf(this.gate.uncounted('read', this.path), 'read');
    return this.inner.read(buf, offset, length, position);
  }

  /** With partialWrites, an ENOSPC append first writes the bytes that fit (a short write). */
  append(data: Uint8Array): void {
    const failure = this.gate.beforeAppend(this.path, data.length);
    if (failure === undefined) {
      this.inner.append(data);
      return;
    }
    if (failure.keep > 0) this.inner.append(data.subarray(0, failure.keep));
    this.throwIf(failure.code, 'write');
  }

  sync(): void {
    this.throwIf(this.gate.mutate('sync', this.path), 'fsync');
    this.inner.sync();
  }

  truncate(length: number): void {
    this.throwIf(this.gate.mutate('truncate', this.path), 'ftruncate');
    this.inner.truncate(length);
  }

  size(): number {
    this.gate.alive('size', this.path);
    return this.inner.size();
  }

  close(): void {
    this.throwIf(this.gate.uncounted('close', this.path), 'close');
    this.inner.close();
  }

  private throwIf(code: InjectedErrorCode | undefined, syscall: string): void {
    if (code !== undefined) throw vfsError(code, DESCRIPTIONS[code], syscall, this.path);
  }
}

export class FaultyVfs implements Vfs {
  /** When true, an append failing with ENOSPC first writes a prefix of its data. */
  partialWrites = false;
  /** Disk size in bytes: an append that would make inner.totalBytes() exceed it fails with ENOSPC. */
  spaceLimit: number | undefined = undefined;

  private opCount = 0;
  private crashAt: number | undefined;
  private isCrashed = false;
  private failure: { code: InjectedErrorCode; filter: ((op: VfsOpName, path: string) => boolean) | undefined } | undefined;
  private readonly gate: Gate;

  constructor(readonly inner = new MemoryVfs()) {
    this.gate = {
      alive: (op, path) => this.alive(op, path),
      mutate: (op, path) => this.mutate(op, path),
      uncounted: (op, path) => this.uncounted(op, path),
      beforeAppend: (path, bytes) => this.beforeAppend(path, bytes),
    };
  }

  /** Mutating operations attempted so far (including failed ones and the crash point). */
  get ops(): number {
    return this.opCount;
  }

  get crashed(): boolean {
    return this.isCrashed;
  }

  /**
   * Schedules a crash at the k-th mutating operation from now (k = 1: the next one), or
   * cancels the scheduled one with undefined. Fires once. REQUIRES: k is a positive integer.
   */
  crashAtOp(k: number | undefined): void {
    if (k !== undefined && !(Number.isInteger(k) && k >= 1)) throw new RangeError(`crashAtOp: k must be a positive integer, got ${k}`);
    this.crashAt = k === undefined ? undefined : this.opCount + k;
  }

  /**
   * While set, operations for which `filter` (default: all) returns true throw an Error
   * with `code` and have no effect (but see partialWrites). undefined clears it.
   */
  failWith(code: InjectedErrorCode | undefined, filter?: (op: VfsOpName, path: string) => boolean): void {
    this.failure = code === undefined ? undefined : { code, filter };
  }

  /** The machine loses power and reboots: see MemoryVfs.powerLoss. Clears the crashed state. */
  powerLoss(options?: PowerLossOptions): void {
    this.inner.powerLoss(options);
    this.isCrashed = false;
  }

  totalBytes(): number {
    return this.inner.totalBytes();
  }

  open(path: string, mode: OpenMode): VfsFile {
    const injected = mode === 'read' ? this.uncounted('open', path) : this.mutate('open', path);
    this.throwIf(injected, 'open', path);
    return new FaultyFile(this.inner.open(path, mode), this.gate);
  }

  exists(path: string): boolean {
    this.alive('exists', path);
    return this.inner.exists(path);
  }

  readdir(dir: string): string[] {
    this.alive('readdir', dir);
    return this.inner.readdir(dir);
  }

  mkdirp(dir: string): void {
    this.throwIf(this.mutate('mkdirp', dir), 'mkdir', dir);
    this.inner.mkdirp(dir);
  }

  rename(from: string, to: string): void {
    this.throwIf(this.mutate('rename', from), 'rename', from);
    this.inner.rename(from, to);
  }

  unlink(path: string): void {
    this.throwIf(this.mutate('unlink', path), 'unlink', path);
    this.inner.unlink(path);
  }

  syncDir(dir: string): void {
    this.throwIf(this.mutate('syncDir', dir), 'fsync', dir);
    this.inner.syncDir(dir);
  }

  stat(path: string): { size: number } {
    this.alive('stat', path);
    return this.inner.stat(path);
  }

  private alive(op: string, path: string): void {
    if (this.isCrashed) throw new CrashError(op, path);
  }

  private mutate(op: VfsOpName, path: string): InjectedErrorCode | undefined {
    this.alive(op, path);
    this.opCount++;
    if (this.crashAt !== undefined && this.opCount >= this.crashAt) {
      this.crashAt = undefined;
      this.isCrashed = true;
      throw new CrashError(op, path);
    }
    return this.injected(op, path);
  }

  private uncounted(op: VfsOpName, path: string): InjectedErrorCode | undefined {
    this.alive(op, path);
    return this.injected(op, path);
  }

  private injected(op: VfsOpName, path: string): InjectedErrorCode | undefined {
    const f = this.failure;
    return f !== undefined && (f.filter === undefined || f.filter(op, path)) ? f.code : undefined;
  }

  /**
   * Counts an append of `bytes` bytes and decides its fate: undefined if it may proceed,
   * else the error it fails with and how many bytes a short write stores first (only with
   * partialWrites and ENOSPC: half the data for an injected ENOSPC, what fits under
   * spaceLimit for a full disk).
   */
  private beforeAppend(path: string, bytes: number): { code: InjectedErrorCode; keep: number } | undefined {
    const injected = this.mutate('append', path);
    let room: number;
    if (injected === 'EIO') return { code: 'EIO', keep: 0 };
    if (injected === 'ENOSPC') {
      room = Math.floor(bytes / 2);
    } else {
      if (this.spaceLimit === undefined) return undefined;
      const free = Math.max(0, this.spaceLimit - this.inner.totalBytes());
      if (bytes <= free) return undefined;
      room = free;
    }
    return { code: 'ENOSPC', keep: this.partialWrites ? room : 0 };
  }

  private throwIf(code: InjectedErrorCode | undefined, syscall: string, path: string): void {
    if (code !== undefined) throw vfsError(code, DESCRIPTIONS[code], syscall, path);
  }
}
