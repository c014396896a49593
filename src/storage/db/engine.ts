// Runs on: a shard worker (or any one thread that owns the engine).
//
// The LSM engine of one shard, in the LevelDB tradition:
//   write: WAL append (one record and, in `batch` mode, one fsync per batch) -> memtable;
//          a full memtable is frozen, a new WAL segment started, and the frozen one written
//          to an SSTable in the background (slices on this thread's event loop) while
//          writes go on; if frozen memtables pile up past `maxFrozenMemtables`, the writer
//          finishes the oldest flush itself (back-pressure at disk speed).
//   read:  memtable -> frozen memtables (newest first) -> SSTables newest first, each
//          behind its Bloom filter, index and the block cache.
//   compaction: universal (compaction-picker.ts); the merge runs in a JobRunner (piscina
//          job threads on real files) and the result is swapped in through the manifest.
//
// Crash safety: an SSTable is written and fsynced, then the manifest naming it is replaced
// atomically, then the WAL segments it covers are deleted. Recovery (open) reads the
// manifest, replays WAL segments >= its logNumber, writes what it replayed to a table, and
// deletes orphans (tables not in the manifest, old segments, temp files). A damaged record
// with no good record behind it (a torn tail) is dropped and reported; damage with good
// records behind it refuses the open (ERR_CORRUPTION naming the file, the offset and how
// many records follow) unless walRecovery is 'skip-damaged': then every good record is
// replayed, a copy of the segment is kept as `<n>.log.damaged`, and the report says
// needsRepair. A new WAL segment's directory entry is fsynced before any write in it is
// acknowledged.
//
// A table block that fails its checksum (a get, a scan or a merge meets it) makes that read
// fail with ERR_CORRUPTION naming the table, and is reported once (`stats().damagedTables`,
// `onTableDamage`). With tableDamage 'keep' the table stays in service (its damaged block's
// keys keep failing, merges that include it fail); with 'quarantine' it is taken out at once:
// renamed `<n>.sst.damaged` (directory fsynced), then dropped from the manifest, so later
// reads, scans and merges go on without it. A crash between the two leaves a manifest naming
// a table whose file is only there as `.damaged`: the open finishes the quarantine.
//
// A table a manifest write may have named stays on disk even if that write failed (it fails
// after the rename when only the directory sync does): a restart reads that manifest. With
// no MANIFEST beside tables or WAL segments, open refuses (ERR_CORRUPTION) rather than
// starting empty and deleting them as orphans. Every error from open is a RingkvError.
//
// Owned by one thread; not safe for concurrent use from several threads. `write` and `get`
// are synchronous. After an I/O error the failed write is not applied (not visible to reads),
// earlier data is intact, and the next write tries again on a fresh WAL segment. A write
// whose WAL append failed never reappears (the writer cuts the partial record off). A write
// whose fsync failed has an unknown outcome, as a timed-out request: its record may have
// reached the file, so a restart may replay it (all of the batch, never part); any later
// acknowledged write of the same key wins over it.
import { ErrorCode, RingkvError, corruption, ioError, isCorruption, walCorruption } from '../../errors.js';
import { TOKEN_BYTES, XxHash64, readToken } from '../../hash/index.js';
import type { StorageOptions } from './options.js';
import { BlockCache, DAMAGED_TABLE_SUFFIX, parseTableFileName, tableFileName, TableReader, TableWriter, type TableProperties } from '../table/index.js';
import { pickCompaction } from './compaction-picker.js';
import { runToEnd, type JobRunner } from './job-runner.js';
import { MANIFEST_NAME, readManifest, writeManifest, type ManifestState, type TableMeta } from './manifest.js';
import { Memtable } from './memtable.js';
import type { MergeResult } from './merge.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, RecordKind } from '../record/index.js';
import { MergingIterator, MemtableIterator, type EntryIterator } from './merging-iterator.js';
import type { DamagedTable, EngineStats, IoFault, RecoveryReport, ScanEntry, StorageEngine, WriteOp } from './types.js';
import { DAMAGED_WAL_SUFFIX, MAX_WAL_PAYLOAD, parseWalFileName, walFileName, readWal, WalWriter } from '../wal/index.js';
import { BatchEncoder, decodeBatch } from './write-batch.js';
import { readWholeFile, type Vfs } from '../env/index.js';

interface LiveTable {
  meta: TableMeta;
  path: string;
  reader: TableReader;
  /** One for the engine's table list, one per scan or merge using it. */
  refs: number;
  /** Set once it is out of the manifest: delete the file when refs reach 0. */
  obsolete: boolean;
}

interface FlushJob {
  mem: Memtable;
  fileNumber: number;
  steps: Generator<void, TableProperties>;
}

/** Time a background flush slice may take before yielding to the event loop. */
const FLUSH_SLICE_MS = 4;
/**
 * Retries of a failed flush (and probes of a failed WAL) back off by doubling from
 * `flushRetryMs` up to this many times it: a full disk or exhausted descriptors are not
 * hammered, and a fixed disk is noticed within 16 s at the default 1 s.
 */
const MAX_RETRY_BACKOFF = 16;
/** The file a probe writes to see whether the disk works again (deleted at once). */
const PROBE_FILE = 'PROBE.tmp';
/** One WAL record's worth: a disk with less room than this is still full for writes. */
const PROBE_BYTES = new Uint8Array(4096);

export interface EngineDeps {
  dir: string;
  vfs: Vfs;
  runner: JobRunner;
  options: StorageOptions;
}

export class LsmEngine implements StorageEngine {
  private readonly dir: string;
  private readonly vfs: Vfs;
  private readonly runner: JobRunner;
  private readonly o: StorageOptions;
  /**
   * Tokens of keys given without one. The JS xxHash64, not hash-wasm's: the same tokens
   * (test/hash/xxhash64.test.ts) at under half the cost, with no copy into wasm memory and no
   * digest array per call (measured in docs/storage.md).
   */
  private readonly hasher = new XxHash64();
  private readonly cache: BlockCache;
  private readonly encoder = new BatchEncoder();
  private readonly lookup = { kind: 0, seq: 0, value: new Uint8Array(0) };
  private ikeyBuf = new Uint8Array(256);

  private mem: Memtable;
  /** Oldest first: frozen[0] is the next to flush. */
  private frozen: Memtable[] = [];
  /** Newest first. */
  private tables: LiveTable[] = [];
  private wal: WalWriter | undefined;
  private nextFileNumber: number;
  private lastSeq: number;
  private purgeHorizon = 0;

  private flushJob: FlushJob | undefined;
  private flushTimer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private compacting: Promise<void> | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  /** A periodic sync is running in the background. */
  private syncing = false;
  private closed = false;
  /** The last background failure (flush or compaction), for stats and logs. */
  private backgroundError: RingkvError | undefined;
  /** The last failed write's storage error (EMFILE, ENOSPC, EIO...), until a write or probe succeeds. */
  private writeFault: { error: RingkvError; sinceMs: number } | undefined;
  /** Writes acknowledged in the current WAL segment (a segment with none may be deleted and its number reused). */
  private walAcked = 0;
  /** A WAL number whose segment failed before it held anything (deleted): the next segment takes it. */
  private reusableWalNumber: number | undefined;
  /** A table number whose flush failed (its partial file deleted): the next flush takes it. */
  private reusableTableNumber: number | undefined;
  /** Failed background flushes in a row (the retry delay doubles with each). */
  private flushFailures = 0;
  /** A failed flush is not retried on a writer's call stack before this time (performance.now()). */
  private flushRetryAt = 0;
  /** The last flush failure (backgroundError may also be a compaction's), until a flush succeeds. */
  private flushError: RingkvError | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probeFailures = 0;
  private readonly recovery: RecoveryReport;
  /** Tables found damaged since the open (one entry per table), and who to tell. */
  private readonly damaged: DamagedTable[] = [];
  private readonly damageListeners: ((d: DamagedTable) => void)[] = [];
  private readonly counters = { flushes: 0, compactions: 0, compactionBytesRead: 0, compactionBytesWritten: 0 };

  /** Opens (creating or recovering) the engine in `deps.dir`. */
  static async open(deps: EngineDeps): Promise<LsmEngine> {
    return new LsmEngine(deps);
  }

  private constructor(deps: EngineDeps) {
    this.dir = deps.dir;
    this.vfs = deps.vfs;
    this.runner = deps.runner;
    this.o = deps.options;
    this.cache = new BlockCache(this.o.blockCacheBytes, this.o.blockSize);
    this.recovery = { walRecords: 0, droppedBytes: 0, damage: [], orphansRemoved: [], salvagedRecords: 0, damagedSegments: [], needsRepair: false };

    const { vfs, dir } = this;
    try {
      vfs.mkdirp(dir);
    } catch (err) {
      throw ioError(err, dir, 'create directory');
    }
    // Any failure from here on: release what was opened, and throw a RingkvError (a raw
    // error of the Vfs becomes ERR_IO / ERR_NO_SPACE naming the file in its message).
    try {
      const manifest = readManifest(vfs, dir);
      const names = vfs.readdir(dir);
      if (manifest === undefined && names.some((n) => parseTableFileName(n) !== undefined || parseWalFileName(n) !== undefined)) {
        // The first manifest is durable before the first WAL segment or table exists: without
        // it their data would be taken for orphans and deleted.
        throw corruption(this.path(MANIFEST_NAME), 'the manifest is missing but the directory holds tables or WAL segments (refusing to open it empty and delete them)');
      }
      const state: ManifestState = manifest ?? { nextFileNumber: 1, logNumber: 0, lastSeq: 0, tables: [] };
      let maxNumber = 0;
      for (const name of names) maxNumber = Math.max(maxNumber, parseTableFileName(name) ?? 0, parseWalFileName(name) ?? 0);
      this.nextFileNumber = Math.max(state.nextFileNumber, maxNumber + 1);
      this.lastSeq = state.lastSeq;
      for (const meta of state.tables) {
        const aside = this.quarantinedAs(meta);
        if (aside === undefined) this.tables.push(this.openTable(meta));
        else this.damaged.push(damagedTable(this.path(tableFileName(meta.fileNumber)), meta, 'open', 'quarantined before a crash (the manifest still named it)', aside));
      }

      // Replay the WAL segments not yet covered by a table, oldest first.
      const logs = names
        .map((name) => parseWalFileName(name))
        .filter((n): n is number => n !== undefined && n >= state.logNumber)
        .sort((a, b) => a - b);
      const replayed = new Memtable(0);
      const salvage = this.o.walRecovery === 'skip-damaged';
      for (const n of logs) {
        const path = this.path(walFileName(n));
        const report = readWal(vfs, path, (payload) => {
          decodeBatch(payload, path, (op) => {
            this.hasher.hash(op.key);
            replayed.put(op.key, this.hasher.hi, this.hasher.lo, op.kind, op.seq, op.value);
            if (op.seq > this.lastSeq) this.lastSeq = op.seq;
          });
        }, { salvage });
        this.recovery.walRecords += report.records;
        if (report.damage === undefined) continue;
        if (report.recordsAfterDamage === 0) {
          // A torn tail: nothing good behind it (a crash cut the last write short). Dropped.
          this.recovery.droppedBytes += report.droppedBytes;
          this.recovery.damage.push(`${path}: torn tail: dropped ${report.droppedBytes} bytes at offset ${report.goodBytes}: ${report.damage}`);
          continue;
        }
        // Damage in the middle: good records follow it. Refuse (nothing changed yet) unless
        // the operator chose to salvage them.
        if (!salvage) throw walCorruption(path, report.goodBytes, report.recordsAfterDamage, report.damage);
        const aside = this.copyAside(path);
        this.recovery.droppedBytes += report.skippedBytes;
        this.recovery.salvagedRecords += report.recordsAfterDamage;
        this.recovery.damagedSegments.push(aside);
        this.recovery.needsRepair = true;
        this.recovery.damage.push(
          `${path}: skipped ${report.skippedBytes} damaged bytes from offset ${report.goodBytes} (${report.damage.replace(/^offset \d+: /, '')}); ` +
          `kept the ${report.recordsAfterDamage} good records after them; the segment is kept as ${aside}`,
        );
      }
      if (replayed.count > 0) {
        replayed.freeze();
        const fileNumber = this.nextFileNumber++;
        const props = runToEnd(this.flushSteps(replayed, fileNumber));
        this.tables.unshift(this.openTable(this.tableMeta(fileNumber, props)));
      }

      // Start a fresh WAL segment, make the recovered state the manifest's, drop the rest. A
      // MANIFEST.tmp left by a crash goes first: writing ours over it would hide it from the report.
      const tmp = `${MANIFEST_NAME}.tmp`;
      if (names.includes(tmp) && this.tryUnlink(this.path(tmp))) this.recovery.orphansRemoved.push(tmp);
      const walNumber = this.nextFileNumber++;
      this.mem = new Memtable(walNumber);
      this.writeState(walNumber);
      this.wal = this.createWal(walNumber);
      this.removeOrphans(walNumber);
    } catch (err) {
      for (const t of this.tables) closeQuietly(t.reader);
      this.tables = [];
      try { this.wal?.close(); } catch { /* the open failed already */ }
      this.wal = undefined;
      throw ioError(err, dir, 'open');
    }

    if (this.o.syncMode === 'periodic') {
      this.syncTimer = setInterval(() => this.periodicSync(), this.o.syncIntervalMs);
      this.syncTimer.unref();
    }
    this.maybeCompact();
  }

  // ---- reads ----

  get(key: Uint8Array, tokenHi?: number, tokenLo?: number): Uint8Array | undefined {
    this.checkOpen();
    let hi: number;
    let lo: number;
    if (tokenHi !== undefined && tokenLo !== undefined) {
      hi = tokenHi;
      lo = tokenLo;
    } else {
      const h = this.hasher;
      h.hash(key);
      hi = h.hi;
      lo = h.lo;
    }
    let mem = this.mem;
    let e = mem.find(key, hi, lo);
    for (let i = this.frozen.length - 1; e < 0 && i >= 0; i--) {
      mem = this.frozen[i]!;
      e = mem.find(key, hi, lo);
    }
    if (e >= 0) return mem.kind(e) === RecordKind.PUT ? mem.value(e) : undefined;
    if (this.tables.length === 0) return undefined;

    const n = TOKEN_BYTES + key.length;
    if (this.ikeyBuf.length < n) this.ikeyBuf = new Uint8Array(Math.max(n, this.ikeyBuf.length * 2));
    const ikey = this.ikeyBuf.subarray(0, n);
    ikey[0] = hi >>> 24; ikey[1] = hi >>> 16; ikey[2] = hi >>> 8; ikey[3] = hi;
    ikey[4] = lo >>> 24; ikey[5] = lo >>> 16; ikey[6] = lo >>> 8; ikey[7] = lo;
    ikey.set(key, TOKEN_BYTES);
    const out = this.lookup;
    for (const t of this.tables) {
      let found: boolean;
      try {
        found = t.reader.get(ikey, hi, lo, out);
      } catch (err) {
        throw this.tableFailed(t, err, 'get');
      }
      if (found) return out.kind === RecordKind.PUT ? out.value : undefined;
    }
    return undefined;
  }

  *scan(fromToken: bigint, toToken: bigint): IterableIterator<ScanEntry> {
    this.checkOpen();
    const from = new Uint8Array(TOKEN_BYTES);
    new DataView(from.buffer).setBigUint64(0, BigInt.asUintN(64, fromToken < 0n ? 0n : fromToken));
    if (fromToken >= toToken || fromToken >= 1n << 64n) return;

    const sources: EntryIterator[] = [new MemtableIterator(this.mem.sorted())];
    for (let i = this.frozen.length - 1; i >= 0; i--) sources.push(new MemtableIterator(this.frozen[i]!.sorted()));
    const used = this.tables.slice();
    for (const t of used) {
      t.refs++;
      sources.push(t.reader.iterator());
    }
    try {
      const merged = new MergingIterator(sources);
      merged.seek(from);
      for (; merged.valid; merged.next()) {
        const token = readToken(merged.ikey, 0);
        if (token >= toToken) break;
        if (merged.kind !== RecordKind.PUT) continue;
        yield {
          key: merged.ikey.slice(TOKEN_BYTES),
          token,
          value: merged.value.slice(),
        };
      }
    } catch (err) {
      const file = err instanceof RingkvError ? err.file : undefined;
      const t = used.find((u) => u.path === file);
      throw t === undefined ? err : this.tableFailed(t, err, 'scan');
    } finally {
      for (const t of used) this.unref(t);
    }
  }

  // ---- writes ----

  put(key: Uint8Array, value: Uint8Array): void {
    this.write([{ type: 'put', key, value }]);
  }

  delete(key: Uint8Array): void {
    this.write([{ type: 'delete', key }]);
  }

  write(ops: readonly WriteOp[]): void {
    this.checkOpen();
    if (ops.length === 0) return;
    let bytes = 0;
    for (const op of ops) bytes += checkOp(op);
    if (bytes > MAX_WAL_PAYLOAD - 1024) {
      throw new RingkvError(ErrorCode.TOO_LARGE, `batch of ${bytes} bytes exceeds the ${MAX_WAL_PAYLOAD - 1024}-byte limit of one write: split it`);
    }
    this.makeRoomForWrite();

    const firstSeq = this.lastSeq + 1;
    const payload = this.encoder.encode(firstSeq, ops);
    let wal: WalWriter;
    try {
      wal = this.wal ?? this.openWal();
    } catch (err) {
      throw this.faulted(ioError(err, this.dir, 'create WAL segment'));
    }
    try {
      wal.add(payload);
      if (this.o.syncMode === 'batch') wal.sync();
    } catch (err) {
      this.dropWal();
      throw this.faulted(ioError(err, wal.path, 'write-ahead log append'));
    }
    this.walAcked++;
    if (this.writeFault !== undefined) this.healed();

    const h = this.hasher;
    const mem = this.mem;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      let hi = op.hi;
      let lo = op.lo;
      if (hi === undefined || lo === undefined) {
        h.hash(op.key);
        hi = h.hi;
        lo = h.lo;
      }
      if (op.type === 'put') mem.put(op.key, hi, lo, RecordKind.PUT, firstSeq + i, op.value);
      else mem.put(op.key, hi, lo, RecordKind.DELETE, firstSeq + i, EMPTY);
    }
    this.lastSeq = firstSeq + ops.length - 1;
  }

  /** Tombstones with a sequence number below `seq` may be purged by merges that include the oldest table. */
  setPurgeHorizon(seq: number): void {
    this.purgeHorizon = Math.max(this.purgeHorizon, seq);
  }

  /** Makes every write so far durable (for `periodic` and `none` modes). */
  sync(): void {
    this.checkOpen();
    if (!this.wal) return;
    const wal = this.wal;
    try {
      wal.sync();
    } catch (err) {
      this.dropWal();
      throw ioError(err, wal.path, 'write-ahead log sync');
    }
  }

  async flush(): Promise<void> {
    this.checkOpen();
    if (this.mem.count > 0) this.rotateMemtable();
    while (this.frozen.length > 0) this.finishFlushNow();
  }

  async compact(): Promise<void> {
    this.checkOpen();
    await this.flush();
    while (this.compacting) await this.compacting;
    if (this.tables.length > 1 || (this.tables.length === 1 && this.purgeHorizon > 0)) {
      await this.startCompaction(0, this.tables.length);
    }
    if (this.backgroundError) throw this.backgroundError;
  }

  /** Waits until no flush or compaction is running or needed. */
  async settle(): Promise<void> {
    for (;;) {
      if (this.frozen.length > 0) this.finishFlushNow();
      if (!this.compacting) this.maybeCompact();
      if (!this.compacting) return;
      await this.compacting;
    }
  }

  stats(): EngineStats {
    let tableBytes = 0;
    for (const t of this.tables) tableBytes += t.meta.fileSize;
    let memtableBytes = this.mem.bytes;
    for (const m of this.frozen) memtableBytes += m.bytes;
    let entries = this.mem.count;
    for (const m of this.frozen) entries += m.count;
    for (const t of this.tables) entries += t.meta.entries;
    return {
      approxEntries: entries,
      lastSeq: this.lastSeq,
      memtableBytes,
      frozenMemtables: this.frozen.length,
      tables: this.tables.length,
      tableBytes,
      walBytes: this.wal?.size ?? 0,
      ...this.counters,
      blockCache: { ...this.cache.stats },
      recovery: this.recovery,
      ...(this.backgroundError ? { backgroundError: this.backgroundError.message } : {}),
      ...this.ioFaultStats(),
      ...(this.damaged.length === 0 ? {} : { damagedTables: this.damaged.slice() }),
    };
  }

  /**
   * Calls `listener` once per table found damaged, on the read that met it. With tableDamage
   * 'quarantine' it runs before the table leaves service (`quarantinedAs` says where it will
   * be kept), so the owner can durably record the loss first; a listener that throws keeps
   * the table in service (its damaged keys go on failing) until a later read meets it again.
   */
  onTableDamage(listener: (d: DamagedTable) => void): void {
    this.damageListeners.push(listener);
  }

  /** The storage fault in force, if any: a failed write's, else a failed flush's. */
  private ioFaultStats(): { ioFault?: IoFault } {
    const f = this.writeFault;
    if (f !== undefined) return { ioFault: { code: f.error.code, message: f.error.message, sinceMs: f.sinceMs } };
    const b = this.backgroundError;
    if (b !== undefined && (b.code === ErrorCode.IO || b.code === ErrorCode.NO_SPACE)) return { ioFault: { code: b.code, message: b.message, sinceMs: 0 } };
    return {};
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.syncTimer);
    clearTimeout(this.probeTimer);
    clearTimeout(this.flushTimer as NodeJS.Timeout);
    clearImmediate(this.flushTimer as NodeJS.Immediate);
    while (this.compacting) await this.compacting.catch(() => {});
    this.abandonFlush();
    let failure: unknown;
    const attempt = (f: () => void) => {
      try { f(); } catch (err) { failure ??= err; }
    };
    const wal = this.wal;
    this.wal = undefined;
    if (wal) {
      if (this.o.syncMode !== 'none') attempt(() => wal.sync());
      attempt(() => wal.close());
    }
    for (const t of this.tables) attempt(() => t.reader.close());
    this.tables = [];
    await this.runner.close();
    if (failure !== undefined) throw ioError(failure, this.dir, 'close');
  }

  // ---- memtable rotation and flushes ----

  /** Before a write: if the memtable is full, freeze it (stalling on flushes if too many wait). */
  private makeRoomForWrite(): void {
    if (this.mem.bytes < this.o.memtableBytes) return;
    try {
      while (this.frozen.length >= this.o.maxFrozenMemtables) this.finishFlushNow();
      this.rotateMemtable();
    } catch (err) {
      throw this.faulted(ioError(err, this.dir, 'make room for a write'));
    }
  }

  private rotateMemtable(): void {
    const walNumber = this.takeWalNumber();
    const wal = this.createWal(walNumber);
    this.walAcked = 0;
    if (this.wal) {
      const old = this.wal;
      try {
        if (this.o.syncMode !== 'none') old.sync();
        old.close();
      } catch {
        // Its records are also in the memtable being frozen; the flush makes them durable.
      }
    }
    this.wal = wal;
    this.mem.freeze();
    this.frozen.push(this.mem);
    this.mem = new Memtable(walNumber);
    this.scheduleFlush(0);
  }

  private scheduleFlush(delayMs: number): void {
    if (this.flushTimer !== undefined || this.closed || this.frozen.length === 0) return;
    this.flushTimer = delayMs > 0
      ? setTimeout(() => this.flushSlice(), delayMs)
      : setImmediate(() => this.flushSlice());
  }

  /** One background slice of the oldest frozen memtable's flush. */
  private flushSlice(): void {
    this.flushTimer = undefined;
    if (this.closed || this.frozen.length === 0) return;
    const job = this.flushJob ?? this.startFlushJob();
    const until = performance.now() + FLUSH_SLICE_MS;
    let props: TableProperties | undefined;
    try {
      for (;;) {
        const r = job.steps.next();
        if (r.done) { props = r.value; break; }
        if (performance.now() >= until) break;
      }
      if (props) this.installFlush(job, props);
    } catch (err) {
      this.abandonFlush();
      this.backgroundError = this.flushError = ioError(err, this.dir, 'background flush');
      this.flushFailures++;
      const delay = this.retryDelay(this.flushFailures);
      this.flushRetryAt = performance.now() + delay;
      this.scheduleFlush(delay);
      return;
    }
    this.scheduleFlush(0);
  }

  /** The wait before retry number `failures` (1, 2, ...): flushRetryMs doubling, capped. */
  private retryDelay(failures: number): number {
    const base = Math.max(1, this.o.flushRetryMs);
    return Math.min(base * 2 ** Math.min(failures - 1, 30), base * MAX_RETRY_BACKOFF);
  }

  /** Finishes the oldest frozen memtable's flush on this call stack. Throws on failure. */
  private finishFlushNow(): void {
    // While a failed flush backs off, writers that need it fail at once (no file is touched).
    if (this.flushError !== undefined && performance.now() < this.flushRetryAt) throw this.flushError;
    const job = this.flushJob ?? this.startFlushJob();
    let props: TableProperties;
    try {
      props = runToEnd(job.steps);
      this.installFlush(job, props);
    } catch (err) {
      this.abandonFlush();
      // As a background failure: later writers fail at once until the retry is due.
      this.backgroundError = this.flushError = ioError(err, this.dir, 'flush');
      this.flushFailures++;
      this.flushRetryAt = performance.now() + this.retryDelay(this.flushFailures);
      throw this.flushError;
    }
  }

  private startFlushJob(): FlushJob {
    const mem = this.frozen[0]!;
    const fileNumber = this.reusableTableNumber ?? this.nextFileNumber++;
    this.reusableTableNumber = undefined;
    this.flushJob = { mem, fileNumber, steps: this.flushSteps(mem, fileNumber) };
    return this.flushJob;
  }

  /** Drops the running flush (after a failure or at close) and its partial file. */
  private abandonFlush(): void {
    const job = this.flushJob;
    if (!job) return;
    this.flushJob = undefined;
    try { job.steps.return(undefined as never); } catch { /* already failed */ }
    const path = this.path(tableFileName(job.fileNumber));
    // The number is reused by the next flush once its partial file is gone (a retry loop
    // must not burn numbers: 000015.sst to 005864.sst was seen with descriptors exhausted).
    if (this.tryUnlink(path) || !this.fileExists(path)) this.reusableTableNumber = job.fileNumber;
  }

  private fileExists(path: string): boolean {
    try {
      return this.vfs.exists(path);
    } catch {
      return true; // unknown: do not reuse its number
    }
  }

  private *flushSteps(mem: Memtable, fileNumber: number): Generator<void, TableProperties> {
    const file = this.vfs.open(this.path(tableFileName(fileNumber)), 'create');
    try {
      const writer = new TableWriter(file, {
        blockSize: this.o.blockSize,
        bloomBitsPerKey: this.o.bloomBitsPerKey,
        compression: this.o.compression,
        expectedKeys: Math.max(1, mem.count),
      });
      const entries = mem.sorted();
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        writer.add(e.ikey, e.kind, e.seq, e.value);
        if ((i & 255) === 255) yield;
      }
      return writer.finish();
    } finally {
      file.close();
    }
  }

  /** The flushed table joins the manifest; the WAL segments it covers go. */
  private installFlush(job: FlushJob, props: TableProperties): void {
    const table = this.openTable(this.tableMeta(job.fileNumber, props));
    const tables = [table, ...this.tables];
    const logNumber = this.frozen[1]?.firstWal ?? this.mem.firstWal;
    try {
      this.writeState(logNumber, tables);
    } catch (err) {
      closeQuietly(table.reader);
      // If MANIFEST already names the table (only the directory sync failed), its file must
      // stay: forgetting the job keeps abandonFlush from deleting it. A retry writes another.
      if (this.manifestMayName(job.fileNumber)) this.flushJob = undefined;
      throw err;
    }
    this.flushJob = undefined;
    this.tables = tables;
    this.frozen.shift();
    this.counters.flushes++;
    this.backgroundError = undefined;
    this.flushFailures = 0;
    this.flushRetryAt = 0;
    this.flushError = undefined;
    // A write that failed for want of this flush is over too (a WAL segment is open and well).
    if (this.writeFault !== undefined && this.wal !== undefined) this.healed();
    this.removeWalsBefore(logNumber);
    this.maybeCompact();
  }

  // ---- compaction ----

  private maybeCompact(): void {
    if (this.compacting || this.closed) return;
    const pick = pickCompaction(this.tables.map((t) => t.meta.fileSize), this.o.compaction);
    if (pick) void this.startCompaction(pick.start, pick.end);
  }

  /**
   * Merges tables[start, end) in the runner and swaps the result in. The promise never
   * rejects (maybeCompact does not await it): a failure is kept in backgroundError.
   */
  private startCompaction(start: number, end: number): Promise<void> {
    const inputs = this.tables.slice(start, end);
    for (const t of inputs) t.refs++;
    const includesOldest = end === this.tables.length;
    const fileNumber = this.nextFileNumber++;
    const output = this.path(tableFileName(fileNumber));
    const run = this.runner
      .merge({
        inputs: inputs.map((t) => t.path),
        output,
        dropTombstones: includesOldest,
        purgeBeforeSeq: this.purgeHorizon,
        blockSize: this.o.blockSize,
        bloomBitsPerKey: this.o.bloomBitsPerKey,
        compression: this.o.compression,
      })
      .then(
        (result) => this.installCompaction(inputs, fileNumber, result),
        (err: unknown) => {
          this.tryUnlink(output);
          // An input quarantined while the merge waited or ran: its failure says nothing new.
          if (this.closed || inputs.some((t) => !this.tables.includes(t))) return;
          // A merge reads every block of its inputs: a damaged one is met here first. From a
          // piscina job the error crossed a thread as a plain Error, its code lost: it is
          // known by its message, which corruption() starts with the file it names.
          const message = err instanceof Error ? err.message : String(err);
          const bad = inputs.find((t) => message.startsWith(`corruption in ${t.path}: `));
          if (bad === undefined) {
            this.backgroundError = ioError(err, output, 'compaction');
            return;
          }
          const damage = isCorruption(err) ? (err as RingkvError) : new RingkvError(ErrorCode.CORRUPTION, message, { file: bad.path });
          this.tableFailed(bad, damage, 'merge');
          // Kept in service: merges that include it fail until it is replaced; quarantined: merge the rest.
          if (this.tables.includes(bad)) this.backgroundError = damage;
        },
      )
      .catch((err: unknown) => {
        this.backgroundError = ioError(err, output, 'install compaction');
      })
      .finally(() => {
        this.compacting = undefined; // first: close() and compact() wait for this to clear
        for (const t of inputs) this.unref(t);
        if (!this.backgroundError) this.maybeCompact();
      });
    this.compacting = run;
    return run;
  }

  private installCompaction(inputs: LiveTable[], fileNumber: number, result: MergeResult): void {
    const output = this.path(tableFileName(fileNumber));
    if (this.closed) {
      this.tryUnlink(output);
      return;
    }
    const start = this.tables.indexOf(inputs[0]!);
    if (inputs.some((t, i) => this.tables[start + i] !== t)) {
      // An input was quarantined while the merge ran: its output holds what that table held
      // (read before the damage was met elsewhere, or around it): not installed.
      this.tryUnlink(output);
      return;
    }
    const replaced: LiveTable[] = [];
    try {
      const empty = result.properties.entries === 0;
      if (empty) this.tryUnlink(output);
      replaced.push(...(empty ? [] : [this.openTable(this.tableMeta(fileNumber, result.properties))]));
      const tables = [...this.tables.slice(0, start), ...replaced, ...this.tables.slice(start + inputs.length)];
      this.writeState(this.frozen[0]?.firstWal ?? this.mem.firstWal, tables);
      this.tables = tables;
    } catch (err) {
      for (const t of replaced) closeQuietly(t.reader);
      if (!this.manifestMayName(fileNumber)) this.tryUnlink(output);
      this.backgroundError = ioError(err, output, 'install compaction');
      return;
    }
    for (const t of inputs) {
      t.obsolete = true;
      this.unref(t);
    }
    this.counters.compactions++;
    this.counters.compactionBytesRead += result.bytesRead;
    this.counters.compactionBytesWritten += result.properties.fileSize;
    this.backgroundError = undefined;
  }

  // ---- damaged tables ----

  /**
   * A read of table `t` threw `err`: if it is corruption, the table is reported (once) and,
   * with tableDamage 'quarantine', taken out of service. Returns the error for the caller to
   * throw: the read that met the damage fails, never answers from older tables.
   */
  private tableFailed(t: LiveTable, err: unknown, foundBy: DamagedTable['foundBy']): unknown {
    if (!isCorruption(err) || this.damaged.some((d) => d.table === t.path)) return err;
    const quarantine = this.o.tableDamage === 'quarantine' && this.tables.includes(t);
    const d = damagedTable(t.path, t.meta, foundBy, (err as RingkvError).message, quarantine ? this.asideName(t.path) : undefined);
    try {
      // First: the owner records what the quarantine will lose (a shard's repair mark) before
      // the table leaves service, so no crash can leave it gone and unrecorded.
      for (const listener of this.damageListeners) listener(d);
      if (quarantine) this.quarantine(t, d.quarantinedAs!);
    } catch {
      // A listener failed, or the disk refused the rename: the table stays in service, its
      // damaged block's keys keep failing, and the next read that meets it tries again.
      return err;
    }
    this.damaged.push(d);
    return err;
  }

  /** `<path>.damaged`, or `.damaged.2`, ... if taken: an earlier copy is never overwritten. */
  private asideName(path: string): string {
    let aside = `${path}${DAMAGED_TABLE_SUFFIX}`;
    for (let i = 2; this.vfs.exists(aside); i++) aside = `${path}${DAMAGED_TABLE_SUFFIX}.${i}`;
    return aside;
  }

  /**
   * Takes `t` out of service: renamed to `aside`, the directory fsynced, then the manifest
   * rewritten without it. The rename comes first so that no open can take the file for an
   * orphan and delete it; a crash before the manifest is written is finished by the next open
   * (`quarantinedAs`). Scans using the table keep their open handle until they end.
   */
  private quarantine(t: LiveTable, aside: string): void {
    this.vfs.rename(t.path, aside);
    try {
      this.vfs.syncDir(this.dir);
    } catch {
      // Renamed but maybe not durably: the manifest write below syncs the directory again,
      // and if that fails too a restart finds either name and handles both.
    }
    const tables = this.tables.filter((x) => x !== t);
    this.tables = tables;
    try {
      this.writeState(this.frozen[0]?.firstWal ?? this.mem.firstWal, tables);
    } catch {
      // The next manifest write (a flush, a merge) leaves it out; a restart before that
      // finds it named but renamed, and finishes the quarantine.
    }
    t.obsolete = false; // its file is kept aside: nothing to delete
    this.unref(t);
  }

  /** At open: where table `meta` was kept aside by a quarantine the manifest does not show yet; undefined when it is in place. */
  private quarantinedAs(meta: TableMeta): string | undefined {
    const path = this.path(tableFileName(meta.fileNumber));
    if (this.vfs.exists(path)) return undefined;
    // The newest copy aside: `.damaged`, then `.damaged.2`, ... (by length first, so .10 follows .9).
    const names = this.vfs.readdir(this.dir)
      .filter((n) => n.startsWith(`${tableFileName(meta.fileNumber)}${DAMAGED_TABLE_SUFFIX}`) && !n.endsWith('.tmp'))
      .sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
    return names.length === 0 ? undefined : this.path(names[names.length - 1]!);
  }

  // ---- files ----

  private path(name: string): string {
    return `${this.dir}/${name}`;
  }

  private openTable(meta: TableMeta): LiveTable {
    const path = this.path(tableFileName(meta.fileNumber));
    return { meta, path, reader: TableReader.open(this.vfs, path, meta.fileNumber, this.cache), refs: 1, obsolete: false };
  }

  private tableMeta(fileNumber: number, p: TableProperties): TableMeta {
    return { fileNumber, fileSize: p.fileSize, entries: p.entries, minSeq: p.minSeq, maxSeq: p.maxSeq };
  }

  /** Drops a reference; the last one closes the reader (and deletes the file if obsolete). Never throws. */
  private unref(t: LiveTable): void {
    if (--t.refs > 0) return;
    closeQuietly(t.reader);
    if (t.obsolete) this.tryUnlink(t.path);
  }

  /** Writes the manifest: `tables` live, WAL segments from `logNumber` on needed. */
  private writeState(logNumber: number, tables: LiveTable[] = this.tables): void {
    writeManifest(this.vfs, this.dir, {
      nextFileNumber: this.nextFileNumber,
      logNumber,
      lastSeq: this.lastSeq,
      tables: tables.map((t) => t.meta),
    });
  }

  /**
   * After a failed manifest write: whether MANIFEST may now name table `fileNumber`. It does
   * when the rename happened and only the directory sync after it failed; a restart then reads
   * that manifest, so the table must not be deleted. Unsure (unreadable) counts as yes: a
   * leftover table is an orphan the next open removes, a missing one is lost data.
   */
  private manifestMayName(fileNumber: number): boolean {
    try {
      return readManifest(this.vfs, this.dir)?.tables.some((t) => t.fileNumber === fileNumber) ?? false;
    } catch {
      return true;
    }
  }

  /** A new WAL segment, its directory entry durable before anything in it is acknowledged. */
  private createWal(n: number): WalWriter {
    const path = this.path(walFileName(n));
    let wal: WalWriter;
    try {
      wal = WalWriter.create(this.vfs, path);
    } catch (err) {
      if (!this.fileExists(path)) this.reusableWalNumber ??= n; // nothing made: the number is free
      throw err;
    }
    try {
      this.vfs.syncDir(this.dir);
    } catch (err) {
      try { wal.close(); } catch { /* already broken */ }
      if (this.tryUnlink(path)) this.reusableWalNumber ??= n; // the empty segment goes, its number is reused
      throw ioError(err, this.dir, 'sync directory');
    }
    return wal;
  }

  /**
   * After a failed append or sync: forget the segment; the next write starts a new one. A
   * segment that acknowledged nothing is deleted and its number reused, so a write that
   * fails again and again (disk full) leaves no trail of empty segments.
   */
  private dropWal(): void {
    const wal = this.wal;
    if (!wal) return;
    try { wal.close(); } catch { /* already broken */ }
    this.wal = undefined;
    const n = parseWalFileName(wal.path.slice(wal.path.lastIndexOf('/') + 1));
    if (this.walAcked === 0 && n !== undefined && this.tryUnlink(wal.path)) this.reusableWalNumber = n;
  }

  /** The number of the next WAL segment: a reusable one first. */
  private takeWalNumber(): number {
    const n = this.reusableWalNumber ?? this.nextFileNumber++;
    this.reusableWalNumber = undefined;
    return n;
  }

  /** The write path's new segment (after a dropped one). */
  private openWal(): WalWriter {
    const wal = this.createWal(this.takeWalNumber());
    this.wal = wal;
    this.walAcked = 0;
    return wal;
  }

  /** Records a write's storage failure (for stats and /readyz) and starts probing for the end of it. */
  private faulted(err: RingkvError): RingkvError {
    if (err.code !== ErrorCode.IO && err.code !== ErrorCode.NO_SPACE) return err;
    if (this.writeFault === undefined) this.writeFault = { error: err, sinceMs: Date.now() };
    else this.writeFault.error = err;
    this.scheduleProbe();
    return err;
  }

  /**
   * Whether the disk takes a write again: creates, fills, fsyncs and deletes a small file
   * (an appended WAL record would be replayed; this leaves nothing). Throws if it does not.
   */
  private probeWrite(): void {
    const path = this.path(PROBE_FILE);
    try {
      const file = this.vfs.open(path, 'create');
      try {
        file.append(PROBE_BYTES);
        file.sync();
      } finally {
        file.close();
      }
    } finally {
      this.tryUnlink(path);
    }
  }

  /** A write (or probe) succeeded: the fault is over. */
  private healed(): void {
    this.writeFault = undefined;
    this.probeFailures = 0;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  /**
   * While a write fault lasts, tries now and then (backing off) to open a WAL segment again,
   * so the fault clears even when no write arrives (a not-ready shard may get none).
   */
  private scheduleProbe(): void {
    if (this.probeTimer !== undefined || this.closed) return;
    this.probeFailures++;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.closed || this.writeFault === undefined) return;
      try {
        if (!this.wal) this.openWal();
        this.probeWrite();
        if (this.flushError !== undefined && this.frozen.length > 0) throw this.flushError;
        this.healed();
      } catch {
        this.scheduleProbe();
      }
    }, this.retryDelay(this.probeFailures));
    this.probeTimer.unref();
  }

  /**
   * `periodic` mode's sync, off this thread where the Vfs can (WalWriter.syncInBackground):
   * writes go on while the fsync runs. One at a time; a segment rotated or dropped meanwhile
   * was synced (or given up) by whoever closed it.
   */
  private periodicSync(): void {
    const wal = this.wal;
    if (this.closed || !wal || wal.unsyncedBytes === 0 || this.syncing) return;
    this.syncing = true;
    try {
      wal.syncInBackground((err) => {
        this.syncing = false;
        if (err === undefined || this.closed || this.wal !== wal) return;
        this.backgroundError = ioError(err, wal.path, 'periodic sync');
        this.dropWal();
      });
    } catch (err) {
      // The writer was already broken: as a failed sync.
      this.syncing = false;
      this.backgroundError = ioError(err, wal.path, 'periodic sync');
      this.dropWal();
    }
  }

  private removeWalsBefore(logNumber: number): void {
    for (const name of this.vfs.readdir(this.dir)) {
      const n = parseWalFileName(name);
      if (n !== undefined && n < logNumber) this.tryUnlink(this.path(name));
    }
  }

  /** At open: delete what a crash left behind (tables not in the manifest, old segments, temp files). */
  private removeOrphans(logNumber: number): void {
    const live = new Set(this.tables.map((t) => t.meta.fileNumber));
    for (const name of this.vfs.readdir(this.dir)) {
      const table = parseTableFileName(name);
      const wal = parseWalFileName(name);
      const orphan = (table !== undefined && !live.has(table))
        || (wal !== undefined && wal < logNumber)
        || (name.endsWith('.tmp') && name.startsWith(MANIFEST_NAME))
        || name.endsWith(`${DAMAGED_WAL_SUFFIX}.tmp`);
      if (orphan && this.tryUnlink(this.path(name))) this.recovery.orphansRemoved.push(name);
    }
  }

  /**
   * Keeps a copy of a damaged WAL segment beside it as `<name>.log.damaged` (or
   * `.damaged.2`, ... if taken: an earlier copy is never overwritten), durable before the
   * manifest that makes the original an orphan. Copied, not renamed: until that manifest is
   * written the original must stay where a crashed open finds it again. The copy's name is
   * no segment name, so no recovery replays it and no cleanup deletes it. Returns its path.
   */
  private copyAside(path: string): string {
    let aside = `${path}${DAMAGED_WAL_SUFFIX}`;
    for (let i = 2; this.vfs.exists(aside); i++) aside = `${path}${DAMAGED_WAL_SUFFIX}.${i}`;
    const tmp = `${path}${DAMAGED_WAL_SUFFIX}.tmp`;
    const file = this.vfs.open(tmp, 'create');
    try {
      file.append(readWholeFile(this.vfs, path));
      file.sync();
    } finally {
      file.close();
    }
    this.vfs.rename(tmp, aside);
    this.vfs.syncDir(this.dir);
    return aside;
  }

  private tryUnlink(path: string): boolean {
    try {
      this.vfs.unlink(path);
      return true;
    } catch {
      return false; // gone already, or the disk refuses: open() removes orphans later
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new RingkvError(ErrorCode.CLOSED, 'the storage engine is closed');
  }
}

const EMPTY = new Uint8Array(0);

function damagedTable(table: string, meta: TableMeta, foundBy: DamagedTable['foundBy'], error: string, quarantinedAs: string | undefined): DamagedTable {
  return {
    table, error, foundBy, ...(quarantinedAs === undefined ? {} : { quarantinedAs }),
    minSeq: meta.minSeq, maxSeq: meta.maxSeq, entries: meta.entries, atMs: Date.now(),
  };
}

/**
 * Closes a table reader on a cleanup path. Its handle is read-only, so a failed close loses
 * no data, and the cleanup (of a scan, a merge, a failed install) must not fail for it: a
 * throw there would skip the rest of the cleanup or reject a background job nobody awaits.
 */
function closeQuietly(reader: TableReader): void {
  try {
    reader.close();
  } catch {
    // nothing to do: see above
  }
}

/** Validates one write op; returns its size in bytes. */
function checkOp(op: WriteOp): number {
  if (!(op.key instanceof Uint8Array)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'a key must be a Uint8Array');
  if (op.key.length > MAX_KEY_BYTES) {
    throw new RingkvError(ErrorCode.TOO_LARGE, `key of ${op.key.length} bytes exceeds the ${MAX_KEY_BYTES}-byte limit`);
  }
  if (op.type === 'delete') return op.key.length + 16;
  if (op.type !== 'put') throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `unknown write op type '${String((op as { type: unknown }).type)}'`);
  if (!(op.value instanceof Uint8Array)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'a value must be a Uint8Array');
  if (op.value.length > MAX_VALUE_BYTES) {
    throw new RingkvError(ErrorCode.TOO_LARGE, `value of ${op.value.length} bytes exceeds the ${MAX_VALUE_BYTES}-byte limit of one record`);
  }
  return op.key.length + op.value.length + 16;
}
