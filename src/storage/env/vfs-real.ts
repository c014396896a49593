// Runs on: a shard worker or a piscina job. The Vfs over the real file system (node:fs,
// synchronous calls: fine off the main thread, and cheaper than promises per call).
//
// fsync timing: given a histogram, every fsync through this Vfs (a file's sync() and
// syncInBackground(), a directory's syncDir()) is timed into it: two clock reads around a
// call that takes hundreds of µs. The shard worker passes one and reports it in its stats.
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import type { Histogram } from '../../histogram.js';
import type { OpenMode, Vfs, VfsFile } from './vfs.js';

const FLAGS: Record<OpenMode, string> = { read: 'r', create: 'w+', append: 'a+' };

class RealFile implements VfsFile {
  private end: number;

  constructor(readonly path: string, private fd: number, private readonly fsyncs: Histogram | undefined) {
    this.end = fs.fstatSync(fd).size;
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): number {
    return fs.readSync(this.fd, buf, offset, length, position);
  }

  append(data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      done += fs.writeSync(this.fd, data, done, data.length - done, this.end + done);
    }
    this.end += data.length;
  }

  sync(): void {
    if (this.fsyncs === undefined) return fs.fsyncSync(this.fd);
    const started = performance.now();
    fs.fsyncSync(this.fd);
    this.fsyncs.recordMs(performance.now() - started);
  }

  syncInBackground(done: (err: Error | null) => void): void {
    const fsyncs = this.fsyncs;
    if (fsyncs === undefined) return fs.fsync(this.fd, done);
    const started = performance.now();
    fs.fsync(this.fd, (err) => {
      fsyncs.recordMs(performance.now() - started);
      done(err);
    });
  }

  truncate(length: number): void {
    fs.ftruncateSync(this.fd, length);
    this.end = length;
  }

  size(): number {
    return this.end;
  }

  close(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export class RealVfs implements Vfs {
  /** @param fsyncs where each fsync's duration is recorded (default: not timed). */
  constructor(private readonly fsyncs?: Histogram) {}

  open(path: string, mode: OpenMode): VfsFile {
    return new RealFile(path, fs.openSync(path, FLAGS[mode]), this.fsyncs);
  }

  exists(path: string): boolean {
    return fs.existsSync(path);
  }

  readdir(dir: string): string[] {
    return fs.readdirSync(dir);
  }

  mkdirp(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
  }

  rename(from: string, to: string): void {
    fs.renameSync(from, to);
  }

  unlink(path: string): void {
    fs.unlinkSync(path);
  }

  syncDir(dir: string): void {
    const fd = fs.openSync(dir, 'r');
    try {
      const started = performance.now();
      fs.fsyncSync(fd);
      this.fsyncs?.recordMs(performance.now() - started);
    } finally {
      fs.closeSync(fd);
    }
  }

  stat(path: string): { size: number } {
    return { size: fs.statSync(path).size };
  }
}

/** The directory holding `path` (for syncDir after creating a file). */
export function parentDir(path: string): string {
  return dirname(path);
}
