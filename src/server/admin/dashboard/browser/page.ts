// Runs on: the browser (the dashboard page, GET / on the admin port). Polls the admin
// server's JSON endpoints (/ring?lists, /stats, /anti-entropy, and /cluster on a cluster
// node) every POLL_MS and redraws the panels: the ring, the nodes and shards, live charts
// of ops/s, of the hint backlog, of p50/p99 per command type (/latency, when a RESP server
// is in front of the store) and per shard (the shard stats' round-trip histograms, as
// differences between polls), the fsync histogram, the backlogs with their ages, placement
// warnings, and the membership commands to run.
// Read-only: it never POSTs; membership changes are shown as `ringkv cluster ...` commands.
/// <reference lib="dom" />
import { readAllShardNumbers, type ShardNumbers } from '../../../../shard/shard-stats.js';
import { LiveChart } from './chart.js';
import { memberColours, splitMember } from './colours.js';
import { age, byId, bytes, h, replace } from './dom.js';
import { ringSvg } from './ring-view.js';
import { bucketsBetween, histogramSvg, mergeBuckets, micros, percentileOf } from './histogram-view.js';
import type { HistogramSummary } from '../../../../histogram.js';

/** Between the end of one poll and the start of the next: live enough, and cheap for the server. */
const POLL_MS = 1500;
/** The charts show (and keep) this much history. */
const CHART_WINDOW_MS = 5 * 60_000;

interface RingAnswer {
  epoch: number;
  q: number;
  n: number;
  members: { id: string; host: string; dc: string; rack: string }[];
  owners: string[];
  owned: Record<string, number>;
  preferenceLists: Record<string, string[]>;
  transfers?: {
    pending: number; done: number; bytesMoved: number; keysMoved: number; failures: number; rateBytesPerSecond?: number; remainingBytes?: number | null; etaMs?: number | null;
    tasks?: { waiting?: string }[];
  };
  /** The nodes, on a cluster node only. */
  nodes?: unknown[];
  /** Placement warnings (replicas sharing a rack or dc, ...), when the server reports them. */
  warnings?: unknown[];
}

interface StatsAnswer {
  replicas: { id: string; up: boolean }[];
  puts: number;
  gets: number;
  quorumFailures: number;
  hintsWritten: number;
  hintsDelivered: number;
  shards?: unknown[];
  hintStore?: { pending: number; bytes: number; oldestAgeMs: number };
  antiEntropy?: { oldestExchangeAgeMs: number | null; exchanges: number };
}

/** GET /anti-entropy: ages of the last exchange of the partitions this node leads. */
interface AntiEntropyAnswer {
  partitions: number;
  exchanged: number;
  oldestAgeMs: number | null;
  medianAgeMs: number | null;
  stalest: { partition: number; ageMs: number | null }[];
}

interface ClusterAnswer {
  self: string;
  epoch: number;
  pendingMoves: number;
  notReady?: string;
  nodes: { id: string; address: string; dc: string; rack: string; status: string; liveness: string; partitions: number; transfers: number; self: boolean }[];
}

async function json<T>(path: string): Promise<T | undefined> {
  const res = await fetch(path, { cache: 'no-store' });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

const opsChart = new LiveChart(byId('ops-chart'), [
  { name: 'puts', colour: '#4f9de0', points: [] },
  { name: 'gets', colour: '#4caf7d', points: [] },
], CHART_WINDOW_MS, '/s');
const hintChart = new LiveChart(byId('hint-chart'), [{ name: 'hints held', colour: '#e0b341', points: [] }], CHART_WINDOW_MS, '');

let previous: { t: number; puts: number; gets: number } | undefined;

interface LatencyAnswer {
  commands: { command: string; calls: number; p50Us: number; p99Us: number }[];
}

/** The latency chart shows the busiest this many command types (two lines each: p50, p99). */
const LATENCY_COMMANDS = 3;
const LATENCY_COLOURS = ['#4f9de0', '#4caf7d', '#e0b341'];
let latencyChart: { names: string; chart: LiveChart } | undefined;

/** Adds the RESP server's p50/p99 per command type (GET /latency) to the latency chart; rebuilt when the busiest types change. */
function renderLatency(answer: LatencyAnswer, now: number): void {
  const top = answer.commands.slice(0, LATENCY_COMMANDS).sort((a, b) => (a.command < b.command ? -1 : 1));
  if (top.length === 0) return;
  const names = top.map((c) => c.command).join(',');
  if (latencyChart?.names !== names) {
    const series = top.flatMap((c, i) => [
      { name: `${c.command} p50`, colour: LATENCY_COLOURS[i]!, points: [] as [number, number][] },
      { name: `${c.command} p99`, colour: LATENCY_COLOURS[i]!, points: [] as [number, number][] },
    ]);
    latencyChart = { names, chart: new LiveChart(byId('latency-chart'), series, CHART_WINDOW_MS, ' µs') };
  }
  latencyChart.chart.add(now, top.flatMap((c) => [c.p50Us, c.p99Us]));
  latencyChart.chart.draw(now);
}

/** The per-shard latency chart shows this many shards at most (two lines each: p50, p99). */
const LATENCY_SHARDS = 4;
let shardChart: { ids: string; chart: LiveChart } | undefined;
/** Each shard's round-trip histogram at the previous poll: the chart plots what happened since. */
const lastLatency = new Map<string, HistogramSummary>();

/** Adds each shard's p50/p99 since the previous poll to the per-shard chart (rebuilt when the shards change). */
function renderShardLatency(shards: readonly { id: string; latency: HistogramSummary }[], colours: ReadonlyMap<string, string>, now: number): void {
  const shown = shards.slice(0, LATENCY_SHARDS);
  if (shown.every((sh) => sh.latency.count === 0)) return;
  const ids = shown.map((sh) => sh.id).join(',');
  if (shardChart?.ids !== ids) {
    const series = shown.flatMap((sh) => [
      { name: `${sh.id} p50`, colour: colours.get(sh.id) ?? '#777', points: [] as [number, number][] },
      { name: `${sh.id} p99`, colour: colours.get(sh.id) ?? '#777', points: [] as [number, number][] },
    ]);
    shardChart = { ids, chart: new LiveChart(byId('shard-latency-chart'), series, CHART_WINDOW_MS, ' µs') };
  }
  shardChart.chart.add(now, shown.flatMap((sh) => {
    const between = bucketsBetween(sh.latency, lastLatency.get(sh.id));
    lastLatency.set(sh.id, sh.latency);
    return [percentileOf(between, 0.5), percentileOf(between, 0.99)];
  }));
  shardChart.chart.draw(now);
}

/** One status word per node: liveness (as this node judges it) first, then membership status. */
function nodeState(n: ClusterAnswer['nodes'][number]): string {
  if (n.liveness === 'down' || n.liveness === 'suspect') return n.liveness;
  if (n.status === 'joining' || n.status === 'leaving' || n.status === 'left' || n.status === 'removed') return n.status;
  return 'up';
}

function state(word: string): HTMLElement {
  return h('span', { class: `state state-${word}`, 'data-state': word }, word);
}

function swatch(colour: string): HTMLElement {
  const e = h('span', { class: 'swatch' });
  e.style.background = colour;
  return e;
}

function bar(value: number, max: number, colour: string): HTMLElement {
  const e = h('span', { class: 'bar' });
  e.style.width = `${max > 0 ? Math.round((value / max) * 80) : 0}px`;
  e.style.background = colour;
  return e;
}

function render(ring: RingAnswer, stats: StatsAnswer, cluster: ClusterAnswer | undefined, ae: AntiEntropyAnswer | undefined): void {
  const now = Date.now();
  const ids = ring.members.map((m) => m.id);
  const colours = memberColours(ids);
  const shardUp = new Map(stats.replicas.map((r) => [r.id, r.up]));
  const nodeDown = new Set((cluster?.nodes ?? []).filter((n) => n.liveness === 'down').map((n) => n.id));
  const down = new Set(ids.filter((id) => shardUp.get(id) === false || nodeDown.has(splitMember(id).node)));

  byId('scope').textContent = cluster === undefined ? `single server · ${ring.members.length} shards` : `cluster node ${cluster.self} · ${cluster.nodes.length} nodes`;
  byId('updated').textContent = `updated ${new Date(now).toLocaleTimeString()}`;

  replace(byId('ring'), ringSvg({ epoch: ring.epoch, q: ring.q, n: ring.n, owners: ring.owners, preferenceLists: ring.preferenceLists, colours, down }));
  replace(byId('legend'), ...ids.map((id) => h('li', { 'data-member': id }, swatch(colours.get(id)!), `${id} · ${ring.owned[id] ?? 0}`)));

  // Nodes: the cluster's view, or this server alone.
  const membersOf = (node: string): string[] => ids.filter((id) => splitMember(id).node === node);
  const nodeRows = cluster === undefined
    ? [h('tr', { 'data-node': 'local' }, h('td', {}, 'this server'), h('td', {}, state(down.size === ids.length ? 'down' : 'up')), h('td', {}, location.host),
        h('td', {}, '–'), h('td', {}, membersOf('').map((id) => splitMember(id).shard).join(' ')), h('td', {}, String(ring.q)))]
    : cluster.nodes.map((n) => h('tr', { 'data-node': n.id },
        h('td', {}, n.self ? `${n.id} (this node)` : n.id), h('td', {}, state(nodeState(n))), h('td', {}, n.address),
        h('td', {}, `${n.dc} / ${n.rack}`), h('td', {}, membersOf(n.id).map((id) => splitMember(id).shard).join(' ') || '–'), h('td', {}, String(n.partitions))));
  replace(byId('nodes').querySelector('tbody')!, ...nodeRows);

  // Shards: this node's workers, with their memory and hint figures.
  const shards: ShardNumbers[] = readAllShardNumbers(stats.shards);
  const maxMem = Math.max(0, ...shards.map((sh) => sh.data.memtableBytes));
  const maxCache = Math.max(0, ...shards.map((sh) => sh.data.blockCacheBytes));
  const local = (id: string): string => (cluster === undefined ? id : `${cluster.self}/${id}`);
  const pair = (hs: HistogramSummary | undefined): string => (hs === undefined || hs.count === 0 ? '–' : `${micros(hs.p50Us)}/${micros(hs.p99Us)}`);
  const estimate = (sh: ShardNumbers | undefined, n: number | undefined): string => (sh === undefined || sh.objects.sampled === 0 ? '–' : String(n));
  replace(byId('shards').querySelector('tbody')!, ...stats.replicas.filter((r) => cluster === undefined || splitMember(r.id).node === cluster.self).map((r) => {
    const sh = shards.find((x) => x.id === r.id || local(x.id) === r.id);
    const colour = colours.get(r.id) ?? '#777';
    return h('tr', { 'data-shard': r.id, 'data-state': r.up ? 'up' : 'down' },
      h('td', {}, swatch(colour), r.id), h('td', {}, state(r.up ? 'up' : 'down')), h('td', {}, String(ring.owned[r.id] ?? 0)),
      h('td', {}, bar(sh?.data.memtableBytes ?? 0, maxMem, colour), bytes(sh?.data.memtableBytes ?? 0)),
      h('td', {}, bar(sh?.data.blockCacheBytes ?? 0, maxCache, colour), bytes(sh?.data.blockCacheBytes ?? 0)),
      h('td', { 'data-cell': 'tables' }, sh === undefined ? '–' : `${sh.data.tables} · ${sh.data.flushes} · ${sh.data.compactions}`),
      h('td', {}, String(sh?.hintStore.pending ?? 0)),
      h('td', { 'data-cell': 'latency' }, pair(sh?.latency)), h('td', { 'data-cell': 'fsync' }, pair(sh?.fsync)),
      h('td', { 'data-cell': 'siblings' }, estimate(sh, sh?.objects.siblingKeysEstimate)), h('td', { 'data-cell': 'tombstones' }, estimate(sh, sh?.objects.tombstonesEstimate)));
  }));
  renderShardLatency(shards.map((sh) => ({ id: local(sh.id), latency: sh.latency })), colours, now);
  replace(byId('fsync-histogram'), histogramSvg(mergeBuckets(shards.map((sh) => sh.fsync.buckets)), '#b07de0'));

  // Charts: rates from the counters' change since the previous poll.
  if (previous !== undefined && now > previous.t) {
    const dt = (now - previous.t) / 1000;
    opsChart.add(now, [Math.max(0, stats.puts - previous.puts) / dt, Math.max(0, stats.gets - previous.gets) / dt]);
  }
  previous = { t: now, puts: stats.puts, gets: stats.gets };
  hintChart.add(now, [stats.hintStore?.pending ?? 0]);
  opsChart.draw(now);
  hintChart.draw(now);

  // Backlogs.
  const hs = stats.hintStore;
  const t = ring.transfers;
  const rows: [string, string, string][] = [
    ['hints-held', 'hints held by shards', hs === undefined ? 'n/a' : `${hs.pending} (${bytes(hs.bytes)}, oldest ${age(hs.oldestAgeMs)})`],
    ['hints-undelivered', 'hints written − delivered', String(Math.max(0, stats.hintsWritten - stats.hintsDelivered))],
    ['transfers', 'transfers in flight', t === undefined ? 'none (single server)' : transferText(t)],
    ['pending-moves', 'partitions a commit would move', cluster === undefined ? 'n/a' : cluster.pendingMoves < 0 ? 'staged membership cannot form a ring' : String(cluster.pendingMoves)],
    ['anti-entropy', 'anti-entropy last exchange', ae === undefined ? 'n/a' : exchangeText(ae)],
    ['siblings', 'keys with siblings (sampled)', objectText(shards, (sh) => sh.objects.siblingKeysEstimate, (sh) => sh.objects.withSiblings)],
    ['tombstones', 'tombstones awaiting GC (sampled)', objectText(shards, (sh) => sh.objects.tombstonesEstimate, (sh) => sh.objects.tombstoneOnly)],
    ['quorum-failures', 'quorum failures (total)', String(stats.quorumFailures)],
  ];
  replace(byId('backlogs'), ...rows.flatMap(([key, label, value]) => [h('dt', {}, label), h('dd', { 'data-backlog': key }, value)]));
  replace(byId('stalest'), ...(ae === undefined || ae.stalest.length === 0
    ? [h('li', { class: 'muted' }, 'no partition led here')]
    : ae.stalest.map((x) => h('li', { 'data-partition': x.partition }, `p${x.partition} · ${x.ageMs === null ? 'never' : age(x.ageMs)}`))));

  const warnings = ring.warnings;
  replace(byId('warnings'), ...(warnings === undefined
    ? [h('li', { class: 'muted' }, 'this server does not report placement warnings')]
    : warnings.length === 0
      ? [h('li', { class: 'muted' }, 'none')]
      : warnings.map((w) => h('li', { 'data-warning': '' }, warningText(w)))));
}

function transferText(t: NonNullable<RingAnswer['transfers']>): string {
  const head = `${t.pending} ranges (${t.done} done, ${bytes(t.bytesMoved)} moved, ${t.failures} failed pages)`;
  if (t.pending === 0) return head;
  const rate = t.rateBytesPerSecond ?? 0;
  const left = t.remainingBytes == null ? 'size not measured yet' : `~${bytes(t.remainingBytes)} left`;
  const waiting = t.tasks?.find((x) => x.waiting !== undefined)?.waiting;
  const eta = t.etaMs == null ? (waiting === undefined ? 'ETA unknown' : `waiting: ${waiting}`) : `ETA ${age(t.etaMs)}`;
  return `${head} · ${bytes(rate)}/s · ${left} · ${eta}`;
}

function exchangeText(ae: AntiEntropyAnswer): string {
  if (ae.partitions === 0) return 'no partition led here';
  const never = ae.partitions - ae.exchanged;
  const ages = ae.oldestAgeMs === null || ae.medianAgeMs === null ? 'none exchanged yet' : `oldest ${age(ae.oldestAgeMs)}, median ${age(ae.medianAgeMs)}`;
  return `${ages} · ${ae.exchanged}/${ae.partitions} partitions exchanged${never > 0 ? `, ${never} not yet` : ''}`;
}

/** A sampled estimate over the shards: "~N (k in the m objects sampled)". */
function objectText(shards: readonly ShardNumbers[], estimate: (sh: ShardNumbers) => number, seen: (sh: ShardNumbers) => number): string {
  const sampled = shards.reduce((n, sh) => n + sh.objects.sampled, 0);
  if (sampled === 0) return 'no objects sampled yet';
  const total = shards.reduce((n, sh) => n + estimate(sh), 0);
  return `~${total} (${shards.reduce((n, sh) => n + seen(sh), 0)} in ${sampled} objects sampled)`;
}

function warningText(w: unknown): string {
  if (typeof w === 'string') return w;
  if (typeof w === 'object' && w !== null) {
    const o = w as Record<string, unknown>;
    if (typeof o.message === 'string') return typeof o.code === 'string' ? `${o.code}: ${o.message}` : o.message;
  }
  return JSON.stringify(w);
}

function renderActions(clustered: boolean): void {
  const admin = `--admin ${location.host}`;
  const commands: [string, string][] = clustered
    ? [
        [`ringkv cluster plan ${admin}`, 'show the partitions a commit of the staged joins would move'],
        [`ringkv cluster commit ${admin}`, 'adopt the staged membership as the next ring'],
        [`ringkv cluster leave ${admin}`, 'decommission this node (its data streams away first)'],
        [`ringkv cluster remove <node> ${admin}`, 'drop a dead node (the survivors re-replicate its ranges)'],
        [`ringkv cluster shards <n> ${admin}`, "change this node's shard workers"],
      ]
    : [['ringkv start --node-id <id> --seeds <host:port> ...', 'membership commands exist on cluster nodes only (README "A cluster")']];
  replace(byId('actions'), ...commands.map(([cmd, why]) => h('li', {}, h('code', {}, cmd), ` ${why}`)));
}

let actionsFor: boolean | undefined;

async function poll(): Promise<void> {
  try {
    const [ring, stats] = await Promise.all([json<RingAnswer>('/ring?lists'), json<StatsAnswer>('/stats')]);
    if (ring === undefined || stats === undefined) throw new Error('/ring or /stats missing');
    // A cluster node's /ring lists the nodes; a single server has no /cluster (not asked: a 404 would log).
    const cluster = ring.nodes === undefined ? undefined : await json<ClusterAnswer>('/cluster');
    const ae = await json<AntiEntropyAnswer>('/anti-entropy');
    render(ring, stats, cluster, ae);
    // A store without a RESP server in front (embedded) has no /latency.
    const latency = await json<LatencyAnswer>('/latency');
    if (latency !== undefined) renderLatency(latency, Date.now());
    if (actionsFor !== (cluster !== undefined)) renderActions((actionsFor = cluster !== undefined));
    document.body.dataset.polls = String(Number(document.body.dataset.polls ?? 0) + 1);
  } catch (err) {
    byId('updated').textContent = `cannot reach the admin server: ${(err as Error).message} (retrying)`;
  } finally {
    setTimeout(() => void poll(), POLL_MS);
  }
}

void poll();
