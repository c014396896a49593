// Test helpers for real clusters: `ringkv start` processes on loopback hosts 127.0.0.2, .3, ...
// (inside the test's network namespace, see netns.ts), each with its own data dir, RESP,
// admin and cluster ports on its own address; a write load over ioredis that remembers what
// was acknowledged; and checks over every node.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { startServer, type Server } from './cli-harness.js';
import { LoadLoop } from './load-loop.js';

export const SECRET = 'test-cluster-secret';
export const CLUSTER_PORT = 7380;
export const RESP_PORT = 6380;
export const ADMIN_PORT = 8380;
/** A client gives up on a command after this long (a request never hangs past it). */
export const COMMAND_TIMEOUT_MS = 10_000;
/** Fast gossip and short timeouts for the fault tests: failures are noticed within a few seconds. */
export const FAULT_NODE_FLAGS = ['--shards', '1', '--sync-mode', 'batch', '--gossip-interval-ms', '250', '--timeout-ms', '1000'];
/**
 * Pause between one load worker's writes in the fault tests: a few thousand writes over a
 * scenario is plenty to catch a loss, and an unpaced load would only burn the cores the nodes
 * under test (and the runner's other test file) need.
 */
export const FAULT_LOAD_PAUSE_MS = 10;

export interface NodeSpec {
  id: string;
  host: string;
  dc?: string;
  rack?: string;
  /** Added to the RESP, admin and cluster ports: several nodes on one address. Default 0. */
  portOffset?: number;
}

/** One ringkv process of the cluster. */
export class NodeProc {
  server: Server | undefined;
  readonly dir: string;

  constructor(
    readonly spec: NodeSpec,
    private readonly seeds: readonly string[],
    private readonly extra: readonly string[],
    root: string,
  ) {
    this.dir = `${root}/${spec.id}`;
  }

  get host(): string {
    return this.spec.host;
  }

  /** The RESP, admin and cluster ports of this node. */
  get ports(): { resp: number; admin: number; cluster: number } {
    const k = this.spec.portOffset ?? 0;
    return { resp: RESP_PORT + k, admin: ADMIN_PORT + k, cluster: CLUSTER_PORT + k };
  }

  async start(): Promise<void> {
    const s = this.spec;
    this.server = await startServer([
      '--dir', this.dir,
      '--node-id', s.id,
      '--host', s.host,
      '--port', String(this.ports.resp),
      '--admin-host', s.host,
      '--admin-port', String(this.ports.admin),
      '--cluster-port', String(this.ports.cluster),
      ...(this.seeds.length > 0 ? ['--seeds', this.seeds.join(',')] : []),
      '--dc', s.dc ?? 'dc1',
      '--rack', s.rack ?? 'r1',
      '--log-level', 'info',
      ...this.extra,
    ], { RINGKV_CLUSTER_SECRET: SECRET });
  }

  /** kill -9: the process gets no chance to flush anything not yet synced. */
  async kill(): Promise<void> {
    await this.server?.stop('SIGKILL');
    this.server = undefined;
  }

  async stop(): Promise<void> {
    await this.server?.stop('SIGTERM');
    this.server = undefined;
  }

  pause(): void {
    this.server?.child.kill('SIGSTOP');
  }

  resume(): void {
    this.server?.child.kill('SIGCONT');
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  client(): Redis {
    // Commands wait while the client (re)connects, and fail when the connection drops: a
    // killed node fails only what was in flight on it.
    return new Redis({ host: this.host, port: this.ports.resp, maxRetriesPerRequest: 0, retryStrategy: () => 100, commandTimeout: COMMAND_TIMEOUT_MS });
  }

  async admin(path: string): Promise<unknown> {
    const res = await fetch(`http://${this.host}:${this.ports.admin}${path}`, { signal: AbortSignal.timeout(5000) });
    return res.json();
  }
}

export class Cluster {
  readonly root = mkdtempSync(`${tmpdir()}/ringkv-cluster-`);
  readonly nodes: NodeProc[] = [];

  /** Nodes n1..n<count> on 127.0.0.2.. ; all but the first join through the first. */
  constructor(count: number, extra: readonly string[] = [], specs?: NodeSpec[]) {
    const list: NodeSpec[] = specs ?? Array.from({ length: count }, (_, i) => ({ id: `n${i + 1}`, host: `127.0.0.${i + 2}` }));
    const seed = `${list[0]!.host}:${CLUSTER_PORT + (list[0]!.portOffset ?? 0)}`;
    for (let i = 0; i < list.length; i++) this.nodes.push(new NodeProc(list[i]!, i === 0 ? [] : [seed], extra, this.root));
  }

  /** Starts the first node (the seed), then the others side by side. */
  async start(): Promise<void> {
    const [seed, ...rest] = this.nodes;
    await seed!.start();
    await Promise.all(rest.map((n) => n.start()));
  }

  /**
   * Waits until every running node sees `count` nodes up and acts on one ring (the same
   * epoch) that holds `count` nodes, or throws after `ms`. (Seeing the nodes up is not
   * enough: a joiner may still act on the first node's one-member ring for a round.)
   */
  async settle(count: number, ms = 60_000): Promise<void> {
    const until = Date.now() + ms;
    let last = '';
    while (Date.now() < until) {
      let ok = true;
      const epochs = new Set<number>();
      for (const n of this.nodes.filter((x) => x.running)) {
        try {
          const ring = (await n.admin('/ring')) as { epoch: number; members: { id: string }[]; nodes?: { id: string; liveness?: string }[] };
          const up = (ring.nodes ?? []).filter((x) => x.liveness === undefined || x.liveness === 'alive').length;
          const owners = new Set(ring.members.map((m) => m.id.split('/')[0])).size;
          epochs.add(ring.epoch);
          if (up !== count || owners !== count) {
            ok = false;
            last = `${n.spec.id} sees ${up} of ${count} up, ${owners} in ring epoch ${ring.epoch}`;
          }
        } catch (err) {
          ok = false;
          last = `${n.spec.id}: ${(err as Error).message}`;
        }
      }
      if (ok && epochs.size === 1) return;
      if (ok) last = `ring epochs differ: ${[...epochs].join(', ')}`;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`cluster did not settle on ${count} nodes within ${ms} ms: ${last}`);
  }

  async close(): Promise<void> {
    for (const n of this.nodes) await n.kill().catch(() => {});
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Writes unique keys to random running nodes and remembers which writes were acknowledged. */
export class WriteLoad extends LoadLoop {
  readonly acked = new Map<string, string>();
  attempted = 0;
  failed = 0;
  /** Slowest write, acknowledged or failed (ms). */
  maxLatencyMs = 0;
  readonly errors = new Map<string, number>();

  /**
   * `pauseMs` between one worker's writes makes a light load (0: as fast as acknowledged);
   * `prefix` keeps the keys of loads that run one after the other on one cluster apart.
   */
  constructor(private readonly cluster: Cluster, workers = 4, private readonly pauseMs = 0, private readonly prefix = '') {
    super(workers);
  }

  protected async worker(w: number): Promise<void> {
    const clients = new Map<NodeProc, Redis>();
    let i = 0;
    while (!this.stopped) {
      const running = this.cluster.nodes.filter((n) => n.running);
      if (running.length === 0) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const node = running[(w + i) % running.length]!;
      let c = clients.get(node);
      if (c === undefined) {
        c = node.client();
        c.on('error', () => {});
        clients.set(node, c);
      }
      const key = `${this.prefix}w${w}:${i++}`;
      const value = `v-${key}-${Date.now()}`;
      this.attempted++;
      const t0 = performance.now();
      try {
        await c.set(key, value);
        this.acked.set(key, value);
      } catch (err) {
        this.failed++;
        const why = (err as Error).message.split(':')[0]!.slice(0, 60);
        this.errors.set(why, (this.errors.get(why) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
      this.maxLatencyMs = Math.max(this.maxLatencyMs, performance.now() - t0);
      if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
    }
    for (const c of clients.values()) c.disconnect();
  }
}

/** Keys whose acknowledged value no running node returns (VGET lists every sibling). */
export async function lostWrites(cluster: Cluster, acked: Map<string, string>): Promise<string[]> {
  const lost: string[] = [];
  const node = cluster.nodes.find((n) => n.running)!;
  const c = node.client();
  try {
    const keys = [...acked.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      const pipe = c.pipeline();
      for (const k of batch) pipe.call('VGET', k);
      const replies = (await pipe.exec()) ?? [];
      for (let j = 0; j < batch.length; j++) {
        const [err, reply] = replies[j] ?? [new Error('no reply'), null];
        const values = err ? [] : vgetValues(reply);
        if (!values.includes(acked.get(batch[j]!)!)) lost.push(batch[j]!);
      }
    }
  } finally {
    c.disconnect();
  }
  return lost;
}

/** VGET's reply: [context, value1, value2, ...] (values as strings; [] when absent). */
export function vgetValues(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [];
  return (reply as unknown[]).slice(1).map((v) => String(v));
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * lostWrites, asked again until none is missing or `ms` passed: after a heal, replicas
 * converge (hinted handoff, read repair) rather than at once. Returns what is still missing
 * and how long convergence took.
 */
export async function lostAfter(cluster: Cluster, acked: Map<string, string>, ms: number): Promise<{ lost: string[]; tookMs: number }> {
  const t0 = Date.now();
  let lost = await lostWrites(cluster, acked);
  while (lost.length > 0 && Date.now() - t0 < ms) {
    await new Promise((r) => setTimeout(r, 500));
    lost = await lostWrites(cluster, new Map(lost.map((k) => [k, acked.get(k)!])));
  }
  return { lost, tookMs: Date.now() - t0 };
}

/** Prints one line on a load's writes: how many were acknowledged and lost, and the errors. */
export function reportLoad(name: string, load: WriteLoad, lost: string[]): void {
  const rate = load.attempted === 0 ? 0 : (100 * (load.attempted - load.failed)) / load.attempted;
  console.log(`  ${name}: ${load.attempted} writes, ${load.acked.size} acknowledged (${rate.toFixed(2)}%), ${lost.length} lost, slowest ${load.maxLatencyMs.toFixed(0)} ms; errors ${JSON.stringify(Object.fromEntries(load.errors))}`);
}
