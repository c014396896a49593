// Runs on: any thread. A typed reading of the per-shard entries of `store.stats().shards`,
// which the store reports as `unknown[]` (whatever each shard worker answers). Used by
// /metrics and by `ringkv status` (which reads them back from /stats JSON).
//
// A shard that is down, or whose stats call failed, has zeros for every engine number.
import { readSummary, type HistogramSummary } from '../histogram.js';

/** The numbers of one LSM engine (a shard's data engine, or its hint engine). */
export interface EngineNumbers {
  memtableBytes: number;
  tableBytes: number;
  walBytes: number;
  tables: number;
  flushes: number;
  compactions: number;
  blockCacheHits: number;
  blockCacheMisses: number;
  blockCacheBytes: number;
  /** 1 when the engine's last open skipped damaged WAL records (walRecovery skip-damaged), else 0. */
  recoveryNeedsRepair: number;
  /** WAL bytes the last open dropped (torn tails) or skipped (damage in the middle). */
  recoveryDroppedBytes: number;
  /** Tables found damaged (a block failed its checksum) since the engine opened: quarantined or kept in service. */
  damagedTables: number;
}

/** The shard's hint store (src/shard/hint-store.ts): what it holds and what it dropped. */
export interface HintStoreNumbers {
  pending: number;
  bytes: number;
  oldestAgeMs: number;
  droppedExpired: number;
  refusedFull: number;
}

export interface ShardNumbers {
  id: string;
  up: boolean;
  restarts: number;
  data: EngineNumbers;
  hints: EngineNumbers;
  hintStore: HintStoreNumbers;
  /** Objects removed by tombstone GC since the shard started. */
  tombstonesPurged: number;
  /** Time the shard's worker was busy (not waiting for requests) since it started, ms. */
  busyMs: number;
  /** Round trips of requests to this shard as the coordinator saw them (send to reply), since the process started. */
  latency: HistogramSummary;
  /** fsyncs of the shard's files on its thread, since its worker started. */
  fsync: HistogramSummary;
  /** Siblings and tombstones, estimated from a sample of the shard's objects (object-sample.ts). */
  objects: ObjectNumbers;
  /** Why the shard's stats are missing, when they are. */
  error: string | undefined;
}

/** The sampled object counts (ObjectSample of object-sample.ts), zeros when absent. */
export interface ObjectNumbers {
  sampled: number;
  withSiblings: number;
  tombstoneOnly: number;
  siblingKeysEstimate: number;
  tombstonesEstimate: number;
}

function num(o: unknown, key: string): number {
  const v = typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** The length of the array at `key` of `o` (0 when missing). */
function entries(o: unknown, key: string): number {
  const v = field(o, key);
  return Array.isArray(v) ? v.length : 0;
}

function field(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
}

function engine(e: unknown): EngineNumbers {
  const cache = field(e, 'blockCache');
  return {
    memtableBytes: num(e, 'memtableBytes'),
    tableBytes: num(e, 'tableBytes'),
    walBytes: num(e, 'walBytes'),
    tables: num(e, 'tables'),
    flushes: num(e, 'flushes'),
    compactions: num(e, 'compactions'),
    blockCacheHits: num(cache, 'hits'),
    blockCacheMisses: num(cache, 'misses'),
    blockCacheBytes: num(cache, 'bytes'),
    recoveryNeedsRepair: field(field(e, 'recovery'), 'needsRepair') === true ? 1 : 0,
    recoveryDroppedBytes: num(field(e, 'recovery'), 'droppedBytes'),
    damagedTables: entries(e, 'damagedTables'),
  };
}

/** The numbers at `keys` of `o` (0 for each one missing or not a finite number). */
function numbers<K extends string>(o: unknown, keys: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of keys) out[k] = num(o, k);
  return out;
}

const HINT_STORE_KEYS = ['pending', 'bytes', 'oldestAgeMs', 'droppedExpired', 'refusedFull'] as const satisfies readonly (keyof HintStoreNumbers)[];
const OBJECT_KEYS = ['sampled', 'withSiblings', 'tombstoneOnly', 'siblingKeysEstimate', 'tombstonesEstimate'] as const satisfies readonly (keyof ObjectNumbers)[];

/** Reads one entry of `stats().shards`; `index` names it when it carries no id. */
export function readShardNumbers(entry: unknown, index: number): ShardNumbers {
  const id = field(entry, 'id');
  const error = field(entry, 'error');
  return {
    id: typeof id === 'string' ? id : `s${index}`,
    up: field(entry, 'up') === true,
    restarts: num(entry, 'restarts'),
    data: engine(field(entry, 'data')),
    hints: engine(field(entry, 'hints')),
    hintStore: numbers(field(entry, 'hintStore'), HINT_STORE_KEYS),
    tombstonesPurged: num(entry, 'tombstonesPurged'),
    busyMs: num(field(entry, 'load'), 'busyMs'),
    latency: readSummary(field(entry, 'latency')),
    fsync: readSummary(field(entry, 'fsync')),
    objects: numbers(field(entry, 'objects'), OBJECT_KEYS),
    error: typeof error === 'string' ? error : undefined,
  };
}

export function readAllShardNumbers(shards: readonly unknown[] | undefined): ShardNumbers[] {
  return (shards ?? []).map(readShardNumbers);
}
