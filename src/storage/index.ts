// Runs on: a shard worker (or whichever single thread owns an engine).
// The per-shard LSM storage engine: commit log, memtable, SSTables with Bloom filters,
// universal compaction in piscina jobs, block cache. See docs/storage.md and docs/formats.md.
// The storage's public face for the rest of src/; its subfolders, top first: db/ (the
// engine, options), table/ and wal/ (the files' bytes), record/ and env/ (docs/storage.md).
import { defaultStorageOptions, validateStorageOptions, type StorageOptions, PiscinaRunner, LsmEngine, InlineRunner, type JobRunner } from './db/index.js';
import { RealVfs, type Vfs } from './env/index.js';

export { LsmEngine, MemoryEngine } from './db/index.js';
export { MemoryVfs, FaultyVfs, RealVfs, type Vfs, type VfsFile } from './env/index.js';
export type { DamagedTable, EngineStats, RecoveryReport, ScanEntry, StorageEngine, SyncMode, WriteOp } from './db/index.js';

export interface OpenEngineOptions extends Partial<StorageOptions> {
  /** The shard's directory (created if missing). */
  dir: string;
  /** Defaults to the real file system. */
  vfs?: Vfs;
}

/**
 * Opens (creating or recovering) an LSM engine in `options.dir`. Merges run in piscina job
 * threads when the files are real, on the engine's own thread otherwise.
 */
export async function openEngine(options: OpenEngineOptions): Promise<LsmEngine> {
  const { dir, vfs = new RealVfs(), ...rest } = options;
  const o: StorageOptions = { ...defaultStorageOptions(), ...rest };
  if (!(vfs instanceof RealVfs)) o.jobs = 'inline';
  validateStorageOptions(o);
  const runner: JobRunner = o.jobs === 'piscina' ? new PiscinaRunner() : new InlineRunner(vfs);
  try {
    return await LsmEngine.open({ dir, vfs, runner, options: o });
  } catch (err) {
    await runner.close();
    throw err;
  }
}
export { Random, readWholeFile, writeFileAtomic, LOCK_FILE, lockHolder, takeDirLock, type DirLock } from './env/index.js';
export { MAX_VALUE_BYTES } from './record/index.js';
export { defaultStorageOptions, TABLE_DAMAGE_MODES, WAL_RECOVERY_MODES, type StorageOptions, type TableDamage, type WalRecovery } from './db/index.js';
