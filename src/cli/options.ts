// Runs on: the main thread. The option table of `ringkv start`: one row per setting, with
// its flag, environment variable, config-file key, default, help text and parser.
//
// Precedence, highest first: command-line flag > RINGKV_* environment variable >
// `--config file.json` key > default. `--help` prints this table.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultStorageOptions, WAL_RECOVERY_MODES, type StorageOptions, type SyncMode, type WalRecovery } from '../storage/index.js';
import { CONSISTENCY_LEVELS, type ConsistencyLevel } from '../coordinator/index.js';
import { DEFAULT_ADMIN_PORT } from '../server/admin/index.js';
import { DEFAULT_CLEANUP_DELAY_MS, DEFAULT_TRANSFER_BYTES_PER_SECOND } from '../cluster/index.js';
import { DEFAULT_MAXMEMORY_CLIENTS } from '../server/resp/index.js';
import { defaultShardCount } from '../ipc/index.js';
import { DEFAULT_N, DEFAULT_QUORUM, DEFAULT_TIMEOUT_MS } from '../store.js';
import { usage } from './cli-error.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const SYNC_MODES: readonly SyncMode[] = ['batch', 'periodic', 'none'];

/** RESP port: Redis's 6379 + 1, so a Redis on the same machine keeps its port. */
export const DEFAULT_RESP_PORT = 6380;
/** The storage rows' defaults are the engine's own (src/storage/db/options.ts): one place. */
const STORAGE_DEFAULTS = defaultStorageOptions();
const DEFAULT_MEMTABLE_BYTES = STORAGE_DEFAULTS.memtableBytes;
const DEFAULT_BLOCK_CACHE_BYTES = STORAGE_DEFAULTS.blockCacheBytes;
/** Peer (cluster) port: RESP port + 1000, admin port - 1000. */
export const DEFAULT_CLUSTER_PORT = 7380;
/** Gossip round: Cassandra's 1 s (news reaches a handful of nodes in a couple of seconds). */
const DEFAULT_GOSSIP_INTERVAL_MS = 1000;
/** Redis's maxclients default: ringkv fits it to the open-file limit at start. */
const DEFAULT_MAXCLIENTS = 10_000;
/** Redis's client-query-buffer-limit default: the most bytes of one command. */
const DEFAULT_CLIENT_QUERY_BUFFER_LIMIT = 1024 * 1024 * 1024;
/** Smallest client-query-buffer-limit: room for a command carrying one value of the largest size. */
const MIN_CLIENT_QUERY_BUFFER_LIMIT = 17 * 1024 * 1024;
/** Smallest memtable accepted: below this, flushes would be constant. */
const MIN_MEMTABLE_BYTES = 64 * 1024;

export interface StartOptions {
  dir: string;
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  shards: number;
  autoShards: boolean;
  minShards: number;
  maxShards: number;
  n: number;
  r: number;
  w: number;
  syncMode: SyncMode;
  memtableBytes: number;
  blockCacheBytes: number;
  walRecovery: WalRecovery;
  timeoutMs: number;
  requirepass: string | undefined;
  allowFlushdb: boolean;
  nodeId: string | undefined;
  clusterPort: number;
  seeds: string[];
  clusterName: string;
  clusterSecret: string | undefined;
  dc: string;
  rack: string;
  weight: number;
  gossipIntervalMs: number;
  cleanupDelayMs: number;
  autoCommit: boolean;
  transferBytesPerSecond: number;
  replication: Record<string, number> | undefined;
  consistency: ConsistencyLevel | undefined;
  logLevel: LogLevel;
  maxclients: number;
  clientQueryBufferLimit: number;
  maxmemoryClients: number;
  busyReplyThreshold: number;
}

/** The settings whose defaults depend on others (shards on the dir; n on shards; r, w on n). */
type Derived = Partial<StartOptions> & { dir: string };

export interface OptionSpec<T> {
  /** Command-line flag, without the dashes. */
  flag: string;
  env: string;
  configKey: string;
  /** Placeholder of the value in --help; '' for a switch (a flag without a value). */
  value: string;
  help: string;
  /** The default; a function when it depends on settings resolved before it. */
  default: T | ((o: Derived) => T);
  /** The default as --help shows it. */
  defaultText: string;
  /** Parses a flag or env string, or a config-file value. Throws a message string. */
  parse(raw: unknown): T;
  /**
   * Where the value goes besides StartOptions, under the same name (the row's key is the
   * field it sets): `storage` into the storage options every shard gets, `quorum` into the
   * quorum settings (N, R, W, timeout); open() and the cluster node both take them from
   * `optionsInto` (src/cli/start.ts), so no field is copied by hand.
   */
  into?: OptionTarget;
}

type OptionTable = { [K in keyof StartOptions]: OptionSpec<StartOptions[K]> };

/** The option objects a row's value can go into (OptionSpec.into), and their types. */
interface OptionTargets {
  storage: Partial<StorageOptions>;
  quorum: Pick<StartOptions, 'n' | 'r' | 'w' | 'timeoutMs'>;
}
type OptionTarget = keyof OptionTargets;

/** The values of `o` whose rows go `into` target, each under its own name. */
export function optionsInto<K extends OptionTarget>(o: StartOptions, target: K): OptionTargets[K] {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(START_OPTIONS) as [keyof StartOptions, OptionSpec<unknown>][]) {
    if (spec.into === target) out[key] = o[key];
  }
  return out as OptionTargets[K];
}

// ----- value parsers: each throws a message that resolveStartOptions wraps with where the value came from.

function text(raw: unknown): string {
  if (typeof raw !== 'string' || raw === '') throw 'expected a non-empty string';
  return raw;
}

function integer(min: number, max: number): (raw: unknown) => number {
  return (raw) => {
    const v = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(v) || v < min || v > max) throw `expected an integer in ${min}..${max}`;
    return v;
  };
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

/** A size in bytes: `65536`, `64MiB`, `64m`, `1GB`. */
export function parseSize(raw: unknown, min = 0): number {
  let v = NaN;
  if (typeof raw === 'number') v = raw;
  else if (typeof raw === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw);
    const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (m && unit !== undefined) v = Math.floor(Number(m[1]) * unit);
  }
  if (!Number.isSafeInteger(v) || v < min) throw `expected a size in bytes of at least ${min} (e.g. 65536, 64KiB, 64MiB, 1GiB)`;
  return v;
}

function oneOf<T extends string>(values: readonly T[]): (raw: unknown) => T {
  return (raw) => {
    if (typeof raw !== 'string' || !(values as readonly string[]).includes(raw)) throw `expected one of ${values.join(', ')}`;
    return raw as T;
  };
}

const TRUE_WORDS = ['yes', 'true', '1', 'on'];
const FALSE_WORDS = ['no', 'false', '0', 'off'];

/** A switch: the bare flag (true), a JSON boolean, or yes/no, true/false, 1/0, on/off. */
function yesNo(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  const word = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  if (word !== undefined && TRUE_WORDS.includes(word)) return true;
  if (word !== undefined && FALSE_WORDS.includes(word)) return false;
  throw `expected yes or no (${TRUE_WORDS.join('/')} or ${FALSE_WORDS.join('/')})`;
}

function nodeId(raw: unknown): string {
  const v = text(raw);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(v)) throw 'expected 1-64 letters, digits, dots, dashes or underscores';
  return v;
}

function positiveNumber(raw: unknown): number {
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN;
  if (!Number.isFinite(v) || v <= 0) throw 'expected a positive number';
  return v;
}

/** host:port,host:port (a JSON array in a config file). */
function addressList(raw: unknown): string[] {
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((x) => x.trim()).filter((x) => x !== '') : undefined;
  if (items === undefined) throw 'expected host:port[,host:port...]';
  for (const a of items) if (typeof a !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(a)) throw `expected host:port, got ${JSON.stringify(a)}`;
  return items as string[];
}

/** dc1:2,dc2:1 (a JSON object in a config file). */
function replicationFactors(raw: unknown): Record<string, number> {
  const entries = typeof raw === 'object' && raw !== null && !Array.isArray(raw)
    ? Object.entries(raw)
    : typeof raw === 'string' ? raw.split(',').map((x) => x.trim().split(':')) : undefined;
  if (entries === undefined || entries.length === 0) throw 'expected dc:n[,dc:n...]';
  const out: Record<string, number> = {};
  for (const e of entries) {
    const [dc, n] = e as [string, unknown];
    const k = typeof n === 'number' ? n : Number(n);
    if (typeof dc !== 'string' || dc === '' || !Number.isInteger(k) || k < 0 || k > 16) throw `expected dc:n with n in 0..16, got ${JSON.stringify(e)}`;
    out[dc] = k;
  }
  return out;
}

function port(raw: unknown): number {
  return integer(0, 65535)(raw);
}

/**
 * The shard count of the store already in `dir`, if there is one: a single node's
 * STORE.json (reopening needs the same), or a cluster node's NODE.json (the count it last
 * ran with or was resized to).
 */
export function existingShards(dir: string): number | undefined {
  for (const file of ['STORE.json', 'NODE.json']) {
    try {
      const layout = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { shards?: unknown };
      if (typeof layout.shards === 'number') return layout.shards;
    } catch {
      // not there
    }
  }
  return undefined;
}

function formatBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)}MiB` : String(n);
}

export const START_OPTIONS: OptionTable = {
  dir: {
    flag: 'dir', env: 'RINGKV_DIR', configKey: 'dir', value: 'path',
    help: 'Data directory (created if missing; locked by <dir>/LOCK while the server runs)',
    default: './data', defaultText: './data', parse: text,
  },
  nodeId: {
    flag: 'node-id', env: 'RINGKV_NODE_ID', configKey: 'nodeId', value: 'id',
    help: 'Run as a node of a cluster under this id (unique, stable; letters, digits, . _ -); without it ringkv runs alone',
    default: undefined, defaultText: 'none (a single node)', parse: nodeId,
  },
  host: {
    flag: 'host', env: 'RINGKV_HOST', configKey: 'host', value: 'addr',
    help: 'RESP (Redis protocol) listen address; a non-loopback address needs --requirepass',
    default: '127.0.0.1', defaultText: '127.0.0.1', parse: text,
  },
  port: {
    flag: 'port', env: 'RINGKV_PORT', configKey: 'port', value: 'port',
    help: 'RESP listen port (0: any free port, printed in the ready line)',
    default: DEFAULT_RESP_PORT, defaultText: String(DEFAULT_RESP_PORT), parse: port,
  },
  adminHost: {
    flag: 'admin-host', env: 'RINGKV_ADMIN_HOST', configKey: 'adminHost', value: 'addr',
    help: 'Admin HTTP listen address (/metrics, /livez, /readyz, /ring, /stats); off loopback it needs --requirepass or the cluster secret, which every request but /livez and /readyz must then carry',
    default: '127.0.0.1', defaultText: '127.0.0.1', parse: text,
  },
  adminPort: {
    flag: 'admin-port', env: 'RINGKV_ADMIN_PORT', configKey: 'adminPort', value: 'port',
    help: 'Admin HTTP listen port (0: any free port, printed in the ready line)',
    default: DEFAULT_ADMIN_PORT, defaultText: String(DEFAULT_ADMIN_PORT), parse: port,
  },
  shards: {
    flag: 'shards', env: 'RINGKV_SHARDS', configKey: 'shards', value: 'count',
    help: 'Shard worker threads (alone: fixed for the life of the data dir; a cluster node: changed by ringkv cluster shards or --auto-shards)',
    default: (o) => existingShards(o.dir) ?? defaultShardCount(availableParallelism()),
    defaultText: `the dir's existing count, else the cores less one for the main thread (${defaultShardCount(availableParallelism())} here); with --auto-shards kept within its bounds`, parse: integer(1, 1024),
  },
  autoShards: {
    flag: 'auto-shards', env: 'RINGKV_AUTO_SHARDS', configKey: 'autoShards', value: '',
    help: 'Cluster node: change the shard count by load, one at a time, between --min-shards and --max-shards (grows after 30 s above 75% busy, shrinks after 2 min below 20%, 1 min apart at least); env and config take yes/no',
    default: false, defaultText: 'off (the count changes only by ringkv cluster shards)', parse: yesNo,
  },
  minShards: {
    flag: 'min-shards', env: 'RINGKV_MIN_SHARDS', configKey: 'minShards', value: 'count',
    help: 'Fewest shards --auto-shards keeps',
    default: 1, defaultText: '1', parse: integer(1, 1024),
  },
  maxShards: {
    flag: 'max-shards', env: 'RINGKV_MAX_SHARDS', configKey: 'maxShards', value: 'count',
    help: 'Most shards --auto-shards starts; at most the cores (a shard is a thread that spins)',
    default: () => Math.max(1, availableParallelism()), defaultText: `the cores (${availableParallelism()} here)`, parse: integer(1, 1024),
  },
  n: {
    flag: 'n', env: 'RINGKV_N', configKey: 'n', value: 'count',
    help: 'Replicas per key (N)',
    default: (o) => (o.nodeId !== undefined ? DEFAULT_N : Math.min(DEFAULT_N, o.shards ?? DEFAULT_N)), defaultText: `${DEFAULT_N} (alone: at most --shards; with --replication: their sum)`, parse: integer(1, 1024), into: 'quorum',
  },
  r: {
    flag: 'r', env: 'RINGKV_R', configKey: 'r', value: 'count',
    help: 'Replies a read waits for (R)',
    default: (o) => Math.min(DEFAULT_QUORUM, o.n ?? DEFAULT_QUORUM), defaultText: `${DEFAULT_QUORUM} (at most N)`, parse: integer(1, 1024), into: 'quorum',
  },
  w: {
    flag: 'w', env: 'RINGKV_W', configKey: 'w', value: 'count',
    help: 'Acknowledgements a write waits for (W)',
    default: (o) => Math.min(DEFAULT_QUORUM, o.n ?? DEFAULT_QUORUM), defaultText: `${DEFAULT_QUORUM} (at most N)`, parse: integer(1, 1024), into: 'quorum',
  },
  syncMode: {
    flag: 'sync-mode', env: 'RINGKV_SYNC_MODE', configKey: 'syncMode', value: SYNC_MODES.join('|'),
    help: 'WAL durability: batch = fsync before OK (group commit), periodic = every 100 ms, none = OS decides',
    default: STORAGE_DEFAULTS.syncMode, defaultText: STORAGE_DEFAULTS.syncMode, parse: oneOf(SYNC_MODES), into: 'storage',
  },
  memtableBytes: {
    flag: 'memtable-bytes', env: 'RINGKV_MEMTABLE_BYTES', configKey: 'memtableBytes', value: 'size',
    help: 'Memtable size per shard before it is flushed to an SSTable (e.g. 64MiB)',
    default: DEFAULT_MEMTABLE_BYTES, defaultText: formatBytes(DEFAULT_MEMTABLE_BYTES), parse: (raw) => parseSize(raw, MIN_MEMTABLE_BYTES), into: 'storage',
  },
  blockCacheBytes: {
    flag: 'block-cache-bytes', env: 'RINGKV_BLOCK_CACHE_BYTES', configKey: 'blockCacheBytes', value: 'size',
    help: 'Block cache budget per shard (e.g. 128MiB; 0 disables it)',
    default: DEFAULT_BLOCK_CACHE_BYTES, defaultText: formatBytes(DEFAULT_BLOCK_CACHE_BYTES), parse: (raw) => parseSize(raw, 0), into: 'storage',
  },
  walRecovery: {
    flag: 'wal-recovery', env: 'RINGKV_WAL_RECOVERY', configKey: 'walRecovery', value: WAL_RECOVERY_MODES.join('|'),
    help: 'A WAL segment damaged in the middle at start: strict = refuse to start (ERR_CORRUPTION), skip-damaged = keep every valid record, keep the segment as <n>.log.damaged, mark the shard for repair',
    default: STORAGE_DEFAULTS.walRecovery, defaultText: STORAGE_DEFAULTS.walRecovery, parse: oneOf(WAL_RECOVERY_MODES), into: 'storage',
  },
  timeoutMs: {
    flag: 'timeout-ms', env: 'RINGKV_TIMEOUT_MS', configKey: 'timeoutMs', value: 'ms',
    help: 'Per-replica request timeout',
    default: DEFAULT_TIMEOUT_MS, defaultText: String(DEFAULT_TIMEOUT_MS), parse: integer(1, 3_600_000), into: 'quorum',
  },
  requirepass: {
    flag: 'requirepass', env: 'RINGKV_REQUIREPASS', configKey: 'requirepass', value: 'password',
    help: 'Password clients must AUTH with (prefer the env var: flags show in ps)',
    default: undefined, defaultText: 'none', parse: text,
  },
  allowFlushdb: {
    flag: 'allow-flushdb', env: 'RINGKV_ALLOW_FLUSHDB', configKey: 'allowFlushdb', value: '',
    help: 'Allow FLUSHDB/FLUSHALL: delete every key, not atomically (keys written meanwhile may survive); env and config take yes/no',
    default: false, defaultText: 'off (FLUSHDB answers an error)', parse: yesNo,
  },
  clusterPort: {
    flag: 'cluster-port', env: 'RINGKV_CLUSTER_PORT', configKey: 'clusterPort', value: 'port',
    help: 'Peer port of a cluster node, on --host (other nodes connect here; gossiped, so not 0)',
    default: DEFAULT_CLUSTER_PORT, defaultText: String(DEFAULT_CLUSTER_PORT), parse: integer(1, 65535),
  },
  seeds: {
    flag: 'seeds', env: 'RINGKV_SEEDS', configKey: 'seeds', value: 'host:port,...',
    help: 'Peer addresses of nodes to join through; none on the first node (it starts a new cluster)',
    default: [], defaultText: 'none', parse: addressList,
  },
  clusterName: {
    flag: 'cluster-name', env: 'RINGKV_CLUSTER_NAME', configKey: 'clusterName', value: 'name',
    help: 'Cluster name: nodes of another cluster are refused',
    default: 'ringkv', defaultText: 'ringkv', parse: text,
  },
  clusterSecret: {
    flag: 'cluster-secret', env: 'RINGKV_CLUSTER_SECRET', configKey: 'clusterSecret', value: 'secret',
    help: 'Shared secret peers prove in their handshake and admin cluster commands need (prefer the env var); required with --node-id',
    default: undefined, defaultText: 'none', parse: text,
  },
  dc: {
    flag: 'dc', env: 'RINGKV_DC', configKey: 'dc', value: 'name',
    help: 'Data centre of this node (replicas spread over DCs, racks and hosts)',
    default: 'dc1', defaultText: 'dc1', parse: text,
  },
  rack: {
    flag: 'rack', env: 'RINGKV_RACK', configKey: 'rack', value: 'name',
    help: 'Rack of this node within its DC',
    default: 'rack1', defaultText: 'rack1', parse: text,
  },
  weight: {
    flag: 'weight', env: 'RINGKV_WEIGHT', configKey: 'weight', value: 'number',
    help: "Capacity of each of this node's shards: a node owns partitions in proportion to shards x weight",
    default: 1, defaultText: '1', parse: positiveNumber,
  },
  gossipIntervalMs: {
    flag: 'gossip-interval-ms', env: 'RINGKV_GOSSIP_INTERVAL_MS', configKey: 'gossipIntervalMs', value: 'ms',
    help: 'Gossip round interval; failure detection scales with it',
    default: DEFAULT_GOSSIP_INTERVAL_MS, defaultText: String(DEFAULT_GOSSIP_INTERVAL_MS), parse: integer(10, 60_000),
  },
  cleanupDelayMs: {
    flag: 'cleanup-delay-ms', env: 'RINGKV_CLEANUP_DELAY_MS', configKey: 'cleanupDelayMs', value: 'ms',
    help: 'How long the cluster stays quiet (every node up, same ring, no transfer left) before a node deletes the ranges it handed away',
    default: DEFAULT_CLEANUP_DELAY_MS, defaultText: String(DEFAULT_CLEANUP_DELAY_MS), parse: integer(0, 86_400_000),
  },
  autoCommit: {
    flag: 'auto-commit', env: 'RINGKV_AUTO_COMMIT', configKey: 'autoCommit', value: 'yes|no',
    help: "Whether joins, leaves and removes take effect by themselves (yes) or wait for 'ringkv cluster commit' (no)",
    default: true, defaultText: 'yes', parse: yesNo,
  },
  transferBytesPerSecond: {
    flag: 'transfer-bytes-per-second', env: 'RINGKV_TRANSFER_BYTES_PER_SECOND', configKey: 'transferBytesPerSecond', value: 'size',
    help: 'How fast this node streams the ranges it held to new replicas when the ring changes (e.g. 16MiB; 0: unlimited)',
    default: DEFAULT_TRANSFER_BYTES_PER_SECOND, defaultText: formatBytes(DEFAULT_TRANSFER_BYTES_PER_SECOND), parse: (raw) => parseSize(raw, 0),
  },
  replication: {
    flag: 'replication', env: 'RINGKV_REPLICATION', configKey: 'replication', value: 'dc:n,...',
    help: 'Replicas per DC of a new cluster (e.g. dc1:2,dc2:1; N is their sum); set on the first node, carried by the ring',
    default: undefined, defaultText: 'none (N replicas over racks and hosts)', parse: replicationFactors,
  },
  consistency: {
    flag: 'consistency', env: 'RINGKV_CONSISTENCY', configKey: 'consistency', value: 'level',
    help: `Default consistency level instead of R and W: ${CONSISTENCY_LEVELS.join(', ')}`,
    default: undefined, defaultText: 'none (R and W)', parse: oneOf(CONSISTENCY_LEVELS),
  },
  logLevel: {
    flag: 'log-level', env: 'RINGKV_LOG_LEVEL', configKey: 'logLevel', value: 'level',
    help: `Log level: ${LOG_LEVELS.join(', ')} (JSON lines on stdout)`,
    default: 'info', defaultText: 'info', parse: oneOf(LOG_LEVELS),
  },
  maxclients: {
    flag: 'maxclients', env: 'RINGKV_MAXCLIENTS', configKey: 'maxclients', value: 'count',
    help: "Most client connections (one more is answered '-ERR max number of clients reached'); lowered at start, with a warning, to fit ulimit -n less the descriptors kept for the engines",
    default: DEFAULT_MAXCLIENTS, defaultText: String(DEFAULT_MAXCLIENTS), parse: integer(1, 1_000_000),
  },
  clientQueryBufferLimit: {
    flag: 'client-query-buffer-limit', env: 'RINGKV_CLIENT_QUERY_BUFFER_LIMIT', configKey: 'clientQueryBufferLimit', value: 'size',
    help: 'Most bytes of one command (all its arguments); a client sending a longer one gets an error and is closed',
    default: DEFAULT_CLIENT_QUERY_BUFFER_LIMIT, defaultText: '1GiB', parse: (raw) => parseSize(raw, MIN_CLIENT_QUERY_BUFFER_LIMIT),
  },
  maxmemoryClients: {
    flag: 'maxmemory-clients', env: 'RINGKV_MAXMEMORY_CLIENTS', configKey: 'maxmemoryClients', value: 'size',
    help: 'Budget of all clients\' unparsed input together; past it the client holding the most gets an error and is closed (0: no budget)',
    default: DEFAULT_MAXMEMORY_CLIENTS, defaultText: `a quarter of the host's memory, at most 1GiB (${formatBytes(DEFAULT_MAXMEMORY_CLIENTS)} here)`,
    parse: (raw) => {
      const v = parseSize(raw, 0);
      if (v !== 0 && v < MIN_CLIENT_QUERY_BUFFER_LIMIT) throw `expected 0 or a size of at least ${MIN_CLIENT_QUERY_BUFFER_LIMIT} bytes`;
      return v;
    },
  },
  busyReplyThreshold: {
    flag: 'busy-reply-threshold', env: 'RINGKV_BUSY_REPLY_THRESHOLD', configKey: 'busyReplyThreshold', value: 'ms',
    help: 'A Lua script (EVAL) running longer than this is stopped with an error (Redis answers BUSY past it)',
    default: 5000, defaultText: '5000', parse: integer(1, 3_600_000),
  },
};

/** The flag and env var that name the config file itself. */
export const CONFIG_FLAG = 'config';
export const CONFIG_ENV = 'RINGKV_CONFIG';

type Source = { where: string; raw: unknown };

function readConfigFile(path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw usage(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw usage(`config file ${path} must hold a JSON object`);
  const known = new Set(Object.values(START_OPTIONS).map((s) => s.configKey));
  for (const key of Object.keys(json)) {
    if (!known.has(key)) throw usage(`config file ${path}: unknown key "${key}" (known: ${[...known].join(', ')})`);
  }
  return json as Record<string, unknown>;
}

export type StartArgs = { help: true } | { help: false; options: StartOptions; configFile: string | undefined };

/** Resolves `ringkv start`'s settings from argv, the environment and the config file. */
export function resolveStartOptions(argv: readonly string[], env: NodeJS.ProcessEnv): StartArgs {
  const specs = Object.entries(START_OPTIONS) as [keyof StartOptions, OptionSpec<unknown>][];
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean', short: 'h' },
        [CONFIG_FLAG]: { type: 'string' },
        ...Object.fromEntries(specs.map(([, s]) => [s.flag, { type: s.value === '' ? ('boolean' as const) : ('string' as const) }])),
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw usage(`${(err as Error).message} (see ringkv start --help)`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) return { help: true };

  const configFile = (values[CONFIG_FLAG] as string | undefined) ?? (env[CONFIG_ENV] || undefined);
  const config = configFile === undefined ? {} : readConfigFile(configFile);

  const out: Derived = { dir: '' };
  /** The settings given by a flag, env var or config key (not defaulted). */
  const given = new Set<keyof StartOptions>();
  for (const [name, spec] of specs) {
    const flag = values[spec.flag];
    const source: Source | undefined =
      flag !== undefined ? { where: `--${spec.flag}`, raw: flag }
      : env[spec.env] !== undefined && env[spec.env] !== '' ? { where: `${spec.env}`, raw: env[spec.env] }
      : config[spec.configKey] !== undefined ? { where: `"${spec.configKey}" in ${configFile}`, raw: config[spec.configKey] }
      : undefined;
    let value: unknown;
    if (source === undefined) value = typeof spec.default === 'function' ? (spec.default as (o: Derived) => unknown)(out) : spec.default;
    else {
      given.add(name);
      try {
        value = spec.parse(source.raw);
      } catch (why) {
        throw usage(`${source.where}: ${typeof why === 'string' ? why : (why as Error).message}, got ${JSON.stringify(source.raw)}`);
      }
    }
    (out as Record<string, unknown>)[name] = value;
  }
  const o = out as StartOptions;
  if (o.nodeId !== undefined && o.clusterSecret === undefined) {
    throw usage('a cluster node needs the cluster secret: set RINGKV_CLUSTER_SECRET (or --cluster-secret) to the same value on every node');
  }
  checkAutoShards(o, given);
  if (o.consistency !== undefined && o.nodeId === undefined) throw usage('--consistency sets the level of a cluster node\'s requests: it needs --node-id (alone, use --r and --w)');
  if (o.replication !== undefined) {
    if (o.nodeId === undefined) throw usage('--replication places replicas over the DCs of a cluster: it needs --node-id');
    const sum = Object.values(o.replication).reduce((a, b) => a + b, 0);
    if (values[START_OPTIONS.n.flag] !== undefined && o.n !== sum) throw usage(`N (${o.n}) must be the sum of the per-DC replicas (${sum})`);
    o.n = sum;
    o.r = Math.min(o.r, sum);
    o.w = Math.min(o.w, sum);
  }
  if (o.nodeId === undefined && o.n > o.shards) throw usage(`N (${o.n}) cannot exceed the shard count (${o.shards}): lower --n or raise --shards`);
  if (o.r > o.n) throw usage(`R (${o.r}) cannot exceed N (${o.n})`);
  if (o.w > o.n) throw usage(`W (${o.w}) cannot exceed N (${o.n})`);
  return { help: false, options: o, configFile };
}

/**
 * --auto-shards and its bounds: cluster nodes only (a single node's shard count is fixed by
 * its data dir), max at most the cores, and a defaulted --shards brought within the bounds.
 */
function checkAutoShards(o: StartOptions, given: ReadonlySet<keyof StartOptions>): void {
  const cores = Math.max(1, availableParallelism());
  if (!o.autoShards) {
    const stray = (['minShards', 'maxShards'] as const).find((k) => given.has(k));
    if (stray !== undefined) throw usage(`--${START_OPTIONS[stray].flag} bounds the load-based shard policy: it needs --auto-shards`);
    return;
  }
  if (o.nodeId === undefined) throw usage("--auto-shards changes a cluster node's shard count at runtime: it needs --node-id (a single node's shard count is fixed by its data dir)");
  if (o.maxShards > cores) throw usage(`--max-shards (${o.maxShards}) cannot exceed the ${cores} cores of this machine: more shard threads than cores slow every request`);
  if (o.minShards > o.maxShards) throw usage(`--min-shards (${o.minShards}) cannot exceed --max-shards (${o.maxShards})`);
  if (o.shards < o.minShards || o.shards > o.maxShards) {
    if (given.has('shards')) throw usage(`--shards (${o.shards}) must be within --min-shards (${o.minShards}) and --max-shards (${o.maxShards}) with --auto-shards`);
    o.shards = Math.min(o.maxShards, Math.max(o.minShards, o.shards));
  }
}

/** `ringkv start --help`. */
export function startHelp(): string {
  const rows = Object.values(START_OPTIONS).map((s) => [`--${s.flag}${s.value === '' ? '' : ` <${s.value}>`}`, s.help, s.defaultText, s.env, s.configKey] as const);
  rows.unshift([`--${CONFIG_FLAG} <file.json>`, 'JSON file of settings, keyed by the config keys below', 'none', CONFIG_ENV, '-']);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const lines = rows.map(([flag, help, def, env, key]) =>
    `  ${flag.padEnd(w0)}  ${help}\n  ${''.padEnd(w0)}  default: ${def}; env: ${env}; config key: ${key}`,
  );
  return [
    'Usage: ringkv start [options]',
    '',
    'Starts a ringkv server: a store of shard worker threads on a consistent-hash ring, served',
    'over the Redis protocol (RESP) and an admin HTTP port. SIGINT/SIGTERM shut it down cleanly.',
    '',
    'Options (precedence: flag > environment variable > config file > default):',
    ...lines,
    `  ${'-h, --help'.padEnd(w0)}  Show this help`,
    '',
  ].join('\n');
}
