// Runs on: the thread that owns an engine. storage/db/: the engine that ties the layers
// below together: the write path (write batch -> wal/ -> memtable), flushes and merges into
// table/ (picked by the compaction picker, run by a job runner: piscina threads or inline),
// the MANIFEST that names the live tables, recovery, and every storage option.
export { LsmEngine } from './engine.js';
export { MemoryEngine } from './memory-engine.js';
export { PiscinaRunner } from './job-pool.js';
export { InlineRunner, type JobRunner } from './job-runner.js';
export { benchStorageOptions, defaultStorageOptions, testStorageOptions, validateStorageOptions, TABLE_DAMAGE_MODES, WAL_RECOVERY_MODES, type StorageOptions, type TableDamage, type WalRecovery } from './options.js';
export type { DamagedTable, EngineStats, IoFault, RecoveryReport, ScanEntry, StorageEngine, SyncMode, WriteOp } from './types.js';
