// Runs on: the main thread. The options of `ringkv bench` (redis-benchmark's letters where
// it has them), its --help, and the keys it writes.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { SyncMode } from '../storage/index.js';
import { defaultShardCount } from '../ipc/index.js';
import { DEFAULT_N, DEFAULT_QUORUM } from '../store.js';
import { usage } from './cli-error.js';
import { DEFAULT_RESP_PORT, existingShards } from './options.js';

export const TESTS = ['set', 'get', 'ping'] as const;
export type TestName = (typeof TESTS)[number];
/** The tests an embedded store runs (PING has no store call to measure). */
const EMBEDDED_TESTS: readonly TestName[] = ['set', 'get'];
const SYNC_MODES: readonly SyncMode[] = ['batch', 'periodic', 'none'];

/** redis-benchmark's defaults: 50 clients, 100000 requests, 3-byte values, keyspace of 100000 with -r. */
const DEFAULTS = { clients: 50, requests: 100_000, dataSize: 3, pipeline: 1, keyspace: 100_000 };
/** Embedded store defaults, as `ringkv start`'s: N 3 and R/W 2, each at most the shard count. */

export const BENCH_HELP = `Usage: ringkv bench [options]

Loads a running ringkv (or any Redis) server over RESP, or with --embedded a store opened
in this process, and prints requests per second and p50/p99 latency per test, like
redis-benchmark.

  -h, --host <addr>       Server address. default: 127.0.0.1
  -p, --port <port>       Server port. default: ${DEFAULT_RESP_PORT}
  -a, --password <pass>   AUTH with this password. default: none; env: RINGKV_REQUIREPASS
  -c, --clients <n>       Parallel connections (embedded: parallel callers). default: ${DEFAULTS.clients}
  -n, --requests <n>      Requests per test. default: ${DEFAULTS.requests}
  -d, --data-size <n>     SET value size in bytes. default: ${DEFAULTS.dataSize}
  -P, --pipeline <n>      Requests in flight per connection (per caller). default: ${DEFAULTS.pipeline}
  -r, --keyspace <n>      Distinct random keys (key:000000012345). default: ${DEFAULTS.keyspace}
  -t, --tests <list>      Comma-separated tests: ${TESTS.join(', ')} (embedded: ${EMBEDDED_TESTS.join(', ')}). default: set,get
      --progress          Show the live progress line on stderr even when it is not a terminal
      --help              Show this help

Embedded store (no server: open({ dir }) in this process; the dir is locked meanwhile):
      --embedded <dir>    Open (or create) the store in <dir> and load it directly
      --shards <n>        Shard worker threads. default: the dir's existing count, else the cores less one (${defaultShardCount(availableParallelism())} here)
      --n <n>             Replicas per key. default: ${DEFAULT_N} (at most --shards)
      --r <n>, --w <n>    Read and write quorums. default: ${DEFAULT_QUORUM} (at most N)
      --sync-mode <mode>  ${SYNC_MODES.join('|')}: fsync before a write returns, every 100 ms, or never. default: batch
`;

export interface EmbeddedOptions {
  dir: string;
  shards: number;
  n: number;
  r: number;
  w: number;
  syncMode: SyncMode;
}

export interface BenchOptions {
  host: string;
  port: number;
  password: string | undefined;
  clients: number;
  requests: number;
  dataSize: number;
  pipeline: number;
  keyspace: number;
  tests: TestName[];
  /** Show the progress line even when stderr is not a terminal. */
  progress: boolean;
  /** Set: load a store opened in this process instead of a server. */
  embedded: EmbeddedOptions | undefined;
}

function positive(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) throw usage(`--${name}: expected an integer >= ${min}, got "${raw}"`);
  return v;
}

const SERVER_FLAGS = ['host', 'port', 'password'];
const EMBEDDED_FLAGS = ['shards', 'n', 'r', 'w', 'sync-mode'];

function embeddedOptions(dir: string, str: (k: string) => string | undefined): EmbeddedOptions {
  for (const f of SERVER_FLAGS) if (str(f) !== undefined) throw usage(`--${f} does not apply with --embedded (no server is involved)`);
  const shards = positive('shards', str('shards'), existingShards(dir) ?? defaultShardCount(availableParallelism()));
  const n = positive('n', str('n'), Math.min(DEFAULT_N, shards));
  const r = positive('r', str('r'), Math.min(DEFAULT_QUORUM, n));
  const w = positive('w', str('w'), Math.min(DEFAULT_QUORUM, n));
  if (n > shards) throw usage(`N (${n}) cannot exceed the shard count (${shards}): lower --n or raise --shards`);
  if (r > n) throw usage(`R (${r}) cannot exceed N (${n})`);
  if (w > n) throw usage(`W (${w}) cannot exceed N (${n})`);
  const syncMode = str('sync-mode') ?? 'batch';
  if (!(SYNC_MODES as readonly string[]).includes(syncMode)) throw usage(`--sync-mode: expected one of ${SYNC_MODES.join(', ')}, got "${syncMode}"`);
  return { dir, shards, n, r, w, syncMode: syncMode as SyncMode };
}

/** Parses `ringkv bench`'s argv; undefined for --help. Throws a usage CliError. */
export function parseBenchOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions | undefined {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: [...argv],
      options: {
        host: { type: 'string', short: 'h' },
        port: { type: 'string', short: 'p' },
        password: { type: 'string', short: 'a' },
        clients: { type: 'string', short: 'c' },
        requests: { type: 'string', short: 'n' },
        'data-size': { type: 'string', short: 'd' },
        pipeline: { type: 'string', short: 'P' },
        keyspace: { type: 'string', short: 'r' },
        tests: { type: 'string', short: 't' },
        progress: { type: 'boolean' },
        embedded: { type: 'string' },
        shards: { type: 'string' },
        n: { type: 'string' },
        r: { type: 'string' },
        w: { type: 'string' },
        'sync-mode': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw usage(`${(err as Error).message} (see ringkv bench --help)`);
  }
  if (v.help === true) return undefined;
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const dir = str('embedded');
  if (dir === '') throw usage('--embedded: expected a directory');
  if (dir === undefined) for (const f of EMBEDDED_FLAGS) if (str(f) !== undefined) throw usage(`--${f} applies only with --embedded <dir>`);
  const embedded = dir === undefined ? undefined : embeddedOptions(dir, str);
  const tests = (str('tests') ?? 'set,get').split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
  const known = embedded === undefined ? TESTS : EMBEDDED_TESTS;
  for (const t of tests) if (!(known as readonly string[]).includes(t)) throw usage(`--tests: unknown test "${t}" (known${embedded ? ' with --embedded' : ''}: ${known.join(', ')})`);
  const port = positive('port', str('port'), DEFAULT_RESP_PORT);
  if (port > 65535) throw usage(`--port: expected at most 65535, got ${port}`);
  return {
    host: str('host') ?? '127.0.0.1',
    port,
    password: str('password') ?? (env.RINGKV_REQUIREPASS || undefined),
    clients: positive('clients', str('clients'), DEFAULTS.clients),
    requests: positive('requests', str('requests'), DEFAULTS.requests),
    dataSize: positive('data-size', str('data-size'), DEFAULTS.dataSize, 0),
    pipeline: positive('pipeline', str('pipeline'), DEFAULTS.pipeline),
    keyspace: positive('keyspace', str('keyspace'), DEFAULTS.keyspace),
    tests: tests as TestName[],
    progress: v.progress === true,
    embedded,
  };
}

/** The name of key `i`, as redis-benchmark's key:__rand_int__ (12 digits). */
export function keyName(i: number): string {
  return `key:${String(i).padStart(12, '0')}`;
}

/** A random key of a keyspace of `keyspace` keys. */
export function randomKey(keyspace: number): string {
  return keyName(Math.floor(Math.random() * keyspace));
}
