// Runs on: any thread (types only). The contract of a shard's storage engine.
//
// Keys and values are opaque bytes. A missing key is `undefined`. Records are ordered
// by (token, key), so `scan` over a token range is one contiguous read.

/**
 * `hi`/`lo`, when given, are the key's token (hash/index.ts), which the caller already
 * computed: the engine then does not hash the key again. REQUIRES: they are its token.
 */
export type WriteOp =
  | { type: 'put'; key: Uint8Array; value: Uint8Array; hi?: number; lo?: number }
  | { type: 'delete'; key: Uint8Array; hi?: number; lo?: number };

export interface ScanEntry {
  key: Uint8Array;
  token: bigint;
  value: Uint8Array;
}

export type SyncMode =
  /** Group commit: the WAL is fsynced before `write` returns (default). */
  | 'batch'
  /** The WAL is fsynced every `syncIntervalMs`; a crash loses at most that window. */
  | 'periodic'
  /** Never fsynced by writes (only flushes of SSTables and the manifest are). */
  | 'none';

export interface EngineStats {
  /** Sequence number of the last write. */
  lastSeq: number;
  /**
   * Records in the memtables and tables: an upper bound on live keys (a key overwritten or
   * deleted since the last merge counts once per table holding it).
   */
  approxEntries: number;
  memtableBytes: number;
  frozenMemtables: number;
  tables: number;
  tableBytes: number;
  walBytes: number;
  flushes: number;
  compactions: number;
  compactionBytesRead: number;
  compactionBytesWritten: number;
  /** The LSM engine adds the parts of `bytes` (slab, pinned filters/indexes, big blocks, released): docs/storage.md. */
  blockCache: { hits: number; misses: number; bytes: number; capacity: number; slabBytes?: number; pinnedBytes?: number; bigBytes?: number; releasedBytes?: number };
  /** What recovery found at the last open: WAL bytes dropped, files removed. */
  recovery: RecoveryReport;
  /** The last background flush or compaction failure, until one succeeds again. */
  backgroundError?: string;
  /**
   * A storage fault in force (EMFILE/ENFILE, ENOSPC, EIO...): the last failed write's until a
   * write or a probe succeeds, else a failed flush's until a flush succeeds. /readyz is not
   * ready while any shard has one.
   */
  ioFault?: IoFault;
  /**
   * Tables found damaged since the engine opened (a block failed its checksum), one entry
   * per table, and tables a crash left half-quarantined (found at open). Absent when none.
   */
  damagedTables?: DamagedTable[];
}

/** A table whose block failed its checksum (tableDamage, docs/storage.md). */
export interface DamagedTable {
  /** The table's path in service. */
  table: string;
  /** What failed: the ERR_CORRUPTION message (file, block offset, what was wrong). */
  error: string;
  /** The read that met it: a get, a scan, a merge; 'open' for a quarantine a crash left half done. */
  foundBy: 'get' | 'scan' | 'merge' | 'open';
  /** Where the file was kept aside (`<n>.sst.damaged`) when quarantined; absent while in service (tableDamage 'keep'). */
  quarantinedAs?: string;
  /** Sequence numbers of the writes the table held (its manifest entry): what may be lost. */
  minSeq: number;
  maxSeq: number;
  entries: number;
  /** When it was found (epoch ms). */
  atMs: number;
}

export interface IoFault {
  /** ERR_IO or ERR_NO_SPACE. */
  code: string;
  /** What failed and where (the path), with the OS error. */
  message: string;
  /** When the fault began (epoch ms; 0 when only a background flush failed). */
  sinceMs: number;
}

export interface RecoveryReport {
  /** WAL records replayed. */
  walRecords: number;
  /** WAL bytes in no good record: torn tails, and damage skipped by 'skip-damaged'. */
  droppedBytes: number;
  /** One line per damaged WAL segment: file, offset, what was wrong, torn tail or skipped. */
  damage: string[];
  orphansRemoved: string[];
  /** Good records replayed from behind damage in the middle of a segment ('skip-damaged'). */
  salvagedRecords: number;
  /** Paths of the copies of segments with damage in the middle (`<n>.log.damaged`). */
  damagedSegments: string[];
  /**
   * Records were skipped (damage in the middle of a segment, salvaged past): the shard may
   * miss acknowledged writes until replicas or anti-entropy restore them.
   */
  needsRepair: boolean;
}

/**
 * A storage engine. Owned by one thread; not safe for concurrent use from several threads.
 * `write` is synchronous: when it returns, the batch is in the memtable and (in `batch`
 * sync mode) durable. Returned values are read-only views that stay valid until the caller
 * drops them; copy them before keeping them long.
 */
export interface StorageEngine {
  /**
   * The value of `key`. `tokenHi`/`tokenLo`, when given, are its token, already computed by
   * the caller (an engine may use them instead of hashing). REQUIRES: they are its token.
   */
  get(key: Uint8Array, tokenHi?: number, tokenLo?: number): Uint8Array | undefined;
  put(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): void;
  /** Applies all ops atomically: one WAL record, one fsync in `batch` mode. */
  write(ops: readonly WriteOp[]): void;
  /** Live entries with fromToken <= token < toToken, in (token, key) order. */
  scan(fromToken: bigint, toToken: bigint): IterableIterator<ScanEntry>;
  /** Writes the memtable to an SSTable and waits for it. */
  flush(): Promise<void>;
  /** Merges every table into one and waits for it. */
  compact(): Promise<void>;
  /**
   * Engine tombstones (deletes) with a sequence number below `seq` may be dropped by merges
   * that include the oldest table. Optional: an engine without tables has nothing to drop.
   */
  setPurgeHorizon?(seq: number): void;
  stats(): EngineStats;
  close(): Promise<void>;
}
