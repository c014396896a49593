// Runs on: the main thread. `ringkv cluster <plan|commit|leave|remove <node>|status>`: membership
// commands, sent to a running node's admin port (POST /cluster/<command> with the cluster
// secret from RINGKV_CLUSTER_SECRET in the x-ringkv-secret header; GET /cluster for status).
// `leave` then waits, printing progress, until the node has streamed its data away and
// reports itself left (unless --no-wait): after that the process can be stopped.
import { parseArgs } from 'node:util';
import { DEFAULT_ADMIN_PORT } from '../server/admin/index.js';
import { CliError, CliErrorCode, usage } from './cli-error.js';
import { humanBytes, renderTable } from './table.js';

/** A node that does not answer the admin port in this long is reported unreachable. */
const REQUEST_TIMEOUT_MS = 5000;
/** How often `leave` asks the node how far its decommission got. */
const POLL_MS = 1000;
const ADMIN_ENV = 'RINGKV_ADMIN';
const SECRET_ENV = 'RINGKV_CLUSTER_SECRET';
const SUBCOMMANDS = ['plan', 'commit', 'leave', 'remove', 'shards', 'cleanup', 'repair', 'status'] as const;

export const CLUSTER_HELP = `Usage: ringkv cluster <command> [options]

Changes and shows the membership of a cluster, through one node's admin port.

Commands:
  status          The nodes as this node sees them, and its data transfers
  plan            The partitions a commit would move now (staged joins, leaves, removes)
  commit          Make the next ring from the staged changes (on the claimant)
  leave           Decommission this node: stream its data to the new owners, then mark it
                  left (waits for that, printing progress, unless --no-wait)
  remove <node>   Remove a dead node: the survivors re-replicate its data
  shards <n>      Run n shard workers on this node from now on: new shards join the ring and
                  receive their ranges; surplus ones stream theirs away, then stop
  repair          Run an anti-entropy round now over the partitions this node leads (it runs
                  every minute by itself): replicas compare Merkle trees, differing keys are
                  repaired
  cleanup         Delete now the ranges this node no longer replicates, each once its owners
                  are shown to hold all of it (otherwise done by itself after a minute of
                  quiet: every node up, on the same ring, with no transfer left)

Options:
  --admin <host:port>  The node's admin address. default: 127.0.0.1:${DEFAULT_ADMIN_PORT}; env: ${ADMIN_ENV}
  --host <host>        The node's admin host (with --admin-port), instead of --admin
  --admin-port <port>  The node's admin port. default: ${DEFAULT_ADMIN_PORT}
  --no-wait            leave: return once the node has accepted the leave
  --timeout <s>        leave: give up waiting after this many seconds (the leave goes on)
  --json               Print the node's JSON answer instead
  -h, --help           Show this help

Commands other than status need the cluster secret in ${SECRET_ENV}.
`;

interface NodeView {
  id: string;
  address: string;
  status: string;
  liveness: string;
  partitions: number;
  ringEpoch: number;
  /** Absent from nodes of an older build. */
  transfers?: number;
  self: boolean;
}

interface TransferView {
  pending: number;
  done: number;
  keysMoved: number;
  bytesMoved: number;
  failures: number;
  lastError?: string;
  tasks: { partition: number; target: string; progress: number; waiting?: string }[];
  cleanup?: { rangesDropped: number; objectsDropped: number; failures: number; waiting?: string; lastError?: string };
}

/** A node's --auto-shards policy (src/cluster/scaling/shard-scaler.ts's ShardScalerStatus). */
interface ShardPolicyView {
  minShards: number;
  maxShards: number;
  target: number;
  utilisation: number | null;
  grown: number;
  shrunk: number;
  lastDecision: { kind: string; reason: string; detail: string } | null;
  lastError: string | null;
}

interface ClusterView {
  self: string;
  epoch: number;
  claimant?: string;
  notReady?: string;
  pendingMoves: number;
  nodes: NodeView[];
  transfers?: TransferView;
  shardPolicy?: ShardPolicyView;
}

interface Values {
  admin?: string;
  host?: string;
  'admin-port'?: string;
  'no-wait'?: boolean;
  timeout?: string;
  json?: boolean;
  help?: boolean;
}

function baseOf(v: Values): string {
  if (v.admin !== undefined && (v.host !== undefined || v['admin-port'] !== undefined)) throw usage('give --admin or --host/--admin-port, not both');
  let admin: string;
  if (v.host !== undefined || v['admin-port'] !== undefined) {
    const port = Number(v['admin-port'] ?? DEFAULT_ADMIN_PORT);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage(`--admin-port must be a port number, got ${JSON.stringify(v['admin-port'])}`);
    admin = `${v.host ?? '127.0.0.1'}:${port}`;
  } else {
    admin = v.admin ?? (process.env[ADMIN_ENV] || `127.0.0.1:${DEFAULT_ADMIN_PORT}`);
  }
  return /^https?:\/\//.test(admin) ? admin.replace(/\/+$/, '') : `http://${admin}`;
}

/**
 * An admin port off loopback answers only requests with a credential: the RESP password or
 * the cluster secret, taken from RINGKV_REQUIREPASS or RINGKV_CLUSTER_SECRET when set.
 */
export function adminHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const credential = env.RINGKV_REQUIREPASS || env.RINGKV_CLUSTER_SECRET;
  return credential ? { authorization: `Bearer ${credential}` } : {};
}

async function call(base: string, path: string, secret?: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: secret === undefined ? 'GET' : 'POST',
      headers: { ...adminHeaders(), ...(secret === undefined ? {} : { 'x-ringkv-secret': secret }) },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const why = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    throw new CliError(CliErrorCode.UNREACHABLE, `cannot reach the ringkv admin server at ${base} (${why}); is it running? set --admin or ${ADMIN_ENV}`, { cause: err });
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; code?: string };
  if (res.status === 404 && path.startsWith('/cluster')) {
    throw new CliError(CliErrorCode.REFUSED, `${base} is not a cluster node (no ${path}): start it with --node-id`);
  }
  if (!res.ok) throw new CliError(CliErrorCode.REFUSED, `${body.code ?? `HTTP ${res.status}`}: ${body.error ?? res.statusText}`);
  return body;
}

function secretOf(): string {
  const secret = process.env[SECRET_ENV];
  if (secret === undefined || secret === '') throw usage(`membership commands need the cluster secret: set ${SECRET_ENV}`);
  return secret;
}

/** One line about a node's transfers. */
export function transferLine(t: TransferView | undefined): string {
  if (t === undefined) return 'Transfers: -';
  const waiting = t.tasks.find((x) => x.waiting !== undefined)?.waiting;
  return `Transfers: ${t.pending} pending, ${t.done} done, ${t.keysMoved} keys (${humanBytes(t.bytesMoved)}) moved, ${t.failures} failed pages` +
    (waiting === undefined ? '' : `; waiting: ${waiting}`) + (t.lastError === undefined ? '' : `; last error: ${t.lastError}`);
}

/** The status line of the deletion of handed-away ranges (range-cleanup.ts). */
export function cleanupLine(t: TransferView | undefined): string {
  const c = t?.cleanup;
  if (c === undefined) return 'Cleanup: -';
  return `Cleanup: ${c.rangesDropped} handed-away ranges deleted (${c.objectsDropped} objects), ${c.failures} failed` +
    (c.waiting === undefined ? '' : `; waiting: ${c.waiting}`) + (c.lastError === undefined ? '' : `; last error: ${c.lastError}`);
}

/** One line about a node's --auto-shards policy (none when it is off). */
export function shardPolicyLine(p: ShardPolicyView): string {
  const busy = p.utilisation === null ? 'not measured yet' : `${Math.round(p.utilisation * 100)}% busy`;
  const last = p.lastDecision === null ? 'none yet' : `${p.lastDecision.kind} (${p.lastDecision.reason}: ${p.lastDecision.detail})`;
  return `Shard policy: ${p.target} shards (${p.minShards}..${p.maxShards}), ${busy}, ${p.grown} grown, ${p.shrunk} shrunk; last decision: ${last}` +
    (p.lastError === null ? '' : `; last error: ${p.lastError}`);
}

/** The status report of one node's view. */
export function renderCluster(base: string, v: ClusterView): string {
  const rows = v.nodes.map((n) => [n.id + (n.self ? '*' : ''), n.address, n.status, n.liveness, String(n.partitions), String(n.ringEpoch), String(n.transfers ?? '-')]);
  return [
    `ringkv cluster at ${base} (node ${v.self}): ring epoch ${v.epoch}, claimant ${v.claimant ?? 'none'}, ` +
      (v.notReady === undefined ? 'ready' : `not ready: ${v.notReady}`) + `, ${v.pendingMoves} partitions staged to move`,
    '',
    renderTable(['Node', 'Address', 'Status', 'Liveness', 'Partitions', 'Epoch', 'Sending'], rows, new Set([4, 5, 6])),
    transferLine(v.transfers),
    cleanupLine(v.transfers),
    ...(v.shardPolicy === undefined ? [] : [shardPolicyLine(v.shardPolicy)]),
    '',
  ].join('\n');
}

export async function cluster(argv: readonly string[]): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        admin: { type: 'string' },
        host: { type: 'string' },
        'admin-port': { type: 'string' },
        'no-wait': { type: 'boolean' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    throw usage(`${(err as Error).message} (see ringkv cluster --help)`);
  }
  if (values.help) {
    process.stdout.write(CLUSTER_HELP);
    return 0;
  }
  const [name, ...rest] = positionals;
  if (name === undefined || !(SUBCOMMANDS as readonly string[]).includes(name)) {
    throw usage(`${name === undefined ? 'a command is needed' : `unknown command '${name}'`}: one of ${SUBCOMMANDS.join(', ')} (see ringkv cluster --help)`);
  }
  const oneArg = name === 'remove' || name === 'shards';
  if (oneArg ? rest.length !== 1 : rest.length !== 0) {
    throw usage(name === 'remove' ? 'remove takes one node id: ringkv cluster remove <node>' : name === 'shards' ? 'shards takes one count: ringkv cluster shards <n>' : `${name} takes no arguments, got ${rest.join(' ')}`);
  }
  if (name === 'shards' && !/^[1-9][0-9]{0,2}$/.test(rest[0]!)) throw usage(`shards takes a positive count, got ${JSON.stringify(rest[0])}`);
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const s = Number(values.timeout);
    if (!(s > 0) || !Number.isFinite(s)) throw usage(`--timeout must be a positive number of seconds, got ${JSON.stringify(values.timeout)}`);
    timeoutMs = s * 1000;
  }
  const base = baseOf(values);
  const out = (text: string): void => void process.stdout.write(text);
  const json = (value: unknown): void => out(JSON.stringify(value, null, 2) + '\n');

  if (name === 'status') {
    const view = (await call(base, '/cluster')) as ClusterView;
    if (values.json) json(view);
    else out(renderCluster(base, view));
    return 0;
  }
  const secret = secretOf();
  const path = name === 'remove' ? `/cluster/remove?node=${encodeURIComponent(rest[0]!)}`
    : name === 'shards' ? `/cluster/shards?count=${rest[0]}`
    : `/cluster/${name}`;
  const answer = await call(base, path, secret);
  if (values.json && name !== 'leave') {
    json(answer);
    return 0;
  }
  switch (name) {
    case 'plan': {
      const { epoch, moves } = answer as { epoch: number; moves: { partition: number; from: string; to: string }[] };
      const byPair = new Map<string, number>();
      for (const m of moves) byPair.set(`${m.from} -> ${m.to}`, (byPair.get(`${m.from} -> ${m.to}`) ?? 0) + 1);
      out(`ring epoch ${epoch}: a commit would move ${moves.length} partitions\n` + [...byPair].map(([pair, k]) => `  ${pair}: ${k}\n`).join(''));
      return 0;
    }
    case 'commit': {
      const { epoch, owned } = answer as { epoch: number; owned: Record<string, number> };
      out(`committed ring epoch ${epoch}: ${Object.entries(owned).map(([m, k]) => `${m} ${k}`).join(', ')}\n`);
      return 0;
    }
    case 'shards': {
      const { from, to } = answer as { from: number; to: number };
      out(`shards ${from} -> ${to}: ${to > from ? 'the new shards join the ring and receive their ranges' : to < from ? 'the surplus shards stream their ranges away, then stop' : 'no change'} (ringkv cluster status shows the transfers)\n`);
      return 0;
    }
    case 'repair': {
      const r = answer as { exchanges: number; equal: number; repaired: number; skipped: number; failed: number; keysRepaired: number; firstError?: string };
      out(`${r.exchanges} partitions exchanged: ${r.equal} equal, ${r.repaired} repaired (${r.keysRepaired} keys), ${r.skipped} skipped (too few replicas up), ${r.failed} failed` +
        (r.firstError === undefined ? '\n' : `; first error: ${r.firstError}\n`));
      return r.failed === 0 ? 0 : 1;
    }
    case 'cleanup': {
      const c = answer as { handedOff: number; objectsDropped: number; waiting?: string; lastError?: string };
      out(c.waiting !== undefined ? `nothing deleted: ${c.waiting}\n`
        : `${c.handedOff} handed-away ranges deleted` + (c.lastError === undefined ? '\n' : `; last error: ${c.lastError}\n`));
      return 0;
    }
    case 'remove':
      out(`removing ${(answer as { removing: string }).removing}: its partitions go to the others at the next commit; the survivors stream its data to them\n`);
      return 0;
    default:
      return leave(base, answer as { leaving: string }, values, timeoutMs, out);
  }
}

/** Waits (unless --no-wait) until the node reports itself left, printing a line per change. */
async function leave(base: string, answer: { leaving: string }, values: Values, timeoutMs: number | undefined, out: (s: string) => void): Promise<number> {
  const id = answer.leaving;
  out(`node ${id} is leaving: once a ring without it is committed it streams its data to the new owners, then it is left\n`);
  if (values['no-wait']) return 0;
  const until = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const view = (await call(base, '/cluster')) as ClusterView;
    const self = view.nodes.find((n) => n.id === id);
    if (self?.status === 'left') {
      if (values.json) out(JSON.stringify(view, null, 2) + '\n');
      out(`node ${id} has left (${transferLine(view.transfers).slice('Transfers: '.length)}): it can be stopped now\n`);
      return 0;
    }
    const line = `${self?.status ?? 'unknown'}, ring epoch ${view.epoch}, owns ${self?.partitions ?? '?'} partitions; ${transferLine(view.transfers)}`;
    if (line !== last) out(`  ${line}\n`);
    last = line;
    if (Date.now() >= until) {
      throw new CliError(CliErrorCode.WAIT_TIMEOUT, `node ${id} has not left after ${values.timeout} s (it goes on leaving): ${line}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, until - Date.now()))));
  }
}
