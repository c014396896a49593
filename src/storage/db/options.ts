// Runs on: any thread. Every option of ringkv, its default and the reason for it.
// Presets: defaultStorageOptions() for production, testStorageOptions() for fast tests
// (tiny memtables and blocks so flushes and compactions happen within a few writes),
// benchStorageOptions() for the benchmarks.
import { DEFAULT_COMPACTION, type CompactionOptions } from './compaction-picker.js';
import type { SyncMode } from './types.js';
import { ErrorCode, RingkvError } from '../../errors.js';

export interface StorageOptions {
  /** `batch` fsyncs the WAL before a write returns (group commit), `periodic` every syncIntervalMs, `none` never. */
  syncMode: SyncMode;
  /** For `periodic`: a crash loses at most this much time of writes. Cassandra's default is 10 s; we keep it short. */
  syncIntervalMs: number;
  /** A memtable is frozen and flushed when it holds this many bytes. Bigger = fewer, larger tables. */
  memtableBytes: number;
  /** Frozen memtables allowed to wait for their flush before writes stall (do the flush themselves). */
  maxFrozenMemtables: number;
  /** Budget of the block cache: its slab of decoded blocks plus the open tables' filters and indexes. */
  blockCacheBytes: number;
  /** Target size of an SSTable data block: ~4 KiB is one disk page, as in LevelDB. Also the block cache's slot size. */
  blockSize: number;
  /** Bloom filter bits per key: 10 gives ~1% false positives. */
  bloomBitsPerKey: number;
  /** Block compression: lz4 is fast enough not to show on reads. */
  compression: 'lz4' | 'none';
  compaction: CompactionOptions;
  /** Where merges run: 'piscina' job threads (real files) or 'inline' on the engine's thread. */
  jobs: 'piscina' | 'inline';
  /** After a failed background flush (e.g. disk full), retry after this long. */
  flushRetryMs: number;
  /**
   * A WAL segment damaged in the middle (good records after the bad one) at open: 'strict'
   * refuses to open (ERR_CORRUPTION), so nothing is dropped unseen; 'skip-damaged' keeps
   * every good record, keeps the segment as `<n>.log.damaged`, and marks the shard needsRepair.
   */
  walRecovery: WalRecovery;
  /**
   * A table block that fails its checksum (on a get, a scan or a merge): 'keep' leaves the
   * table in service, so that block's keys answer ERR_CORRUPTION (never another value) and
   * merges that include it fail; 'quarantine' takes the whole table out of service at once
   * (renamed `<n>.sst.damaged`, dropped from the manifest) so reads, scans and merges go on
   * without it, and its keys answer what older tables hold until an owner with replicas
   * restores them (the shard marks itself for repair). Only an owner that can repair from
   * replicas should quarantine: the store does when N > 1 (docs/storage.md).
   */
  tableDamage: TableDamage;
}

export const TABLE_DAMAGE_MODES = ['keep', 'quarantine'] as const;
export type TableDamage = (typeof TABLE_DAMAGE_MODES)[number];

export const WAL_RECOVERY_MODES = ['strict', 'skip-damaged'] as const;
export type WalRecovery = (typeof WAL_RECOVERY_MODES)[number];

export function defaultStorageOptions(): StorageOptions {
  return {
    syncMode: 'batch',
    syncIntervalMs: 100,
    memtableBytes: 64 * 1024 * 1024,
    maxFrozenMemtables: 1,
    blockCacheBytes: 128 * 1024 * 1024,
    blockSize: 4096,
    bloomBitsPerKey: 10,
    compression: 'lz4',
    compaction: { ...DEFAULT_COMPACTION },
    jobs: 'piscina',
    flushRetryMs: 1000,
    walRecovery: 'strict',
    tableDamage: 'keep',
  };
}

export function testStorageOptions(): StorageOptions {
  return {
    ...defaultStorageOptions(),
    memtableBytes: 16 * 1024,
    blockCacheBytes: 64 * 1024,
    blockSize: 512,
    jobs: 'inline',
    flushRetryMs: 10,
  };
}

export function benchStorageOptions(): StorageOptions {
  return { ...defaultStorageOptions(), syncMode: 'none' };
}

/** Throws ERR_INVALID_ARGUMENT naming the first bad option. */
export function validateStorageOptions(o: StorageOptions): void {
  const bad = (what: string): never => {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `invalid storage option ${what}`);
  };
  if (!['batch', 'periodic', 'none'].includes(o.syncMode)) bad(`syncMode '${o.syncMode}' (use batch, periodic or none)`);
  if (!(o.syncIntervalMs > 0)) bad(`syncIntervalMs ${o.syncIntervalMs} (must be > 0)`);
  if (!(o.memtableBytes >= 1024)) bad(`memtableBytes ${o.memtableBytes} (must be >= 1024)`);
  if (!(o.maxFrozenMemtables >= 1)) bad(`maxFrozenMemtables ${o.maxFrozenMemtables} (must be >= 1)`);
  if (!(o.blockCacheBytes >= 0)) bad(`blockCacheBytes ${o.blockCacheBytes} (must be >= 0)`);
  if (!(o.blockSize >= 64 && o.blockSize <= 1 << 20)) bad(`blockSize ${o.blockSize} (64 B .. 1 MiB)`);
  if (!(o.bloomBitsPerKey >= 1 && o.bloomBitsPerKey <= 32)) bad(`bloomBitsPerKey ${o.bloomBitsPerKey} (1 .. 32)`);
  if (o.compression !== 'lz4' && o.compression !== 'none') bad(`compression '${o.compression}' (use lz4 or none)`);
  if (!(o.compaction.minMergeWidth >= 2)) bad(`compaction.minMergeWidth ${o.compaction.minMergeWidth} (must be >= 2)`);
  if (!(o.compaction.tierRatio > 1)) bad(`compaction.tierRatio ${o.compaction.tierRatio} (must be > 1)`);
  if (!(o.compaction.maxRuns >= 2)) bad(`compaction.maxRuns ${o.compaction.maxRuns} (must be >= 2)`);
  if (o.jobs !== 'piscina' && o.jobs !== 'inline') bad(`jobs '${o.jobs}' (use piscina or inline)`);
  if (!WAL_RECOVERY_MODES.includes(o.walRecovery)) bad(`walRecovery '${String(o.walRecovery)}' (use strict or skip-damaged)`);
  if (!TABLE_DAMAGE_MODES.includes(o.tableDamage)) bad(`tableDamage '${String(o.tableDamage)}' (use keep or quarantine)`);
}
