// Runs on: main thread of a bench child process. What bench/engine.ts measures, behind one
// interface: the embedded ringkv store (open() from src/index.ts: shard worker threads,
// coordinator, quorum), and the peers lmdb and classic-level (LevelDB) called the way an
// application would call them (lmdb's auto-batched async put, level's getSync and batch).
//
// ringkv is loaded at run time from dist/src/index.js, so a half-written tree still runs
// the peers' rows.

import { ClassicLevel } from 'classic-level';
import { join } from 'node:path';
import { open as openLmdb, type RootDatabase } from 'lmdb';
// Type-only: erased from the build.
import type { open as OpenStoreFn, Store } from '../../src/index.js';
import type { ReadResult } from '../../src/coordinator/index.js';

export const SUBJECTS = ['ringkv', 'lmdb', 'level'] as const;
export type SubjectName = (typeof SUBJECTS)[number];
export type SyncChoice = 'batch' | 'none';

export interface SubjectConfig {
  dir: string;
  sync: SyncChoice;
  /** ringkv only. */
  shards: number;
  n: number;
  r: number;
  w: number;
  /** Expected bytes of data, to size lmdb's map. */
  dataBytes: number;
}

/**
 * One engine under test. Gets of the store are asynchronous (a request to a shard thread);
 * the peers' gets are synchronous calls, so for them `getSync` is set and `get` is unused.
 */
export interface Subject {
  /** Resolves with an engine-specific result; `valueOf` extracts the value (for checks only). */
  get(key: Uint8Array): Promise<unknown>;
  getSync?: (key: Uint8Array) => Uint8Array | undefined;
  getMany(keys: Uint8Array[]): Promise<unknown[]> | unknown[];
  valueOf(result: unknown): Uint8Array | undefined;
  put(key: Uint8Array, value: Uint8Array): Promise<unknown>;
  putMany(keys: Uint8Array[], values: Uint8Array[]): Promise<unknown>;
  /** Brings the loaded data to a steady state before reads are timed; says what it did. */
  settle(): Promise<string>;
  describe(): Promise<string>;
  close(): Promise<void>;
}

/** How each engine's durability setting maps to ringkv's sync mode (printed with the results). */
export function syncLabel(subject: SubjectName, sync: SyncChoice): string {
  switch (subject) {
    case 'ringkv':
      return `syncMode '${sync}'`;
    case 'level':
      return sync === 'batch' ? 'sync: true' : 'sync: false';
    case 'lmdb':
      return sync === 'batch' ? 'overlappingSync: false' : 'noSync: true';
  }
}

export async function openSubject(name: SubjectName, cfg: SubjectConfig): Promise<Subject> {
  switch (name) {
    case 'ringkv':
      return openRingkv(cfg);
    case 'lmdb':
      return openLmdbSubject(cfg);
    case 'level':
      return openLevel(cfg);
  }
}

// ---- ringkv ------------------------------------------------------------------------------

/** Background flushes/compactions must stay unchanged this long before reads are timed. */
const SETTLE_QUIET_MS = 1000;
const SETTLE_POLL_MS = 100;
const SETTLE_LIMIT_MS = 120_000;

async function openRingkv(cfg: SubjectConfig): Promise<Subject> {
  const mod = (await import(new URL('../../src/index.js', import.meta.url).href)) as { open: typeof OpenStoreFn };
  const store: Store = await mod.open({
    dir: cfg.dir,
    shards: cfg.shards,
    n: cfg.n,
    r: cfg.r,
    w: cfg.w,
    storage: { syncMode: cfg.sync },
  });
  const engineStats = async (): Promise<Array<{ data?: { flushes: number; compactions: number; tables: number; frozenMemtables: number; blockCache: { hits: number; misses: number } } }>> =>
    ((await store.stats()).shards ?? []) as Array<{ data?: { flushes: number; compactions: number; tables: number; frozenMemtables: number; blockCache: { hits: number; misses: number } } }>;
  return {
    get: (key) => store.get(key),
    getMany: (keys) => store.getMany(keys),
    valueOf: (r) => (r as ReadResult | undefined)?.values[0],
    put: (key, value) => store.put(key, value),
    putMany: (keys, values) => store.putMany(keys.map((k, i) => [k, values[i]!] as const)),
    async settle() {
      await store.shards?.flush();
      const start = Date.now();
      let last = '';
      let quietSince = Date.now();
      while (Date.now() - start < SETTLE_LIMIT_MS) {
        await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
        const now = JSON.stringify((await engineStats()).map((s) => [s.data?.flushes, s.data?.compactions, s.data?.tables, s.data?.frozenMemtables]));
        if (now !== last) {
          last = now;
          quietSince = Date.now();
        } else if (Date.now() - quietSince >= SETTLE_QUIET_MS) {
          return `flush(), then compactions quiet for ${SETTLE_QUIET_MS} ms (waited ${((Date.now() - start) / 1000).toFixed(1)} s)`;
        }
      }
      return `flush(); compactions still running after ${SETTLE_LIMIT_MS / 1000} s`;
    },
    async describe() {
      const shards = await engineStats();
      const tables = shards.map((s) => s.data?.tables ?? 0);
      const hits = shards.reduce((a, s) => a + (s.data?.blockCache.hits ?? 0), 0);
      const lookups = shards.reduce((a, s) => a + (s.data?.blockCache.hits ?? 0) + (s.data?.blockCache.misses ?? 0), 0);
      return `tables per shard ${tables.join('/')}, block cache hits ${lookups > 0 ? `${((100 * hits) / lookups).toFixed(0)}%` : '-'}`;
    },
    close: () => store.close(),
  };
}

// ---- lmdb --------------------------------------------------------------------------------

async function openLmdbSubject(cfg: SubjectConfig): Promise<Subject> {
  const db: RootDatabase<Uint8Array, Uint8Array> = openLmdb<Uint8Array, Uint8Array>({
    path: join(cfg.dir, 'data.mdb'),
    encoding: 'binary',
    keyEncoding: 'binary',
    mapSize: Math.max(2 ** 30, 3 * cfg.dataBytes),
    ...(cfg.sync === 'batch' ? { overlappingSync: false } : { noSync: true }),
  });
  const getSync = (key: Uint8Array): Uint8Array | undefined => db.get(key);
  return {
    get: (key) => Promise.resolve(db.get(key)),
    getSync,
    getMany: (keys) => keys.map(getSync),
    valueOf: (v) => v as Uint8Array | undefined,
    put: (key, value) => db.put(key, value),
    async putMany(keys, values) {
      // Every put of one event turn commits in one transaction: awaiting the last awaits all.
      let last: Promise<boolean> | undefined;
      for (let i = 0; i < keys.length; i++) last = db.put(keys[i]!, values[i]!);
      await last;
    },
    async settle() {
      await db.flushed;
      return 'nothing to settle (B+tree updated in place)';
    },
    async describe() {
      const stats = (db as unknown as { getStats?: () => Record<string, unknown> }).getStats?.();
      return stats === undefined ? '' : `entries ${String(stats['entryCount'])}, tree depth ${String(stats['treeDepth'])}`;
    },
    close: () => db.close(),
  };
}

// ---- classic-level -----------------------------------------------------------------------

async function openLevel(cfg: SubjectConfig): Promise<Subject> {
  const options = { keyEncoding: 'view', valueEncoding: 'view' } as const;
  let db = new ClassicLevel<Uint8Array, Uint8Array>(cfg.dir, options);
  await db.open();
  const writeOptions = { sync: cfg.sync === 'batch' };
  const getSync = (key: Uint8Array): Uint8Array | undefined => db.getSync(key);
  return {
    get: (key) => Promise.resolve(db.getSync(key)),
    getSync,
    getMany: (keys) => keys.map(getSync),
    valueOf: (v) => v as Uint8Array | undefined,
    put: (key, value) => db.put(key, value, writeOptions),
    putMany: (keys, values) => db.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: values[i]! })), writeOptions),
    async settle() {
      // LevelDB has no flush call: reopening writes the memtable (its log) to level 0.
      await db.close();
      db = new ClassicLevel<Uint8Array, Uint8Array>(cfg.dir, options);
      await db.open();
      return 'close + reopen (writes the memtable to level 0)';
    },
    async describe() {
      const files: string[] = [];
      for (let l = 0; l < 7; l++) files.push(db.getProperty(`leveldb.num-files-at-level${l}`));
      return `files per level ${files.join('/')}`;
    },
    close: () => db.close(),
  };
}
