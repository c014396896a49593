// Runs on: main thread of a bench child process. One adapter per engine under test, so the
// workloads in bench/storage.ts are written once and every engine runs the same loop.
//
// The ringkv engine is loaded at run time from dist/src/storage/index.js: the harness builds
// and type-checks while the engine is still being written, and reports it as missing.

import { ClassicLevel } from 'classic-level';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open as openLmdb, type RootDatabase } from 'lmdb';
// Type-only: erased from the build, so a half-written engine never stops the peers' rows.
import type { openEngine as OpenEngineFn } from '../../src/storage/index.js';

export const ENGINES = ['ringkv', 'level', 'lmdb'] as const;
export type EngineName = (typeof ENGINES)[number];

/** ringkv's sync modes that the bench compares; each peer runs its closest equivalent. */
export type SyncChoice = 'batch' | 'none';

export interface PutOp {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
}

export interface EngineConfig {
  dir: string;
  sync: SyncChoice;
  memtableBytes: number;
  blockCacheBytes: number;
  compression: 'lz4' | 'none';
  /** Expected size of the data set, to size lmdb's map up front. */
  dataBytes: number;
}

export interface BenchAdapter {
  /** One put per call; a promise only for engines whose writes are asynchronous. */
  put(key: Uint8Array, value: Uint8Array): void | Promise<void>;
  /** One atomic batch per call. */
  write(ops: readonly PutOp[]): void | Promise<void>;
  /** Synchronous for every engine here (classic-level's getSync, lmdb's get). */
  get(key: Uint8Array): Uint8Array | undefined;
  /** Brings the loaded data to a steady on-disk state before reads are timed; says what it did. */
  settle(): Promise<string>;
  /** Engine-specific state worth printing next to a result (tables, cache hits, ...). */
  describe(): string;
  close(): Promise<void>;
}

/** How each engine's durability setting maps to ringkv's sync mode (printed with the results). */
export function syncLabel(engine: EngineName, sync: SyncChoice): string {
  switch (engine) {
    case 'ringkv':
      return sync === 'batch' ? `syncMode 'batch'` : `syncMode 'none'`;
    case 'level':
      return sync === 'batch' ? 'sync: true' : 'sync: false';
    case 'lmdb':
      return sync === 'batch' ? 'sync, overlappingSync: false' : 'noSync: true';
  }
}

/** The call each engine's row times. */
export function methodLabel(engine: EngineName, op: 'single' | 'batch' | 'get'): string {
  switch (engine) {
    case 'ringkv':
      return op === 'single' ? 'put()' : op === 'batch' ? 'write(ops)' : 'get()';
    case 'level':
      return op === 'single' ? 'await put()' : op === 'batch' ? 'await batch(ops)' : 'getSync()';
    case 'lmdb':
      return op === 'single' ? 'putSync() (1 txn each)' : op === 'batch' ? 'transactionSync(putSync x N)' : 'get()';
  }
}

export const MAPPING_NOTES: readonly string[] = [
  "ringkv `batch` = WAL fsynced before put/write returns; level `sync: true` = fsync per put/batch; lmdb `overlappingSync: false` (and sync on) = commit fsynced before the call returns.",
  'ringkv `none` = WAL never fsynced by writes; level `sync: false` = write() to the OS, no fsync; lmdb `noSync: true` = no fsync at all (meta included).',
  'Writes: ringkv `put()`/`write(ops)` (synchronous); level `await put()`/`await batch(ops)` (asynchronous, one at a time); lmdb `putSync()` (one transaction per put) / `transactionSync()` with N `putSync()` per batch. Reads: ringkv `get()`, level `getSync()`, lmdb `get()` (binary encoding, returns a copy).',
  'level gets writeBufferSize = memtableBytes and cacheSize = blockCacheBytes, compression (Snappy) on when ringkv uses lz4. lmdb has neither: it reads through the OS page cache (its mmap), as the others read their files through the page cache (the data fits in RAM, so no row measures a cold disk).',
];

export function ringkvModuleUrl(): URL {
  return new URL('../../src/storage/index.js', import.meta.url);
}

/** Whether the built engine exports `openEngine` (the harness can run before the engine exists). */
export async function ringkvAvailable(): Promise<string | undefined> {
  const url = ringkvModuleUrl();
  if (!existsSync(fileURLToPath(url))) return 'src/storage/index.ts does not exist yet';
  try {
    const mod = (await import(url.href)) as { openEngine?: unknown };
    return typeof mod.openEngine === 'function' ? undefined : 'src/storage/index.ts does not export openEngine';
  } catch (err) {
    return `src/storage/index.js failed to load: ${(err as Error).message}`;
  }
}

export async function openAdapter(engine: EngineName, cfg: EngineConfig): Promise<BenchAdapter> {
  switch (engine) {
    case 'ringkv':
      return openRingkv(cfg);
    case 'level':
      return openLevel(cfg);
    case 'lmdb':
      return openLmdbAdapter(cfg);
  }
}

// ---- ringkv ----------------------------------------------------------------------------


/** Polls `stats()` until flushes and compactions have stopped changing for this long. */
const SETTLE_QUIET_MS = 1000;
const SETTLE_POLL_MS = 100;
/** Gives up waiting for background work after this long and says so in the result. */
const SETTLE_LIMIT_MS = 180_000;

async function openRingkv(cfg: EngineConfig): Promise<BenchAdapter> {
  const mod = (await import(ringkvModuleUrl().href)) as { openEngine?: typeof OpenEngineFn };
  if (typeof mod.openEngine !== 'function') throw new Error('src/storage/index.js does not export openEngine');
  const engine = await mod.openEngine({
    dir: cfg.dir,
    syncMode: cfg.sync,
    memtableBytes: cfg.memtableBytes,
    blockCacheBytes: cfg.blockCacheBytes,
    compression: cfg.compression,
  });
  return {
    put: (key, value) => engine.put(key, value),
    write: (ops) => engine.write(ops),
    get: (key) => engine.get(key),
    async settle() {
      await engine.flush();
      const fingerprint = (): string => {
        const s = engine.stats();
        return `${s.flushes}/${s.compactions}/${s.tables}/${s.frozenMemtables}/${s.compactionBytesWritten}`;
      };
      const waited = await waitQuiet(fingerprint, () => engine.stats().frozenMemtables === 0);
      const s = engine.stats();
      return `flush(), then background work quiet for ${SETTLE_QUIET_MS} ms (waited ${waited}): ${s.tables} tables, ${s.compactions} compactions`;
    },
    describe() {
      const s = engine.stats();
      const c = s.blockCache;
      const lookups = c.hits + c.misses;
      const hitRate = lookups > 0 ? `${((100 * c.hits) / lookups).toFixed(0)}%` : '-';
      return `tables ${s.tables} (${mib(s.tableBytes)}), flushes ${s.flushes}, compactions ${s.compactions} (wrote ${mib(s.compactionBytesWritten)}), block cache hits ${hitRate}`;
    },
    close: () => engine.close(),
  };
}

// ---- classic-level (LevelDB) -------------------------------------------------------------

async function openLevel(cfg: EngineConfig): Promise<BenchAdapter> {
  const options = {
    keyEncoding: 'view',
    valueEncoding: 'view',
    writeBufferSize: cfg.memtableBytes,
    cacheSize: cfg.blockCacheBytes,
    compression: cfg.compression === 'lz4',
  } as const;
  let db = new ClassicLevel<Uint8Array, Uint8Array>(cfg.dir, options);
  await db.open();
  const writeOptions = { sync: cfg.sync === 'batch' };
  const levels = (): string => {
    const files: string[] = [];
    for (let l = 0; l < 7; l++) files.push(db.getProperty(`leveldb.num-files-at-level${l}`));
    return files.join('/');
  };
  return {
    put: (key, value) => db.put(key, value, writeOptions),
    write: (ops) => db.batch(ops as PutOp[], writeOptions),
    get: (key) => db.getSync(key),
    async settle() {
      // LevelDB has no flush call: reopening writes the memtable (its log) to a level-0 table.
      await db.close();
      db = new ClassicLevel<Uint8Array, Uint8Array>(cfg.dir, options);
      await db.open();
      const waited = await waitQuiet(() => `${levels()}|${db.getProperty('leveldb.stats')}`, () => true);
      return `close + reopen (writes the memtable to level 0), then compactions quiet for ${SETTLE_QUIET_MS} ms (waited ${waited}): files per level ${levels()}`;
    },
    describe: () => `files per level ${levels()}`,
    close: () => db.close(),
  };
}

// ---- lmdb ------------------------------------------------------------------------------

async function openLmdbAdapter(cfg: EngineConfig): Promise<BenchAdapter> {
  const db: RootDatabase<Uint8Array, Uint8Array> = openLmdb<Uint8Array, Uint8Array>({
    path: join(cfg.dir, 'data.mdb'),
    encoding: 'binary',
    keyEncoding: 'binary',
    // Sized up front so no row pays for growing the map (B+tree pages need ~2x the raw bytes).
    mapSize: Math.max(2 ** 30, 3 * cfg.dataBytes),
    ...(cfg.sync === 'batch' ? { overlappingSync: false } : { noSync: true }),
  });
  return {
    put: (key, value) => {
      db.putSync(key, value);
    },
    write: (ops) => {
      db.transactionSync(() => {
        for (const op of ops) db.putSync(op.key, op.value);
      });
    },
    get: (key) => db.get(key),
    async settle() {
      await db.flushed;
      return 'nothing to settle (B+tree updated in place)';
    },
    describe() {
      const stats = (db as unknown as { getStats?: () => Record<string, unknown> }).getStats?.();
      if (stats === undefined) return '';
      return `entries ${String(stats['entryCount'])}, tree depth ${String(stats['treeDepth'])}`;
    },
    close: () => db.close(),
  };
}

// ---- helpers ---------------------------------------------------------------------------

/** Waits until `fingerprint()` stays the same for SETTLE_QUIET_MS and `ready()` holds. */
async function waitQuiet(fingerprint: () => string, ready: () => boolean): Promise<string> {
  const start = Date.now();
  let last = fingerprint();
  let quietSince = Date.now();
  while (Date.now() - start < SETTLE_LIMIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    const now = fingerprint();
    if (now !== last || !ready()) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= SETTLE_QUIET_MS) {
      return `${((Date.now() - start) / 1000).toFixed(1)} s`;
    }
  }
  return `gave up after ${SETTLE_LIMIT_MS / 1000} s`;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
