// Runs on: a shard worker. Appends records to one WAL segment file (format: wal-format.ts).
//
// Owned by one shard's engine and called only from its thread; not safe for concurrent use.
// The engine calls `add` once per write batch (group commit) and `sync` before it
// acknowledges the batches added since the last sync.
//
// Failure contract: an exception from `add` or `sync` that comes from the file (ENOSPC,
// EIO, ...) breaks the writer. Before throwing, `add` cuts the file back to the end of the
// last complete record (`size`), so no partial record is left behind; if even that cut
// fails, the partial record stays and readers drop it as a torn tail. A broken writer
// throws from every later `add` and `sync`; the engine closes it and opens a new segment.
// After a failed `sync` the records added since the previous successful sync may or may
// not be durable (the kernel may have dropped the dirty pages, so a retried fsync would
// lie): the engine must not acknowledge them on the strength of this segment.
import { dirname } from 'node:path';
import { ErrorCode, RingkvError, ioError } from '../../errors.js';
import type { Vfs, VfsFile } from '../env/index.js';
import { MAX_WAL_PAYLOAD, WAL_HEADER_BYTES, WAL_LENGTH_OFFSET, WalRecordType, encodeWalHeader } from './wal-format.js';

/** First size of the scratch buffer a record is assembled in; a batch of ~100 small writes. */
const INITIAL_SCRATCH_BYTES = 16 * 1024;
/**
 * Records up to this size are copied with their header into the scratch buffer and written
 * with one append call. Bigger ones are written as header, then payload: past ~1 MiB the
 * copy costs more than the extra write call, and the scratch buffer (kept for the writer's
 * life) would pin that much memory.
 */
const COALESCE_LIMIT_BYTES = 1024 * 1024;

export class WalWriter {
  /** The open segment; undefined once closed. */
  private file: VfsFile | undefined;
  /** Header of the record being added, and the view of its length+type bytes the crc covers. */
  private readonly header = new Uint8Array(WAL_HEADER_BYTES);
  private readonly headerLengthAndType = this.header.subarray(WAL_LENGTH_OFFSET);
  /** Header+payload are assembled here; grown (doubling), never shrunk or re-created per call. */
  private scratch = new Uint8Array(INITIAL_SCRATCH_BYTES);
  /** The last view scratch[0..viewLength] handed to append, reused while lengths repeat. */
  private view = this.scratch.subarray(0, 0);
  /** Bytes of complete records in the file: where a failed add cuts the file back to. */
  private written = 0;
  private unsynced = 0;
  /** Set once a parent-directory sync made the segment's directory entry durable. */
  private dirSynced = false;
  /** The failure that broke the writer, if one did. */
  private failure: RingkvError | undefined;

  private constructor(private readonly vfs: Vfs, readonly path: string, file: VfsFile) {
    this.file = file;
  }

  /**
   * Creates the new, empty segment file `path` and a writer appending to it. Refuses
   * (ERR_INVALID_ARGUMENT) if `path` exists: a segment is never overwritten, since it may
   * hold the only copy of acknowledged writes.
   */
  static create(vfs: Vfs, path: string): WalWriter {
    let file: VfsFile;
    try {
      if (vfs.exists(path)) {
        throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `WAL segment ${path} already exists`, { file: path });
      }
      file = vfs.open(path, 'create');
    } catch (err) {
      throw ioError(err, path, 'create WAL segment'); // a RingkvError passes through as is
    }
    return new WalWriter(vfs, path, file);
  }

  /** Bytes of complete records written to the segment (synced or not). */
  get size(): number {
    return this.written;
  }

  /** Bytes added since the last successful sync. */
  get unsyncedBytes(): number {
    return this.unsynced;
  }

  /**
   * Appends one record holding `payload` (one write batch). It is durable only after `sync`.
   * `payload` is copied or written before add returns; the caller may reuse it at once.
   * Throws ERR_TOO_LARGE (writer still usable, nothing written) if payload exceeds
   * MAX_WAL_PAYLOAD; ERR_NO_SPACE / ERR_IO (writer broken) if the write fails.
   */
  add(payload: Uint8Array): void {
    const file = this.usableFile();
    if (payload.length > MAX_WAL_PAYLOAD) {
      throw new RingkvError(
        ErrorCode.TOO_LARGE,
        `WAL record of ${payload.length} bytes exceeds the maximum of ${MAX_WAL_PAYLOAD}`,
        { file: this.path },
      );
    }
    encodeWalHeader(this.header, this.headerLengthAndType, WalRecordType.FULL, payload);
    const total = WAL_HEADER_BYTES + payload.length;
    try {
      if (total <= COALESCE_LIMIT_BYTES) {
        file.append(this.assemble(payload, total));
      } else {
        file.append(this.header);
        file.append(payload);
      }
    } catch (err) {
      this.breakAfterFailedAppend(file, err);
    }
    this.written += total;
    this.unsynced += total;
  }

  /**
   * Makes every record added so far durable. The first sync also syncs the parent
   * directory, so that the segment file itself survives a crash. A failure breaks the writer.
   */
  sync(): void {
    const file = this.usableFile();
    try {
      file.sync();
      if (!this.dirSynced) {
        this.vfs.syncDir(dirname(this.path));
        this.dirSynced = true;
      }
    } catch (err) {
      this.failure = ioError(err, this.path, 'sync WAL segment');
      throw this.failure;
    }
    this.unsynced = 0;
  }

  /**
   * sync(), for `periodic` mode, without blocking this thread where the Vfs can (an fsync
   * under load takes 3-10 ms, and a shard serves nothing while it waits): `done` gets the
   * outcome on a later event-loop turn. It covers the records added before the call; those
   * added meanwhile stay unsynced for the next one. A failure breaks the writer as sync()'s
   * does, unless the writer was closed meanwhile (its closer synced it, or dropped it).
   * The first sync of a segment (which also syncs its directory) is synchronous.
   */
  syncInBackground(done: (err: RingkvError | undefined) => void): void {
    const file = this.usableFile();
    if (file.syncInBackground === undefined || !this.dirSynced) {
      let failure: RingkvError | undefined;
      try {
        this.sync();
      } catch (err) {
        failure = err as RingkvError;
      }
      done(failure);
      return;
    }
    const covered = this.unsynced;
    file.syncInBackground((err) => {
      if (this.file !== file) return done(undefined); // closed meanwhile: not this writer's to report
      if (err !== null) {
        this.failure ??= ioError(err, this.path, 'sync WAL segment');
        return done(this.failure);
      }
      this.unsynced = Math.max(0, this.unsynced - covered);
      done(undefined);
    });
  }

  /**
   * Closes the file. Does not sync: call `sync` first for durability. Allowed (and
   * idempotent) on a broken writer, so the engine can release it; later calls throw ERR_CLOSED.
   */
  close(): void {
    const file = this.file;
    if (file === undefined) return;
    this.file = undefined;
    try {
      file.close();
    } catch (err) {
      throw ioError(err, this.path, 'close WAL segment');
    }
  }

  private usableFile(): VfsFile {
    if (this.failure !== undefined) {
      throw new RingkvError(
        this.failure.code,
        `WAL writer for ${this.path} is broken by an earlier failure (open a new segment): ${this.failure.message}`,
        { file: this.path, cause: this.failure },
      );
    }
    if (this.file === undefined) {
      throw new RingkvError(ErrorCode.CLOSED, `WAL writer for ${this.path} is closed`, { file: this.path });
    }
    return this.file;
  }

  /** Copies header+payload into the scratch buffer; returns the view of those `total` bytes. */
  private assemble(payload: Uint8Array, total: number): Uint8Array {
    if (total > this.scratch.length) {
      let capacity = this.scratch.length * 2;
      while (capacity < total) capacity *= 2;
      this.scratch = new Uint8Array(Math.min(capacity, COALESCE_LIMIT_BYTES));
      this.view = this.scratch.subarray(0, 0);
    }
    this.scratch.set(this.header, 0);
    this.scratch.set(payload, WAL_HEADER_BYTES);
    if (this.view.length !== total) this.view = this.scratch.subarray(0, total);
    return this.view;
  }

  /** Cuts off whatever part of the failed record reached the file, breaks the writer, throws. */
  private breakAfterFailedAppend(file: VfsFile, err: unknown): never {
    let failure = ioError(err, this.path, 'append to WAL segment');
    try {
      file.truncate(this.written);
    } catch (truncateErr) {
      const detail = truncateErr instanceof Error ? truncateErr.message : String(truncateErr);
      failure = new RingkvError(
        failure.code,
        `${failure.message}; cutting the partial record off also failed (${detail}), readers will drop it as a torn tail`,
        { file: this.path, cause: err },
      );
    }
    this.failure = failure;
    throw failure;
  }
}
