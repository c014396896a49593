// Test helpers for data transfer: real ClusterNodes in this process (each with its own shard
// worker, LSM in a temp dir, peer server on its own loopback address 127.0.0.2, .3, ...,
// gossip every 100 ms), a write load that remembers what was acknowledged, and a check that
// reads every replica of every key directly (GET frames through a node's transport).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ClusterNode } from '../../src/cluster/node.js';
import type { TransferOptions } from '../../src/cluster/transfer/transfer.js';
import type { RangeCleanupOptions } from '../../src/cluster/transfer/range-cleanup.js';
import { XxHash64 } from '../../src/hash/xxhash64.js';
import { FrameType } from '../../src/protocol/index.js';
import { decodeObject, visibleValues } from '../../src/version/index.js';
import { LoadLoop } from '../support/load-loop.js';

export const PORT = 7391;
export const N = 2;
export const SECRET = 'transfer-test-secret';
const enc = new TextEncoder();
const dec = new TextDecoder();

export const hostOf = (id: string): string => `127.0.0.${Number(id.slice(1)) + 1}`;

export type TransferTuning = Partial<Pick<TransferOptions, 'bytesPerSecond' | 'retryMs' | 'settleMs' | 'pageEntries'>>;
export type CleanupTuning = Partial<Pick<RangeCleanupOptions, 'delayMs' | 'intervalMs'>>;

/** Nodes n1, n2, ... of one cluster in this process; n1 is every other node's seed. */
export class Nodes {
  readonly root = mkdtempSync(`${tmpdir()}/ringkv-transfer-`);
  readonly nodes = new Map<string, ClusterNode>();

  /** Starts node `id`; `cleanup` tunes range cleanup (default: its own, a minute of quiet). */
  async start(id: string, transfer: TransferTuning = {}, cleanup: CleanupTuning = {}): Promise<ClusterNode> {
    const node = await ClusterNode.start({
      id,
      host: hostOf(id),
      port: PORT,
      seeds: id === 'n1' ? [] : [`${hostOf('n1')}:${PORT}`],
      cluster: 'transfer-test',
      secret: SECRET,
      dc: 'dc1',
      rack: 'r1',
      weight: 1,
      dir: `${this.root}/${id}`,
      shards: 1,
      storage: { syncMode: 'none', memtableBytes: 4 * 1024 * 1024 },
      defaults: { n: N, r: 1, w: 2, timeoutMs: 1000, sloppy: true, maxSiblings: 64, lww: false },
      handoffIntervalMs: 1000,
      gossip: { intervalMs: 100, partitions: 64 },
      transfer: { settleMs: 500, retryMs: 200, ...transfer },
      cleanup,
    });
    this.nodes.set(id, node);
    return node;
  }

  node(id: string): ClusterNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`${id} is not running`);
    return n;
  }

  running(): ClusterNode[] {
    return [...this.nodes.values()];
  }

  /** Stops a node (its shard, sockets and transfers; what it saved stays in its dir). */
  async stop(id: string): Promise<void> {
    const n = this.nodes.get(id);
    this.nodes.delete(id);
    await n?.store.close();
  }

  async close(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stop(id).catch(() => {});
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Waits until every running node sees exactly `members` (node ids) in its ring, all up. */
  async ringOf(members: string[], ms = 60_000): Promise<void> {
    const want = [...members].sort().join(',');
    await eventually(() => {
      for (const n of this.running()) {
        const ring = n.gossiper.ring;
        const have = [...new Set(ring?.members.map((m) => m.id.split('/')[0]!) ?? [])].sort().join(',');
        if (have !== want) return `${n.id} has ring ${have}`;
        if (n.gossiper.epoch !== this.running()[0]!.gossiper.epoch) return `${n.id} at epoch ${n.gossiper.epoch}`;
      }
      return undefined;
    }, ms);
  }

  /** Waits until no running node has a transfer pending. */
  async transfersDone(ms = 60_000): Promise<void> {
    await eventually(() => {
      for (const n of this.running()) {
        const t = n.transfers.status();
        if (t.pending > 0) return `${n.id}: ${t.pending} pending, first ${JSON.stringify(t.tasks[0])}, last error ${t.lastError}`;
      }
      return undefined;
    }, ms);
  }
}

/** Polls `why` until it returns undefined; throws its last answer after `ms`. */
export async function eventually(why: () => string | undefined | Promise<string | undefined>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let last: string | undefined = 'never checked';
  while (Date.now() < until) {
    last = await why();
    if (last === undefined) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not within ${ms} ms: ${last}`);
}

/** Writes `count` keys `prefix<i>` through `node`; returns them with their values. */
export async function preload(node: ClusterNode, prefix: string, count: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const batch = 100;
  for (let i = 0; i < count; i += batch) {
    const keys = Array.from({ length: Math.min(batch, count - i) }, (_, j) => `${prefix}${i + j}`);
    await Promise.all(keys.map((k) => node.store.put(k, `v-${k}`)));
    for (const k of keys) out.set(k, `v-${k}`);
  }
  return out;
}

/** Unique-key writes to the running nodes in turn, `workers` at a time, until stopped. */
export class WriteLoad extends LoadLoop {
  readonly acked = new Map<string, string>();
  attempted = 0;
  failed = 0;
  readonly errors = new Map<string, number>();
  /** The first words of each failure, for test messages. */
  readonly messages: string[] = [];

  constructor(private readonly nodes: Nodes, workers = 4) {
    super(workers);
  }

  protected async worker(w: number): Promise<void> {
    let i = 0;
    while (!this.stopped) {
      // As a load balancer would: only nodes that are ready (have a ring) and have not left.
      const running = this.nodes.running().filter((n) => n.gossiper.ring !== undefined && n.gossiper.record(n.id)?.status !== 'left');
      const node = running[(w + i) % running.length]!;
      const key = `load${w}:${i++}`;
      const value = `v-${key}`;
      this.attempted++;
      try {
        await node.store.put(key, value);
        this.acked.set(key, value);
      } catch (err) {
        this.failed++;
        const code = (err as { code?: string }).code ?? 'other';
        this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
        this.messages.push(`${node.id}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setImmediate(r));
    }
  }
}

/** Reads of known keys (R = 1: one replica's answer decides) from the running nodes in turn, until stopped. */
export class ReadLoad extends LoadLoop {
  reads = 0;
  /** Keys read as absent or without their value: '<key> via <node>'. */
  readonly misses: string[] = [];
  failed = 0;

  constructor(private readonly nodes: Nodes, private readonly keys: Map<string, string>, workers = 2) {
    super(workers);
  }

  protected async worker(w: number): Promise<void> {
    const keys = [...this.keys.keys()];
    let i = w * 7919;
    while (!this.stopped) {
      const running = this.nodes.running().filter((n) => n.gossiper.ring !== undefined);
      const node = running[i % running.length]!;
      const key = keys[(i * 7919) % keys.length]!;
      i++;
      try {
        const r = await node.store.get(key, { r: 1 });
        this.reads++;
        if (r === undefined || !r.values.some((v) => dec.decode(v) === this.keys.get(key))) this.misses.push(`${key} via ${node.id}`);
      } catch {
        this.failed++;
      }
      await new Promise((r) => setImmediate(r));
    }
  }
}

/**
 * Keys whose value is missing from some member of their preference list in `via`'s ring
 * (each replica read directly): '<key> on <member>: <what>'. Reads go 200 at a time.
 */
export async function missingReplicas(via: ClusterNode, expected: Map<string, string>): Promise<string[]> {
  const ring = via.store.ring;
  const hasher = new XxHash64();
  const checks: { key: string; member: string; value: string; hi: number; lo: number; bytes: Uint8Array }[] = [];
  for (const [key, value] of expected) {
    const bytes = enc.encode(key);
    hasher.hash(bytes);
    const hi = hasher.hi >>> 0;
    const lo = hasher.lo >>> 0;
    for (const member of ring.preferenceList(hi, lo, N)) checks.push({ key, member, value, hi, lo, bytes });
  }
  const missing: string[] = [];
  for (let i = 0; i < checks.length; i += 200) {
    await Promise.all(checks.slice(i, i + 200).map(async (c) => {
      const reply = await via.store.transport.request(c.member, { type: FrameType.GET, hi: c.hi, lo: c.lo, key: c.bytes }, 5000);
      if (reply.type === FrameType.ERROR) return void missing.push(`${c.key} on ${c.member}: ${reply.code} ${reply.message}`);
      if (reply.type !== FrameType.OBJECT) return void missing.push(`${c.key} on ${c.member}: reply type ${reply.type}`);
      if (reply.object.length === 0) return void missing.push(`${c.key} on ${c.member}: absent`);
      const values = visibleValues(decodeObject(reply.object), Date.now()).map((v) => dec.decode(v));
      if (!values.includes(c.value)) missing.push(`${c.key} on ${c.member}: has ${JSON.stringify(values)}`);
    }));
  }
  return missing;
}

/** Acknowledged writes that a read of every replica (R = N) through `via` does not return. */
export async function lostWrites(via: ClusterNode, acked: Map<string, string>): Promise<string[]> {
  const lost: string[] = [];
  const keys = [...acked.keys()];
  for (let i = 0; i < keys.length; i += 200) {
    await Promise.all(keys.slice(i, i + 200).map(async (k) => {
      const r = await via.store.get(k, { r: N });
      const values = r === undefined ? [] : r.values.map((v) => dec.decode(v));
      if (!values.includes(acked.get(k)!)) lost.push(k);
    }));
  }
  return lost;
}
