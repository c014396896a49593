// Runs on: any thread. Command-line flags of bench/storage.ts and the list of scenarios they
// select. The plan is a pure function of the flags, so a child process given the same flags
// and a scenario id rebuilds exactly the scenario its parent meant.

import { ENGINES, type EngineName, type SyncChoice } from './adapters.js';
import { KEY_BYTES } from './keyspace.js';

export interface Args {
  quick: boolean;
  /** Adds the large run (data 10x the engine's memory budget) after the standard rows. */
  large: boolean;
  /** Runs only the large run. */
  largeOnly: boolean;
  keys: number | undefined;
  largeKeys: number | undefined;
  cache: number | undefined;
  only: EngineName[];
  write: boolean;
  seed: number;
  compression: 'lz4' | 'none';
  /** Set in child processes: which engine and scenario to run, and where. */
  child: { engine: EngineName; scenario: string; dir: string } | undefined;
  /** Flags as given, minus the child-only ones, to forward to children and print. */
  forwarded: string[];
}

export const USAGE = `usage: node --expose-gc dist/bench/storage.js [flags]
  --quick            small counts, a smoke run (seconds)
  --keys N           keys with 100-byte values (default 1000000; 1 KiB rows use N/4)
  --large            also run the large scenario (data 10x memtable + block cache; minutes, ~4 GB disk)
  --large-only       run only the large scenario
  --large-keys N     keys of 1 KiB in the large run (default 4000000)
  --cache BYTES      block cache of ringkv and level in the standard rows (default 128 MiB)
  --only E[,E]       engines: ringkv, level, lmdb (default all)
  --compression C    ringkv lz4|none (default lz4; level Snappy on/off to match)
  --seed N           PRNG seed (default 1)
  --write            also write the results as a section of BENCHMARKS.md`;

export function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    quick: false,
    large: false,
    largeOnly: false,
    keys: undefined,
    largeKeys: undefined,
    cache: undefined,
    only: [...ENGINES],
    write: false,
    seed: 1,
    compression: 'lz4',
    child: undefined,
    forwarded: [],
  };
  const rest = [...argv];
  const take = (flag: string): string => {
    const v = rest.shift();
    if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  const count = (flag: string): number => {
    const n = Number(take(flag).replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer`);
    return n;
  };
  while (rest.length > 0) {
    const flag = rest.shift() as string;
    switch (flag) {
      case '--quick':
        args.quick = true;
        args.forwarded.push(flag);
        break;
      case '--large':
        args.large = true;
        args.forwarded.push(flag);
        break;
      case '--large-only':
        args.large = true;
        args.largeOnly = true;
        args.forwarded.push(flag);
        break;
      case '--cache':
        args.cache = count(flag);
        args.forwarded.push(flag, String(args.cache));
        break;
      case '--keys':
        args.keys = count(flag);
        args.forwarded.push(flag, String(args.keys));
        break;
      case '--large-keys':
        args.largeKeys = count(flag);
        args.forwarded.push(flag, String(args.largeKeys));
        break;
      case '--only': {
        const list = take(flag).split(',');
        for (const e of list) if (!isEngine(e)) throw new Error(`unknown engine ${e}\n${USAGE}`);
        args.only = list as EngineName[];
        args.forwarded.push(flag, list.join(','));
        break;
      }
      case '--compression': {
        const c = take(flag);
        if (c !== 'lz4' && c !== 'none') throw new Error(`--compression lz4|none`);
        args.compression = c;
        args.forwarded.push(flag, c);
        break;
      }
      case '--seed':
        args.seed = count(flag);
        args.forwarded.push(flag, String(args.seed));
        break;
      case '--write':
        args.write = true;
        args.forwarded.push(flag);
        break;
      case '--child': {
        const engine = take(flag);
        const scenario = take(flag);
        if (!isEngine(engine)) throw new Error(`unknown engine ${engine}`);
        args.child = { engine, scenario, dir: args.child?.dir ?? '' };
        break;
      }
      case '--dir': {
        const dir = take(flag);
        if (args.child === undefined) throw new Error('--dir is for child processes (after --child)');
        args.child.dir = dir;
        break;
      }
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  return args;
}

function isEngine(s: string): s is EngineName {
  return (ENGINES as readonly string[]).includes(s);
}

export type ScenarioKind = 'put' | 'get' | 'large';

export interface Scenario {
  /** Stable id, e.g. `v100.put.rand.batch1000.none`; children are told which to run by it. */
  id: string;
  kind: ScenarioKind;
  valueSize: number;
  /** Keys written (puts) or loaded before the gets (get, large). */
  keys: number;
  /** Gets timed (get, large). */
  gets: number;
  order: 'seq' | 'rand';
  /** Puts per call: 1, or BATCH_SIZE. */
  batch: number;
  /** Sync mode of the timed writes (the load before gets always runs with 'none'). */
  sync: SyncChoice;
  memtableBytes: number;
  blockCacheBytes: number;
  /** Bytes of keys + values in the data set. */
  dataBytes: number;
  /** Why this row's count differs from its neighbours', if it does. */
  note: string;
}

export const BATCH_SIZE = 1000;
/** Single puts with an fsync each run at ~3k/s here: they get a smaller count. */
const SINGLE_SYNC_KEYS = 20_000;
const SINGLE_SYNC_KEYS_QUICK = 1_000;
const DEFAULT_KEYS = 1_000_000;
const QUICK_KEYS = 20_000;
/** 1 KiB rows use a quarter of the keys: the same op count would write 1 GB per row per engine. */
const KIB_KEYS_DIVISOR = 4;
/** The data set is this many times the memtable, so reads go to tables. */
const DATA_TO_MEMTABLE = 4;
/** ringkv's default block cache (128 MiB), given to LevelDB too; `--cache BYTES` overrides it
 *  (e.g. 8 MiB, LevelDB's default, to make most gets miss the cache and read the files). */
const BLOCK_CACHE_BYTES = 128 * 2 ** 20;
const LARGE_KEYS = 4_000_000;
const LARGE_KEYS_QUICK = 200_000;
const LARGE_VALUE = 1024;
const LARGE_MEMTABLE = 64 * 2 ** 20;
const LARGE_MEMTABLE_QUICK = 4 * 2 ** 20;
const LARGE_CACHE = 256 * 2 ** 20;
const LARGE_CACHE_QUICK = 16 * 2 ** 20;
/** The large run times this many random gets at most (1M as in the standard rows). */
const LARGE_GETS = 1_000_000;

export function plan(args: Args): Scenario[] {
  const out: Scenario[] = [];
  if (!args.largeOnly) {
    const keys100 = args.keys ?? (args.quick ? QUICK_KEYS : DEFAULT_KEYS);
    for (const valueSize of [100, 1024]) {
      const keys = valueSize === 100 ? keys100 : Math.max(1, Math.floor(keys100 / KIB_KEYS_DIVISOR));
      out.push(...standardRows(args, valueSize, keys));
    }
  }
  if (args.large) {
    const keys = args.largeKeys ?? (args.quick ? LARGE_KEYS_QUICK : LARGE_KEYS);
    const dataBytes = keys * (KEY_BYTES + LARGE_VALUE);
    out.push({
      id: `large.v${LARGE_VALUE}`,
      kind: 'large',
      valueSize: LARGE_VALUE,
      keys,
      gets: Math.min(keys, LARGE_GETS),
      order: 'rand',
      batch: BATCH_SIZE,
      sync: 'none',
      memtableBytes: args.quick ? LARGE_MEMTABLE_QUICK : LARGE_MEMTABLE,
      blockCacheBytes: args.quick ? LARGE_CACHE_QUICK : LARGE_CACHE,
      dataBytes,
      note: '',
    });
  }
  return out;
}

function standardRows(args: Args, valueSize: number, keys: number): Scenario[] {
  const dataBytes = keys * (KEY_BYTES + valueSize);
  const memtableBytes = Math.max(64 * 1024, Math.floor(dataBytes / DATA_TO_MEMTABLE));
  const blockCacheBytes = args.cache ?? BLOCK_CACHE_BYTES;
  const singleSyncKeys = Math.min(keys, args.quick ? SINGLE_SYNC_KEYS_QUICK : SINGLE_SYNC_KEYS);
  const rows: Scenario[] = [];
  const base = { valueSize, memtableBytes, blockCacheBytes, gets: 0, note: '' };
  for (const sync of ['batch', 'none'] as const) {
    for (const batch of [1, BATCH_SIZE]) {
      for (const order of ['seq', 'rand'] as const) {
        const n = sync === 'batch' && batch === 1 ? singleSyncKeys : keys;
        rows.push({
          ...base,
          id: `v${valueSize}.put.${order}.${batch === 1 ? 'single' : `batch${batch}`}.${sync}`,
          kind: 'put',
          keys: n,
          order,
          batch,
          sync,
          dataBytes: n * (KEY_BYTES + valueSize),
          note: n < keys ? 'fewer: fsync each' : '',
        });
      }
    }
  }
  rows.push({
    ...base,
    id: `v${valueSize}.get.rand`,
    kind: 'get',
    keys,
    gets: keys,
    order: 'rand',
    batch: 1,
    sync: 'none',
    dataBytes,
    note: '',
  });
  return rows;
}
