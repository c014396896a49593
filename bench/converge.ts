// Runs on: main thread. Time to converge after a partition: 5 `ringkv start` processes
// (N=3 W=2 R=2, one shard each) on 127.0.0.2-6 in a private network namespace, a write
// load of unique keys through redis clients to every node; each round cuts n4 and n5 off
// from n1-n3 with iptables (DROP both ways) for --partition-s, heals, and measures the time
// from the heal until every replica of every key acknowledged during the partition holds
// the same object:
//
//   load ──────────────────────────────────────────────────────────────> (stopped after the check)
//   ├── partition {n1,n2,n3} | {n4,n5} ──┤ heal
//                                        └── poll: GET each key's N replicas directly ──┤ agree
//
// Replicas are read one by one by an observer that opens peer links with the cluster secret
// (GET frames to '<node>/s0', as a coordinator would): no read repair, so what is measured is
// what the cluster does by itself (failure detector sees the minority alive again, hinted
// handoff delivers what the other side missed). A key agrees when all N replicas hold
// byte-identical objects. Only keys acknowledged during the partition are followed; the load
// goes on after the heal, as it would in production. Prints a markdown report: per round
// the keys written during the partition and the times to all-alive and to agreement, then
// the median. Needs root (unshare --net, iptables), like the process tests.
//
//   node build.mjs && node dist/bench/converge.js [--rounds 3] [--partition-s 10]
//     [--gossip-interval-ms 1000] [--timeout-ms 2000] [--workers 4]
import { PeerTransport } from '../src/cluster/peer/peer-transport.js';
import { XxHash64 } from '../src/hash/xxhash64.js';
import { FrameType } from '../src/protocol/index.js';
import { Ring, type RingJSON } from '../src/ring/index.js';
import { CLUSTER_PORT, Cluster, SECRET, WriteLoad } from '../test/support/cluster-harness.js';
import { enterNetns, heal, netnsUnavailable, partition } from '../test/support/netns.js';
import { describeMachine, machineInfo } from './lib/machine.js';

const HELP = `Usage: node dist/bench/converge.js [options]

  --rounds R              partition/heal rounds; the median is reported (default 3)
  --partition-s S         seconds n4, n5 are cut off from n1-n3 (default 10)
  --gossip-interval-ms M  the nodes' gossip round (default 1000, ringkv's default)
  --timeout-ms T          the nodes' per-replica request timeout (default 2000, ringkv's default)
  --workers W             concurrent writers of the load, one write each at a time (default 4)
`;

function flag(name: string, dflt: number, integer = false): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    process.stderr.write(`converge: --${name} needs a positive ${integer ? 'integer' : 'number'}\n\n${HELP}`);
    process.exit(2);
  }
  return v;
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}
const ROUNDS = flag('rounds', 3, true);
const PARTITION_MS = flag('partition-s', 10) * 1000;
const GOSSIP_MS = flag('gossip-interval-ms', 1000);
const TIMEOUT_MS = flag('timeout-ms', 2000);
const WORKERS = flag('workers', 4, true);
const N = 3;
/** A key not agreed on this long after the heal fails the round (anti-entropy's 60 s round
 *  would be the backstop; past it something is wrong, not slow). */
const CONVERGE_LIMIT_MS = 180_000;
/** Replica reads in flight at once during a check. */
const READS_IN_FLIGHT = 256;
/** A replica read the observer gives up on (counted as not agreeing, asked again at the next
 *  check): bounds how late a check can see agreement, far above a replica read's ~1 ms. */
const READ_TIMEOUT_MS = 500;
/** Pause between two checks of the keys not yet agreed. */
const CHECK_PAUSE_MS = 100;
/** The load runs this long before the cut (its pace with every node reachable is measured there). */
const WARMUP_MS = 2000;
/** Quiet time between rounds, once every node is up again. */
const BETWEEN_ROUNDS_MS = 3000;
const OBSERVER = 'converge-observer';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => void process.stderr.write(`converge: ${line}\n`);
const enc = new TextEncoder();

interface Round {
  /** Writes acknowledged per second in the WARMUP_MS before the cut: the load's pace when whole. */
  beforePerSecond: number;
  keys: number;
  /** Writes attempted and failed during the partition. */
  attempted: number;
  failed: number;
  /** When n1 first saw both n4 and n5 suspect, then down, after the cut (-1: not during it). */
  suspectMs: number;
  downMs: number;
  aliveMs: number;
  agreeMs: number;
  checks: number;
}

/** The observer: peer links to every node, with the cluster secret, from 127.0.0.1. */
function observer(cluster: Cluster): PeerTransport {
  const hosts = new Map(cluster.nodes.map((n) => [n.spec.id, n.host]));
  return new PeerTransport({
    self: OBSERVER,
    cluster: 'ringkv',
    secret: SECRET,
    localAddress: '127.0.0.1',
    addressOf: (node) => {
      const host = hosts.get(node);
      return host === undefined ? undefined : { host, port: CLUSTER_PORT };
    },
    replicasOf: (node) => [`${node}/s0`],
  });
}

/**
 * The keys of `pending` whose N replicas do not (yet) hold byte-identical objects. A replica
 * that does not answer (a link still reconnecting) counts as not agreeing.
 */
async function disagreeing(peers: PeerTransport, ring: Ring, pending: string[]): Promise<string[]> {
  const hasher = new XxHash64();
  const out: string[] = [];
  let next = 0;
  const one = async (key: string): Promise<void> => {
    const bytes = enc.encode(key);
    hasher.hash(bytes);
    const hi = hasher.hi >>> 0;
    const lo = hasher.lo >>> 0;
    const replicas = ring.preferenceList(hi, lo, N);
    const objects = await Promise.all(replicas.map(async (r) => {
      try {
        const reply = await peers.request(r, { type: FrameType.GET, hi, lo, key: bytes }, READ_TIMEOUT_MS);
        return reply.type === FrameType.OBJECT && reply.object.length > 0 ? Buffer.from(reply.object) : undefined;
      } catch {
        return undefined;
      }
    }));
    const first = objects[0];
    if (first === undefined || objects.some((o) => o === undefined || !o.equals(first))) out.push(key);
  };
  const worker = async (): Promise<void> => {
    while (next < pending.length) await one(pending[next++]!);
  };
  await Promise.all(Array.from({ length: READS_IN_FLIGHT }, worker));
  return out;
}

/** n1's view of the minority's liveness: the worst of n4's and n5's ('alive' < 'suspect' < 'down'), or undefined. */
async function minorityLiveness(cluster: Cluster): Promise<string | undefined> {
  try {
    const view = (await cluster.nodes[0]!.admin('/cluster')) as { nodes: { id: string; liveness: string }[] };
    const seen = view.nodes.filter((n) => n.id === 'n4' || n.id === 'n5').map((n) => n.liveness);
    if (seen.length !== 2) return undefined;
    return seen.every((l) => l === 'down') ? 'down' : seen.every((l) => l !== 'alive') ? 'suspect' : 'alive';
  } catch {
    return undefined;
  }
}

async function allAlive(cluster: Cluster): Promise<boolean> {
  try {
    const view = (await cluster.nodes[0]!.admin('/cluster')) as { nodes: { liveness: string }[] };
    return view.nodes.length === cluster.nodes.length && view.nodes.every((n) => n.liveness === 'alive');
  } catch {
    return false;
  }
}

async function round(cluster: Cluster, peers: PeerTransport, ring: Ring): Promise<Round> {
  const load = new WriteLoad(cluster, WORKERS);
  load.start();
  try {
    const warm = load.acked.size;
    await sleep(WARMUP_MS);
    const beforePerSecond = ((load.acked.size - warm) * 1000) / WARMUP_MS;
    const minority = cluster.nodes.slice(3).map((n) => n.host);
    const majority = cluster.nodes.slice(0, 3).map((n) => n.host);
    const ackedBefore = load.acked.size;
    const failedBefore = load.failed;
    const attemptedBefore = load.attempted;
    partition(minority, majority);
    const cut = performance.now();
    let suspectMs = -1;
    let downMs = -1;
    while (performance.now() - cut < PARTITION_MS) {
      const l = downMs >= 0 ? 'down' : await minorityLiveness(cluster);
      if (suspectMs < 0 && (l === 'suspect' || l === 'down')) suspectMs = performance.now() - cut;
      if (downMs < 0 && l === 'down') downMs = performance.now() - cut;
      await sleep(Math.min(100, Math.max(0, PARTITION_MS - (performance.now() - cut))));
    }
    const keys = [...load.acked.keys()].slice(ackedBefore);
    const failed = load.failed - failedBefore;
    const attempted = load.attempted - attemptedBefore;
    heal();
    const healed = performance.now();
    let aliveMs = -1;
    let pending = keys;
    let checks = 0;
    while (pending.length > 0 && performance.now() - healed < CONVERGE_LIMIT_MS) {
      if (aliveMs < 0 && (await allAlive(cluster))) aliveMs = performance.now() - healed;
      pending = await disagreeing(peers, ring, pending);
      checks++;
      if (pending.length > 0) await sleep(CHECK_PAUSE_MS);
    }
    const agreeMs = performance.now() - healed;
    if (pending.length > 0) throw new Error(`${pending.length} of ${keys.length} keys still disagree ${CONVERGE_LIMIT_MS} ms after the heal, e.g. ${pending.slice(0, 3).join(', ')}`);
    while (aliveMs < 0) {
      if (await allAlive(cluster)) aliveMs = performance.now() - healed;
      else await sleep(100);
    }
    return { beforePerSecond, keys: keys.length, attempted, failed, suspectMs, downMs, aliveMs, agreeMs, checks };
  } finally {
    heal();
    await load.stop();
  }
}

/** Seconds with 2 decimals, or '-' for a moment that did not come. */
function secs(ms: number): string {
  return ms < 0 ? '-' : (ms / 1000).toFixed(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<number> {
  const why = netnsUnavailable();
  if (why !== undefined) {
    process.stderr.write(`converge: cannot run here: ${why}\n`);
    return 1;
  }
  if (!(await enterNetns())) return 1;
  const machine = machineInfo();
  const flags = ['--shards', '1', '--n', String(N), '--gossip-interval-ms', String(GOSSIP_MS), '--timeout-ms', String(TIMEOUT_MS)];
  const cluster = new Cluster(5, flags);
  const peers = observer(cluster);
  const rounds: Round[] = [];
  try {
    log('starting 5 nodes');
    await cluster.start();
    await cluster.settle(5, 120_000);
    let ring: Ring | undefined;
    for (const until = Date.now() + 60_000; Date.now() < until; await sleep(250)) {
      ring = Ring.fromJSON((await cluster.nodes[0]!.admin('/ring')) as RingJSON);
      if (ring.members.length === 5) break;
    }
    if (ring?.members.length !== 5) throw new Error('the ring did not take all 5 nodes within 60 s');
    for (let i = 0; i < ROUNDS; i++) {
      await sleep(BETWEEN_ROUNDS_MS);
      await cluster.settle(5, 120_000);
      log(`round ${i + 1}: partition {n4,n5} | {n1,n2,n3} for ${PARTITION_MS / 1000} s`);
      const r = await round(cluster, peers, ring);
      log(`round ${i + 1}: ${r.keys} keys written during the partition, all alive ${r.aliveMs.toFixed(0)} ms and replicas agree ${r.agreeMs.toFixed(0)} ms after the heal`);
      rounds.push(r);
    }
  } finally {
    heal();
    await peers.close();
    await cluster.close();
  }
  const lines = [
    `Convergence after a partition: node dist/bench/converge.js --rounds ${ROUNDS} --partition-s ${PARTITION_MS / 1000} --gossip-interval-ms ${GOSSIP_MS} --timeout-ms ${TIMEOUT_MS} --workers ${WORKERS}`,
    `Machine: ${describeMachine(machine)}`,
    `5 ringkv processes (1 shard each, N=3 W=2 R=2, sync batch) on 127.0.0.2-6 in a network namespace; {n4,n5} cut off from {n1,n2,n3} by iptables DROP; ${WORKERS} writers of unique keys to all 5 nodes throughout.`,
    'Agree: every replica of every key acknowledged during the partition holds a byte-identical object (replicas read directly over peer links, no read repair).',
    '',
    '| round | writes/s acknowledged before the cut | writes started during the partition | acknowledged (keys followed) | failed | n4, n5 suspect / down in n1\'s view (s after the cut) | all alive in n1\'s view (s after heal) | replicas agree (s after heal) | checks |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rounds.map((r, i) => `| ${i + 1} | ${r.beforePerSecond.toFixed(0)} | ${r.attempted} | ${r.keys} | ${r.failed} | ${secs(r.suspectMs)} / ${secs(r.downMs)} | ${(r.aliveMs / 1000).toFixed(2)} | ${(r.agreeMs / 1000).toFixed(2)} | ${r.checks} |`),
    `| median | ${median(rounds.map((r) => r.beforePerSecond)).toFixed(0)} | ${median(rounds.map((r) => r.attempted))} | ${median(rounds.map((r) => r.keys))} | ${median(rounds.map((r) => r.failed))} | | ${(median(rounds.map((r) => r.aliveMs)) / 1000).toFixed(2)} | ${(median(rounds.map((r) => r.agreeMs)) / 1000).toFixed(2)} | |`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  return 0;
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`converge: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
});
