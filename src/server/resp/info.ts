// Runs on: the main thread. The text of INFO: Redis's sections with the fields clients
// read (ioredis waits for `loading:0`; redis_version gates client features, and reports
// the Redis level of compatibility, not ringkv's own version, which is ringkv_version),
// and ringkv's own fields prefixed `ringkv_`.
import { arch, platform, release } from 'node:os';
import type { StoreStats } from '../../index.js';
import type { Session } from './session.js';

/** The Redis version whose commands and replies this server follows. */
export const REDIS_COMPATIBLE_VERSION = '7.0.0';

/** INFO waits this long for the shards' stats; past it, the store's fields are left out. */
const STATS_TIMEOUT_MS = 1000;
/**
 * Up to this many approximate keys, DBSIZE counts the live keys exactly with one scan walk,
 * so deleted and flushed keys stop counting; above it, it answers the approximate count.
 * The walk costs a round trip per partition (~25 ms for 256 here) plus ~5-40 µs per key
 * (10k keys took 64-470 ms on the shared 2-core machine): kept small, and not used by
 * INFO, which clients send on every connect.
 */
const EXACT_COUNT_LIMIT = 5000;
/** Keys per scan page of the exact count. */
const COUNT_PAGE_KEYS = 1000;

const SECTIONS = ['server', 'clients', 'persistence', 'stats', 'replication', 'keyspace'] as const;
type Section = (typeof SECTIONS)[number];

/** The sections named by INFO's arguments (none, default, all, everything: every one). */
export function infoSections(names: readonly string[]): Section[] {
  const lower = names.map((n) => n.toLowerCase());
  if (lower.length === 0 || lower.some((n) => n === 'default' || n === 'all' || n === 'everything')) return [...SECTIONS];
  return SECTIONS.filter((s) => lower.includes(s));
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

export async function infoText(s: Session, sections: readonly Section[]): Promise<string> {
  const needsStore = sections.some((x) => x === 'stats' || x === 'replication' || x === 'keyspace');
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
          total_error_replies: 0,
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
      case 'keyspace': {
        const keys = approximateKeys(stats);
        section('Keyspace', keys > 0 ? { db0: `keys=${keys},expires=0,avg_ttl=0` } : {});
        break;
      }
    }
  }
  return out.join('\r\n') + '\r\n';
}

/** CONFIG GET appendonly: 'yes' when the store syncs its log (sync-mode batch or periodic). */
export function appendOnly(storeConfig: Record<string, string>): 'yes' | 'no' {
  const mode = storeConfig['sync-mode'] ?? storeConfig['syncMode'] ?? storeConfig['syncmode'];
  return mode === 'batch' || mode === 'periodic' ? 'yes' : 'no';
}
