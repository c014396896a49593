// Runs on: a shard worker (or whichever single thread owns an engine).
// The per-shard LSM storage engine: commit log, memtable, SSTables with Bloom filters,
// universal compaction in piscina jobs, block cache. See docs/storage.md and docs/formats.md.
import { defaultStorageOptions, validateStorageOptions, type StorageOptions } from './options.js';
import { PiscinaRunner } from './job-pool.js';
import { LsmEngine } from './engine.js';
import { InlineRunner, type JobRunner } from './job-runner.js';
import { RealVfs } from './vfs-real.js';
import type { Vfs } from './vfs.js';

export { LsmEngine } from './engine.js';
export { MemoryEngine } from './memory-engine.js';
export { MemoryVfs } from './vfs-memory.js';
export { FaultyVfs } from './vfs-faulty.js';
export { RealVfs } from './vfs-real.js';
export type { Vfs, VfsFile } from './vfs.js';
export type { EngineStats, RecoveryReport, ScanEntry, StorageEngine, SyncMode, WriteOp } from './types.js';

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
export { Random } from './random.js';
export { readWholeFile, writeFileAtomic } from './vfs.js';
export { MAX_VALUE_BYTES } from './record.js';
export { defaultStorageOptions, WAL_RECOVERY_MODES, type StorageOptions, type WalRecovery } from './options.js';
export { LOCK_FILE, lockHolder, takeDirLock, type DirLock } from './dir-lock.js';
