// Runs on: the main thread. `ringkv status [--admin host:port]`: asks a running server's
// admin port for /stats and /ring and prints one line per shard, as `nodetool status` does.
import { parseArgs } from 'node:util';
import { DEFAULT_ADMIN_PORT, readAllShardNumbers } from '../server/admin/index.js';
import type { StoreStats } from '../index.js';
import { CliError, CliErrorCode, usage } from './cli-error.js';
import { humanBytes, renderTable } from './table.js';
import { adminHeaders, cleanupLine, transferLine } from './cluster.js';

/** A server that does not answer the admin port in this long is reported unreachable. */
const REQUEST_TIMEOUT_MS = 5000;
const DEFAULT_ADMIN = `127.0.0.1:${DEFAULT_ADMIN_PORT}`;
const ADMIN_ENV = 'RINGKV_ADMIN';

export const STATUS_HELP = `Usage: ringkv status [--admin host:port] [--json]

Prints the shards of a running ringkv server (from its admin port): up/down, partitions
owned, storage sizes, and the store's request and hinted-handoff counters.

  --admin <host:port>  The server's admin address. default: ${DEFAULT_ADMIN}; env: ${ADMIN_ENV}
  --json               Print /stats and /ring as one JSON object instead
  -h, --help           Show this help
`;

interface RingSummary {
  epoch: number;
  q: number;
  n: number;
  owned: Record<string, number>;
  /** A cluster node's view of every node (absent on a single node). */
  nodes?: NodeRow[];
  /** Its streaming of ranges to new replicas. */
  transfers?: Parameters<typeof transferLine>[0];
  /** Where the placement cannot keep a key's copies apart (fewer hosts or nodes than N). */
  warnings?: string[];
}

interface NodeRow {
  id: string;
  address: string;
  dc: string;
  rack: string;
  status: string;
  liveness: string;
  generation: number;
  heartbeatAgeMs: number | null;
  partitions: number;
  ringEpoch: number;
  self: boolean;
}

/** nodetool's two letters: liveness (U up, S suspect, D down) and state (N normal, J joining, L leaving, ...). */
function stateCode(n: NodeRow): string {
  const live = n.liveness === 'alive' ? 'U' : n.liveness === 'suspect' ? 'S' : 'D';
  const state = { up: 'N', joining: 'J', leaving: 'L', left: 'X', removed: 'R' }[n.status] ?? '?';
  return `${live}${state}`;
}

/** One line per node of the cluster, as `nodetool status` prints. */
export function renderNodes(nodes: readonly NodeRow[], q: number): string {
  const rows = nodes.map((n) => [
    stateCode(n),
    n.self ? `${n.id} *` : n.id,
    n.address,
    `${n.dc}/${n.rack}`,
    String(n.partitions),
    `${((100 * n.partitions) / q).toFixed(1)}%`,
    String(n.generation),
    n.heartbeatAgeMs === null ? '-' : `${(n.heartbeatAgeMs / 1000).toFixed(1)}s`,
    String(n.ringEpoch),
  ]);
  return [
    'Status: U up, S suspect, D down / State: N normal, J joining, L leaving, X left, R removed; * this node',
    renderTable(['', 'Node', 'Address', 'DC/Rack', 'Partitions', 'Owns', 'Generation', 'Heartbeat age', 'Ring epoch'], rows, new Set([4, 5, 6, 7, 8])),
  ].join('\n');
}

async function getJson(base: string, path: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { headers: adminHeaders(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    const why = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    throw new CliError(CliErrorCode.UNREACHABLE, `cannot reach the ringkv admin server at ${base} (${why}); is it running? set --admin or ${ADMIN_ENV}`, { cause: err });
  }
  if (!res.ok) throw new CliError(CliErrorCode.UNREACHABLE, `${base}${path} answered ${res.status} ${res.statusText}`);
  return res.json();
}

/** The status report of one server, from its /stats and /ring. */
export function renderStatus(admin: string, stats: StoreStats, ring: RingSummary): string {
  const shards = readAllShardNumbers(stats.shards);
  const up = stats.replicas.filter((r) => r.up).length;
  const rows = stats.replicas.map((r) => {
    const s = shards.find((x) => x.id === r.id);
    const owned = ring.owned[r.id] ?? 0;
    return [
      r.up ? 'UP' : 'DOWN',
      r.id,
      String(owned),
      `${((100 * owned) / ring.q).toFixed(1)}%`,
      s ? humanBytes(s.data.memtableBytes) : '-',
      s ? String(s.data.tables) : '-',
      s ? humanBytes(s.data.tableBytes) : '-',
      s ? humanBytes(s.data.walBytes) : '-',
      s ? humanBytes(s.hints.memtableBytes + s.hints.tableBytes) : '-',
      s ? String(s.data.flushes) : '-',
      s ? String(s.data.compactions) : '-',
      s ? String(s.restarts) : '-',
    ];
  });
  const table = renderTable(
    ['Status', 'Shard', 'Partitions', 'Owns', 'Memtable', 'Tables', 'Table bytes', 'WAL', 'Hint bytes', 'Flushes', 'Compactions', 'Restarts'],
    rows,
    new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
  );
  const pending = Math.max(0, stats.hintsWritten - stats.hintsDelivered);
  const repair = shards.filter((s) => s.data.recoveryNeedsRepair + s.hints.recoveryNeedsRepair > 0).map((s) => s.id);
  const nodes = ring.nodes === undefined ? [] : [`Cluster: ${ring.nodes.length} nodes`, renderNodes(ring.nodes, ring.q), transferLine(ring.transfers), cleanupLine(ring.transfers), ''];
  const warnings = (ring.warnings ?? []).map((w) => `Warning: ${w}`);
  return [
    `ringkv at ${admin}: ${stats.replicas.length} shards, ${up} up; ring epoch ${ring.epoch}, ${ring.q} partitions, N=${ring.n}`,
    '',
    ...(warnings.length > 0 ? [...warnings, ''] : []),
    ...nodes,
    table,
    `Ops:    puts ${stats.puts}, gets ${stats.gets}, quorum failures ${stats.quorumFailures}, read repairs ${stats.readRepairs}`,
    `Hints:  written ${stats.hintsWritten}, delivered ${stats.hintsDelivered}, pending ${pending} (written - delivered since start)`,
    ...(repair.length === 0 ? [] : [`Repair: ${repair.join(', ')} skipped damaged WAL records at start (--wal-recovery skip-damaged): may miss acknowledged writes until repaired`]),
    '',
  ].join('\n');
}

export async function status(argv: readonly string[]): Promise<number> {
  let values: { admin?: string; json?: boolean; help?: boolean };
  try {
    values = parseArgs({
      args: [...argv],
      options: { admin: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw usage(`${(err as Error).message} (see ringkv status --help)`);
  }
  if (values.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const admin = values.admin ?? (process.env[ADMIN_ENV] || DEFAULT_ADMIN);
  const base = /^https?:\/\//.test(admin) ? admin.replace(/\/+$/, '') : `http://${admin}`;
  const [stats, ring] = (await Promise.all([getJson(base, '/stats'), getJson(base, '/ring')])) as [StoreStats, RingSummary];
  if (values.json) process.stdout.write(JSON.stringify({ stats, ring }, null, 2) + '\n');
  else process.stdout.write(renderStatus(base, stats, ring));
  return 0;
}
