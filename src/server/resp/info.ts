// Runs on: the main thread. The text of INFO: Redis's sections with the fields clients
// read (ioredis waits for `loading:0`; redis_version gates client features, and reports
// the Redis level of compatibility, not ringkv's own version, which is ringkv_version),
// and ringkv's own fields prefixed `ringkv_`.
import { arch, platform, release } from 'node:os';
import type { StoreStats } from '../../index.js';
import { readAllShardNumbers } from '../../shard/index.js';
import { expiresAtOf } from './expiry.js';
import { commandstatsFields, latencystatsFields } from './latency.js';
import { scriptStats } from './scripting.js';
import type { ServerContext, Session } from './session.js';

/** The Redis version whose commands and replies this server follows. */
export const REDIS_COMPATIBLE_VERSION = '7.0.0';

/** INFO waits this long for the shards' stats; past it, the store's fields are left out. */
const STATS_TIMEOUT_MS = 1000;
/**
 * Up to this many approximate keys, DBSIZE counts the live keys exactly with one scan walk,
 * so deleted and flushed keys stop counting; above it, it answers the approximate count.
 * The walk costs a round trip per partition (~25 ms for 256 here) plus ~5-40 µs per key
 * (10k keys took 64-470 ms on the shared 2-core machine): kept small. INFO keyspace walks
 * the same way (and reads each key at R=1 for its expiry) so its db0 matches DBSIZE;
 * clients send INFO on every connect, so concurrent INFOs of a server share one walk.
 */
const EXACT_COUNT_LIMIT = 5000;
/** Keys per scan page of the exact count. */
const COUNT_PAGE_KEYS = 1000;

/** INFO's `expires` and `avg_ttl` read the expiry of this many keys (exact up to it, scaled beyond). */
const EXPIRES_SAMPLE_KEYS = 1000;

const SECTIONS = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'errorstats', 'commandstats', 'latencystats', 'keyspace'] as const;
type Section = (typeof SECTIONS)[number];
/** Left out of INFO and INFO default, as in Redis 7 (long: a line per command type). */
const NOT_DEFAULT: readonly Section[] = ['commandstats', 'latencystats'];

/** The sections named by INFO's arguments (none or default: all but NOT_DEFAULT; all, everything: every one). */
export function infoSections(names: readonly string[]): Section[] {
  const lower = names.map((n) => n.toLowerCase());
  if (lower.some((n) => n === 'all' || n === 'everything')) return [...SECTIONS];
  const wanted = lower.includes('default') || lower.length === 0 ? SECTIONS.filter((s) => !NOT_DEFAULT.includes(s)) : [];
  return SECTIONS.filter((s) => wanted.includes(s) || lower.includes(s));
}

/**
 * The store's stats, or undefined when they take longer than STATS_TIMEOUT_MS (a shard
 * restarting) or fail: INFO must answer, since clients wait for it before anything else.
 */
export async function storeStatsSoon(s: Session): Promise<StoreStats | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), STATS_TIMEOUT_MS);
  });
  try {
    return await Promise.race([s.server.store.stats().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An approximate count of keys, from the store's stats when they carry one (`approxKeys`);
 * 0 when they do not (stats timed out, or a store without shard stats).
 */
export function approximateKeys(stats: StoreStats | undefined): number {
  const n = (stats as { approxKeys?: unknown } | undefined)?.approxKeys;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.round(n) : 0;
}

/**
 * How many keys the store holds: exact (a scan) when the approximate count is at most
 * EXACT_COUNT_LIMIT, else approximate (records / N: unmerged versions and tombstones count).
 * Without stats, or if the scan fails (a replica down), the approximate count.
 */
export async function keyCount(s: Session, stats: StoreStats | undefined): Promise<number> {
  const approx = approximateKeys(stats);
  if (stats?.approxKeys === undefined || approx > EXACT_COUNT_LIMIT) return approx;
  // records / N undercounts when a replica missed writes: stop at twice the limit.
  const ceiling = 2 * EXACT_COUNT_LIMIT;
  let counted = 0;
  let cursor = '0';
  try {
    do {
      const page = await s.server.store.scan({ cursor, count: COUNT_PAGE_KEYS });
      counted += page.keys.length;
      cursor = page.cursor;
    } while (cursor !== '0' && counted <= ceiling);
  } catch {
    return approx;
  }
  return cursor === '0' ? counted : approx;
}

/** INFO keyspace's db0 line: keys (DBSIZE's count), how many expire, their average TTL in ms. */
export interface KeyspaceFigures {
  keys: number;
  expires: number;
  avgTtlMs: number;
}

/** The walk in flight per server: INFOs arriving together (clients connecting) share one. */
const walks = new WeakMap<ServerContext, Promise<KeyspaceFigures>>();
/** The last figures per server and when they were taken. */
const recent = new WeakMap<ServerContext, { at: number; figures: KeyspaceFigures }>();
/**
 * INFO reuses keyspace figures this young: clients send INFO on every connect, and a walk
 * of 5000 keys took 70-1200 ms on the shared 2-core machine. DBSIZE drops them (forget),
 * so an INFO after a DBSIZE counts afresh and matches it.
 */
const KEYSPACE_FRESH_MS = 1000;

/** Forgets the server's recent keyspace figures (DBSIZE: the next INFO counts afresh). */
export function forgetKeyspaceFigures(s: Session): void {
  recent.delete(s.server);
}

/**
 * The keyspace figures. Keys: as DBSIZE counts them (the same walk while the store is
 * small, else approxKeys). Expires and avg_ttl: the expiry of the first EXPIRES_SAMPLE_KEYS
 * keys listed (read at R=1), exact up to that many keys, scaled to the key count beyond.
 */
export function keyspaceFigures(s: Session, stats: StoreStats | undefined): Promise<KeyspaceFigures> {
  const last = recent.get(s.server);
  if (last !== undefined && Date.now() - last.at < KEYSPACE_FRESH_MS) return Promise.resolve(last.figures);
  const running = walks.get(s.server);
  if (running !== undefined) return running;
  const walk = walkKeyspace(s, stats)
    .then((figures) => {
      recent.set(s.server, { at: Date.now(), figures });
      return figures;
    })
    .finally(() => walks.delete(s.server));
  walks.set(s.server, walk);
  return walk;
}

async function walkKeyspace(s: Session, stats: StoreStats | undefined): Promise<KeyspaceFigures> {
  const store = s.server.store;
  const approx = approximateKeys(stats);
  if (stats?.approxKeys === undefined || approx === 0) return { keys: approx, expires: 0, avgTtlMs: 0 };
  const now = Date.now();
  let sampled = 0;
  let expiring = 0;
  let ttlSum = 0;
  const sample = async (keys: Uint8Array[]): Promise<void> => {
    const take = keys.slice(0, EXPIRES_SAMPLE_KEYS - sampled);
    if (take.length === 0) return;
    sampled += take.length;
    for (const read of await store.getMany(take, { r: 1 })) {
      const at = read === undefined ? 0 : (expiresAtOf(read) ?? 0);
      if (at !== 0) {
        expiring++;
        ttlSum += Math.max(0, at - now);
      }
    }
  };
  const figures = (keys: number): KeyspaceFigures => ({
    keys,
    expires: sampled === 0 ? 0 : Math.round((keys * expiring) / sampled),
    avgTtlMs: expiring === 0 ? 0 : Math.round(ttlSum / expiring),
  });
  try {
    if (approx > EXACT_COUNT_LIMIT) {
      await sample((await store.scan({ cursor: '0', count: EXPIRES_SAMPLE_KEYS })).keys);
      return figures(approx);
    }
    // keyCount's walk, with the sample taken from its pages.
    const ceiling = 2 * EXACT_COUNT_LIMIT;
    let listed = 0;
    let cursor = '0';
    do {
      const page = await store.scan({ cursor, count: COUNT_PAGE_KEYS });
      listed += page.keys.length;
      await sample(page.keys);
      cursor = page.cursor;
    } while (cursor !== '0' && listed <= ceiling);
    return figures(cursor === '0' ? listed : approx);
  } catch {
    return { keys: approx, expires: 0, avgTtlMs: 0 };
  }
}

function human(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(2)}${units[i]}`;
}

/** INFO memory's scripting lines, Redis's names: the Lua state's bytes and the scripts cached. */
function scriptFields(server: ServerContext): Record<string, number | string> {
  const st = scriptStats(server);
  return { used_memory_lua: st.luaBytes, used_memory_lua_human: human(st.luaBytes), number_of_cached_scripts: st.cached };
}

/** INFO memory: the process's (used = V8 heap + external + array buffers; RSS) and the shards' memtables and block caches. */
function memoryFields(stats: StoreStats | undefined): Record<string, string | number> {
  const m = process.memoryUsage();
  const used = m.heapUsed + m.external + m.arrayBuffers;
  const fields: Record<string, string | number> = {
    used_memory: used,
    used_memory_human: human(used),
    used_memory_rss: m.rss,
    used_memory_rss_human: human(m.rss),
    maxmemory: 0,
    maxmemory_human: '0B',
    maxmemory_policy: 'noeviction',
    ringkv_heap_total: m.heapTotal,
  };
  const shards = stats === undefined ? [] : readAllShardNumbers(stats.shards);
  let memtables = 0;
  let caches = 0;
  for (const sh of shards) {
    const memtable = sh.data.memtableBytes + sh.hints.memtableBytes;
    memtables += memtable;
    caches += sh.data.blockCacheBytes;
    fields[`ringkv_shard_${sh.id}_memtable_bytes`] = memtable;
    fields[`ringkv_shard_${sh.id}_block_cache_bytes`] = sh.data.blockCacheBytes;
  }
  if (shards.length > 0) {
    fields['ringkv_memtable_bytes'] = memtables;
    fields['ringkv_block_cache_bytes'] = caches;
  }
  return fields;
}

export async function infoText(s: Session, sections: readonly Section[]): Promise<string> {
  const needsStore = sections.some((x) => x === 'stats' || x === 'replication' || x === 'keyspace' || x === 'memory');
  const stats = needsStore ? await storeStatsSoon(s) : undefined;
  const srv = s.server;
  const o = srv.options;
  const now = Date.now();
  const uptime = Math.floor((now - srv.startedAt) / 1000);
  let connected = 0;
  for (const _ of srv.sessions()) connected++;
  const out: string[] = [];
  const section = (title: string, fields: Record<string, string | number>): void => {
    if (out.length > 0) out.push('');
    out.push(`# ${title}`);
    for (const [k, v] of Object.entries(fields)) out.push(`${k}:${v}`);
  };
  for (const name of sections) {
    switch (name) {
      case 'server':
        section('Server', {
          redis_version: REDIS_COMPATIBLE_VERSION,
          ringkv_version: o.version,
          redis_mode: 'standalone',
          os: `${platform()} ${release()} ${arch()}`,
          arch_bits: 64,
          process_id: process.pid,
          tcp_port: srv.port(),
          uptime_in_seconds: uptime,
          uptime_in_days: Math.floor(uptime / 86400),
          executable: process.execPath,
        });
        break;
      case 'clients':
        section('Clients', { connected_clients: connected, maxclients: 0, blocked_clients: 0 });
        break;
      case 'persistence':
        section('Persistence', {
          loading: 0,
          aof_enabled: appendOnly(o.storeConfig) === 'yes' ? 1 : 0,
          rdb_changes_since_last_save: 0,
        });
        break;
      case 'stats': {
        const st = srv.stats;
        section('Stats', {
          total_connections_received: st.connectionsReceived,
          total_commands_processed: st.commandsProcessed,
          rejected_connections: st.connectionsRejected,
          total_net_input_bytes: st.netInputBytes,
          total_net_output_bytes: st.netOutputBytes,
          keyspace_hits: st.keyspaceHits,
          keyspace_misses: st.keyspaceMisses,
          total_error_replies: totalErrors(st.errorReplies),
          ringkv_protocol_errors: st.protocolErrors,
          ringkv_output_limit_closes: st.outputLimitCloses,
          ringkv_conflicts: st.conflicts,
          ...(stats
            ? {
                ringkv_puts: stats.puts,
                ringkv_gets: stats.gets,
                ringkv_quorum_failures: stats.quorumFailures,
                ringkv_hints_written: stats.hintsWritten,
                ringkv_hints_delivered: stats.hintsDelivered,
                ringkv_read_repairs: stats.readRepairs,
              }
            : {}),
        });
        break;
      }
      case 'replication': {
        const replicas = stats?.replicas ?? [];
        section('Replication', {
          role: 'master',
          connected_slaves: 0,
          ringkv_replicas: replicas.length,
          ringkv_replicas_up: replicas.filter((r) => r.up).length,
        });
        break;
      }
      case 'memory':
        section('Memory', { ...memoryFields(stats), ...scriptFields(s.server) });
        break;
      case 'errorstats': {
        const fields: Record<string, string> = {};
        for (const [prefix, n] of srv.stats.errorReplies) fields[`errorstat_${prefix}`] = `count=${n}`;
        section('Errorstats', fields);
        break;
      }
      case 'commandstats':
        section('Commandstats', commandstatsFields(srv.latency));
        break;
      case 'latencystats':
        section('Latencystats', latencystatsFields(srv.latency));
        break;
      case 'keyspace': {
        const k = await keyspaceFigures(s, stats);
        section('Keyspace', k.keys > 0 ? { db0: `keys=${k.keys},expires=${k.expires},avg_ttl=${k.avgTtlMs}` } : {});
        break;
      }
    }
  }
  return out.join('\r\n') + '\r\n';
}

function totalErrors(counts: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const v of counts.values()) n += v;
  return n;
}

/** CONFIG GET appendonly: 'yes' when the store syncs its log (sync-mode batch or periodic). */
export function appendOnly(storeConfig: Record<string, string>): 'yes' | 'no' {
  const mode = storeConfig['sync-mode'] ?? storeConfig['syncMode'] ?? storeConfig['syncmode'];
  return mode === 'batch' || mode === 'periodic' ? 'yes' : 'no';
}
