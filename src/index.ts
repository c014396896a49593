// Runs on: the main thread. ringkv's embedded API: `const db = await open({ dir })`.
//
// A store of `shards` worker threads (default: one per core less the main thread's), each a replica on a ring of
// Q partitions, each owning LSM engines in `<dir>/shard-<i>`. Requests are routed by the
// key's token; every put is versioned (dotted version vectors) and replicated on N shards;
// reads merge R answers and return every concurrent value with a context.
import { availableParallelism } from 'node:os';
import { mkdirSync } from 'node:fs';
import { type StorageOptions, readWholeFile, writeFileAtomic, RealVfs } from './storage/index.js';
import { ShardTransport } from './coordinator/index.js';
import { ErrorCode, RingkvError } from './errors.js';
import { createTokenHasher } from './hash/index.js';
import { defaultShardCount, suggestedSpinMicros } from './ipc/index.js';
import { DEFAULT_PARTITIONS, Ring } from './ring/index.js';
import { takeDirLock, type DirLock } from './storage/index.js';
import { DEFAULT_ANTI_ENTROPY_INTERVAL_MS, DEFAULT_N, DEFAULT_QUORUM, DEFAULT_TIMEOUT_MS, type LocalStoreOptions, Store, shardStorage } from './store.js';
import { DEFAULT_HINT_MAX_AGE_MS, DEFAULT_TOMBSTONE_GRACE_MS } from './shard/index.js';

export { Store, type Bytes, type ClearOptions, type PutOptions, type StorageFaultEvent, type StoreStats } from './store.js';
export type { BatchSlots, ConsistencyLevel, ReadResult, Receipt, RequestOptions, WriteResult } from './coordinator/index.js';
export { CONSISTENCY_LEVELS } from './coordinator/index.js';
export { ErrorCode, RingkvError, isCorruption } from './errors.js';
export { contextFromString, contextToString } from './version/index.js';

export interface OpenOptions {
  /** Where the store lives (created if missing). */
  dir: string;
  /** Shard worker threads. Default: the cores there are less one for the main thread, at least 1 (docs/notes.md: more spinning threads than cores hurts every request). */
  shards?: number;
  /** Replicas per key. Default 3 (or the shard count, if smaller). */
  n?: number;
  /** Replies a read waits for. Default 2 (at most n). */
  r?: number;
  /** Acknowledgements a write waits for. Default 2 (at most n). */
  w?: number;
  /** Per-replica request timeout in ms. Default 2000. */
  timeoutMs?: number;
  /** Whether hints on fallback shards count toward W. Default true (sloppy quorum). */
  sloppy?: boolean;
  /** Most concurrent values per key. Default 64. */
  maxSiblings?: number;
  /** Resolve concurrent writes by timestamp (last writer wins) instead of keeping siblings. Default false. */
  lww?: boolean;
  /** Storage engine options of every shard (syncMode, memtableBytes, ...). */
  storage?: Partial<StorageOptions>;
  /** Ring partitions (a power of two). Default 256. Fixed for the life of the store. */
  partitions?: number;
  /** How often pending hints are swept to shards that are up, in ms. Default 5000. */
  handoffIntervalMs?: number;
  /** Wait this long before restarting a dead shard, in ms. Default 100. */
  restartDelayMs?: number;
  /**
   * Pause between anti-entropy rounds (Merkle-tree exchanges over every partition), in ms.
   * Default 60000; 0 turns the schedule off (store.antiEntropy.runOnce() still works).
   */
  antiEntropyIntervalMs?: number;
  /**
   * Tombstone GC: a deleted key's tombstone is purged once it is this old and an anti-entropy
   * exchange in which all N replicas took part has seen it everywhere (src/shard/tombstone-gc.ts).
   * Default a day. At least twice the shards' hint max age (3 h), so that no hint older than
   * a delete can be delivered after its tombstone is gone.
   */
  tombstoneGraceMs?: number;
}


/** The store's layout, kept in `<dir>/STORE.json`: reopening with another layout is refused. */
interface Layout {
  shards: number;
  partitions: number;
}

/** Opens (creating or recovering) a store in `options.dir`. */
export async function open(options: OpenOptions): Promise<Store> {
  if (typeof options?.dir !== 'string' || options.dir === '') throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'open() needs { dir }');
  const dir = options.dir;
  const antiEntropyIntervalMs = options.antiEntropyIntervalMs ?? DEFAULT_ANTI_ENTROPY_INTERVAL_MS;
  if (typeof antiEntropyIntervalMs !== 'number' || !(antiEntropyIntervalMs >= 0) || !Number.isFinite(antiEntropyIntervalMs)) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `antiEntropyIntervalMs must be a number of ms >= 0 (0: off), got ${String(antiEntropyIntervalMs)}`);
  }
  const tombstoneGraceMs = options.tombstoneGraceMs ?? DEFAULT_TOMBSTONE_GRACE_MS;
  if (!Number.isSafeInteger(tombstoneGraceMs) || tombstoneGraceMs < 2 * DEFAULT_HINT_MAX_AGE_MS) {
    throw new RingkvError(
      ErrorCode.INVALID_ARGUMENT,
      `tombstoneGraceMs must be an integer number of ms >= ${2 * DEFAULT_HINT_MAX_AGE_MS} (twice the hint max age), got ${String(options.tombstoneGraceMs)}`,
    );
  }
  // One owner per data dir: ERR_LOCKED (naming the holder's PID) if another store or a
  // server, here or in another process, has it open. Held until close().
  const lock = takeDirLock(dir);
  try {
    return await openLocked(options, dir, antiEntropyIntervalMs, tombstoneGraceMs, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function openLocked(options: OpenOptions, dir: string, antiEntropyIntervalMs: number, tombstoneGraceMs: number, lock: DirLock): Promise<Store> {
  const layout = checkLayout(dir, {
    shards: options.shards ?? defaultShardCount(availableParallelism()),
    partitions: options.partitions ?? DEFAULT_PARTITIONS,
  });
  const members = Array.from({ length: layout.shards }, (_, i) => ({ id: `s${i}`, host: 'local', rack: 'local', dc: 'local', weight: 1 }));
  const ring = Ring.build(members, layout.partitions);
  const n = options.n ?? Math.min(DEFAULT_N, layout.shards);
  // The flat public options, resolved into the options type a cluster node takes too.
  const local: LocalStoreOptions = {
    dir,
    shards: layout.shards,
    storage: shardStorage(options.storage ?? {}, n),
    defaults: {
      n,
      r: options.r ?? Math.min(DEFAULT_QUORUM, n),
      w: options.w ?? Math.min(DEFAULT_QUORUM, n),
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      sloppy: options.sloppy ?? true,
      maxSiblings: options.maxSiblings ?? 64,
      lww: options.lww ?? false,
    },
    handoffIntervalMs: options.handoffIntervalMs ?? 5000,
    antiEntropyIntervalMs,
  };
  const transport = await ShardTransport.start({
    dir: local.dir,
    shards: local.shards,
    storage: local.storage,
    spinMicros: suggestedSpinMicros(local.shards, availableParallelism()),
    restartDelayMs: options.restartDelayMs ?? 100,
    controlTimeoutMs: 30_000,
  });
  return new Store({
    ring,
    transport,
    hasher: await createTokenHasher(),
    defaults: local.defaults,
    handoffIntervalMs: local.handoffIntervalMs,
    antiEntropy: { intervalMs: local.antiEntropyIntervalMs, tombstoneGraceMs },
    close: async () => {
      try {
        await transport.close();
      } finally {
        lock.release();
      }
    },
    shardStats: () => transport.shardStats(),
    shards: transport,
  });
}

function checkLayout(dir: string, wanted: Layout): Layout {
  const vfs = new RealVfs();
  const path = `${dir}/STORE.json`;
  if (!vfs.exists(path)) {
    writeFileAtomic(vfs, dir, 'STORE.json', new TextEncoder().encode(JSON.stringify(wanted) + '\n'));
    return wanted;
  }
  const have = JSON.parse(new TextDecoder().decode(readWholeFile(vfs, path))) as Layout;
  if (have.shards !== wanted.shards || have.partitions !== wanted.partitions) {
    throw new RingkvError(
      ErrorCode.INVALID_ARGUMENT,
      `${dir} holds a store of ${have.shards} shards and ${have.partitions} partitions; open it with those ` +
        `(changing them needs a rebalance, which is not available yet)`,
    );
  }
  return have;
}
