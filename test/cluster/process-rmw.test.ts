// Read-modify-write under partitions and kills, with real `ringkv start` processes in a
// private network namespace: each client reads a key with VGET, adds an element of its own to
// the set it holds (the union of the siblings it saw), and writes it back with VSET and the
// context. Sloppy reads (stand-ins answer for primaries on the other side) keep both sides
// of a partition working; the two sides' writes become siblings that merge after the heal,
// so no acknowledged element is lost. STRICT reads on the minority side fail fast instead.
// A client whose node is killed moves to the next node for a while (as a driver with a node
// list does); what was in flight on the killed node fails and counts as failed.
// RINGKV_LONG=1 runs the full durations (10 s cuts for 60 s, plus kill -9).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { Cluster, FAULT_LOAD_PAUSE_MS } from '../support/cluster-harness.js';
import { enterNetns, heal, partition } from '../support/netns.js';

const inside = await enterNetns();
const LONG = process.env.RINGKV_LONG === '1';
const NODE_FLAGS = ['--shards', '1', '--sync-mode', 'batch', '--gossip-interval-ms', '250', '--timeout-ms', '1000'];
const KEYS = 40;
/** After the heal, every replica must show every acknowledged element within this. */
const CONVERGE_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The set a VGET reply holds: the union of every sibling's comma-separated elements. */
function elementsOf(reply: unknown): { context: string; elements: Set<string> } {
  const r = Array.isArray(reply) ? (reply as unknown[]).map(String) : [];
  const elements = new Set<string>();
  for (const v of r.slice(1)) for (const e of v.split(',')) if (e !== '') elements.add(e);
  return { context: r[0] ?? '', elements };
}

/** How long a client whose node failed works through the next one before it tries its own again. */
const FAILOVER_MS = 2000;

/** An error the node answered (QUORUM, CONFLICT...), not a failed connection or a timeout. */
function isReplyError(err: unknown): boolean {
  return (err as Error).name === 'ReplyError';
}

class RmwLoad {
  ok = 0;
  failed = 0;
  readonly acked = new Map<string, Set<string>>();
  readonly errors = new Map<string, number>();
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly clients: readonly Redis[]) {}

  start(): void {
    this.running = true;
    this.loops = this.clients.map((c, id) => this.loop(c, id));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /**
   * Client `id` works through its home node, and, as a driver with a list of nodes does,
   * through the next node for a while when its connection to one fails (a killed node):
   * the failed operation counts as failed, the ones after it go elsewhere.
   */
  private async loop(home: Redis, id: number): Promise<void> {
    let at = id;
    let awayUntil = 0;
    for (let seq = 0; this.running; seq++) {
      const key = `rmw${(id * 7 + seq) % KEYS}`;
      const element = `c${id}.${seq}`;
      if (at !== id && Date.now() >= awayUntil) at = id;
      const c = at === id ? home : this.clients[at]!;
      try {
        const { context, elements } = elementsOf(await c.call('VGET', key));
        elements.add(element);
        await c.call('VSET', key, [...elements].join(','), ...(context === '' ? [] : ['CONTEXT', context]));
        this.ok++;
        let set = this.acked.get(key);
        if (set === undefined) this.acked.set(key, (set = new Set()));
        set.add(element);
        await sleep(FAULT_LOAD_PAUSE_MS);
      } catch (err) {
        this.failed++;
        const why = (err as Error).message.split(' ').slice(0, 4).join(' ');
        this.errors.set(why, (this.errors.get(why) ?? 0) + 1);
        if (!isReplyError(err)) {
          at = (at + 1) % this.clients.length;
          awayUntil = Date.now() + FAILOVER_MS;
        }
        await sleep(20);
      }
    }
  }
}

/** Acknowledged elements some node's VGET does not show yet, asked again until none or `ms`. */
async function missingAfter(cluster: Cluster, acked: Map<string, Set<string>>, ms: number): Promise<{ missing: string[]; tookMs: number }> {
  const t0 = Date.now();
  let missing: string[] = [];
  const clients = cluster.nodes.map((n) => n.client());
  for (const c of clients) c.on('error', () => {});
  try {
    for (;;) {
      missing = [];
      for (const c of clients) {
        for (const [key, want] of acked) {
          const got = await c.call('VGET', key).then(elementsOf, () => undefined);
          for (const e of want) if (got === undefined || !got.elements.has(e)) missing.push(`${key}:${e}`);
        }
      }
      if (missing.length === 0 || Date.now() - t0 > ms) return { missing, tookMs: Date.now() - t0 };
      await sleep(500);
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
}

if (inside) {
  // One 5-node cluster for both partition tests (starting one costs several CPU-seconds).
  let cluster: Cluster;
  let hosts: string[] = [];
  test.before(async () => {
    cluster = new Cluster(5, NODE_FLAGS);
    hosts = cluster.nodes.map((n) => n.host);
    await cluster.start();
    await cluster.settle(5);
  });
  test.after(async () => {
    heal();
    await cluster.close(); // again, if a test failed before the last one closed it
  });

  test('partitions 2 of 5 under read-modify-write: >= 99% of operations succeed on both sides, 0 elements lost, converged within 30 s', async () => {
    try {
      // Clients on both sides: n1-n3 (majority) and n4-n5 (minority).
      const clients = cluster.nodes.map((n) => n.client());
      for (const c of clients) c.on('error', () => {}); // a killed node's client reconnects
      const load = new RmwLoad(clients);
      load.start();
      const rounds = LONG ? 6 : 2;
      const cutMs = LONG ? 10_000 : 6000;
      for (let i = 0; i < rounds; i++) {
        await sleep(1500);
        partition(hosts.slice(0, 3), hosts.slice(3));
        await sleep(cutMs);
        heal();
        if (LONG && i % 2 === 1) {
          // Kill -9 and restart a node between cuts too.
          const victim = cluster.nodes[1 + (i % 4)]!;
          await victim.kill();
          await sleep(2000);
          await victim.start();
        }
      }
      await sleep(1500);
      await load.stop();
      for (const c of clients) c.disconnect();
      await cluster.settle(5);
      const { missing, tookMs } = await missingAfter(cluster, load.acked, CONVERGE_MS);
      const total = load.ok + load.failed;
      console.log(`  rmw: ${total} operations, ${load.ok} ok (${((100 * load.ok) / total).toFixed(2)}%), ${missing.length} elements missing, converged in ${tookMs} ms; errors ${JSON.stringify(Object.fromEntries(load.errors))}`);
      assert.ok(load.ok > 100, `the load ran (${load.ok} ok)`);
      assert.equal(missing.slice(0, 10), [], 'every acknowledged element is on every replica');
      assert.ok(load.ok >= 0.99 * total, `${load.ok} of ${total} operations succeeded`);
    } finally {
      heal();
    }
  });

  test('STRICT on the minority side: a read of a key whose primaries are all across the cut fails fast with QUORUM', async () => {
    try {
      await cluster.settle(5);
      const c = cluster.nodes[4]!.client();
      c.on('error', () => {});
      for (let i = 0; i < KEYS; i++) await c.set(`strict${i}`, 'v');
      partition(hosts.slice(0, 3), hosts.slice(3));
      // Wait until the minority sees the majority down (suspected), then read every key.
      await sleep(4000);
      await c.call('CONSISTENCY', 'R', '2', 'STRICT');
      let failedFast = 0;
      let answered = 0;
      for (let i = 0; i < KEYS; i++) {
        const t0 = Date.now();
        await c.get(`strict${i}`).then(() => answered++, (err: Error) => {
          assert.match(err.message, /QUORUM/);
          if (Date.now() - t0 < 5000) failedFast++;
        });
      }
      await c.call('CONSISTENCY', 'DEFAULT');
      let sloppy = 0;
      for (let i = 0; i < KEYS; i++) await c.get(`strict${i}`).then(() => sloppy++, () => {});
      c.disconnect();
      console.log(`  strict: ${answered} answered, ${failedFast} failed fast; sloppy: ${sloppy} of ${KEYS} answered`);
      assert.ok(failedFast > 0, 'some strict reads on the minority side failed with QUORUM');
      assert.is(sloppy, KEYS, 'every sloppy read on the minority side answered');
    } finally {
      heal();
      await cluster.close(); // the last test on it: not left idling during the three-node test
    }
  });
}

test('three nodes on one address: every list has three distinct nodes; kill -9 one, every read succeeds', async () => {
  const specs = ['n1', 'n2', 'n3'].map((id, i) => ({ id, host: '127.0.0.1', portOffset: 10 + i }));
  const cluster = new Cluster(3, ['--shards', '2', '--sync-mode', 'batch', '--gossip-interval-ms', '250', '--timeout-ms', '1000'], specs);
  try {
    await cluster.start();
    await cluster.settle(3);
    const ring = (await cluster.nodes[0]!.admin('/ring?lists')) as { preferenceLists: Record<string, string[]>; warnings: string[] };
    const lists = Object.values(ring.preferenceLists);
    assert.ok(lists.length > 0);
    for (const list of lists) assert.is(new Set(list.map((m) => m.split('/')[0])).size, 3, `distinct nodes: ${list.join(', ')}`);
    assert.ok(ring.warnings.some((w) => /only 1 host/.test(w)), `a shared-host warning: ${JSON.stringify(ring.warnings)}`);
    const c = cluster.nodes[0]!.client();
    c.on('error', () => {});
    for (let i = 0; i < 200; i++) await c.set(`one${i}`, `v${i}`);
    await cluster.nodes[2]!.kill();
    let ok = 0;
    for (let i = 0; i < 200; i++) if ((await c.get(`one${i}`).catch(() => null)) === `v${i}`) ok++;
    c.disconnect();
    assert.is(ok, 200, 'every read succeeded with one of three nodes killed');
  } finally {
    await cluster.close();
  }
});

test.run();
