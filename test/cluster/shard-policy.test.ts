// The load-based shard-count policy over synthetic samples (grows under sustained load, not
// on a spike; shrinks slowly; respects its bounds and cool-down; never moves while a change
// is in progress), and the scaler that feeds it: busy fractions from two readings of each
// shard, restarts skipped, resizes applied and their failures reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Ring } from '../../src/ring/index.js';
import { ShardPolicy, resolveShardPolicyOptions, type Decision, type LoadSample, type ShardPolicyOptions } from '../../src/cluster/scaling/shard-policy.js';
import { ShardScaler, unsettledReason, type NodeShardState, type ScaledNode } from '../../src/cluster/scaling/shard-scaler.js';
import type { ShardLoad } from '../../src/coordinator/shard-transport.js';

const SAMPLE_MS = 10_000;
const CORES = 4;
const base: Partial<ShardPolicyOptions> = { minShards: 1, maxShards: 4, highMark: 0.75, lowMark: 0.2, growAfter: 3, shrinkAfter: 6, coolDownMs: 30_000 };

/** Feeds the policy one sample per SAMPLE_MS and applies its decisions, as the scaler does. */
class Run {
  at = 0;
  shards: number;
  unsettled: string | undefined = undefined;
  readonly decisions: Decision[] = [];
  constructor(readonly policy: ShardPolicy, shards: number) {
    this.shards = shards;
  }

  step(utilisation: number | undefined): Decision {
    this.at += SAMPLE_MS;
    const s: LoadSample = { at: this.at, shards: this.shards, utilisation, unsettled: this.unsettled };
    const d = this.policy.observe(s);
    this.decisions.push(d);
    if (d.kind !== 'hold') this.shards = d.target;
    return d;
  }

  steps(utilisation: number | undefined, count: number): Decision[] {
    return Array.from({ length: count }, () => this.step(utilisation));
  }
}

const kinds = (ds: Decision[]): string => ds.map((d) => d.kind[0]).join('');

test('grows by one after growAfter samples above the high mark, not on a spike', () => {
  const r = new Run(new ShardPolicy(base, CORES), 1);
  assert.is(r.step(0.95).reason, 'building');
  assert.is(r.step(0.3).reason, 'within-marks', 'a spike of one sample');
  r.steps(0.95, 2);
  assert.is(r.step(0.5).kind, 'hold', 'two high samples then a normal one');
  assert.is(r.shards, 1);
  const ds = r.steps(0.9, 3);
  assert.is(kinds(ds), 'hhg');
  assert.equal(ds[2], { kind: 'grow', target: 2, reason: 'sustained-high', detail: '90% busy, above 75% for 3 samples: 1 -> 2 shards' });
  assert.is(r.shards, 2);
});

test('shrinks only after the longer low window, and never below what the load needs', () => {
  const r = new Run(new ShardPolicy(base, CORES), 3);
  const ds = r.steps(0.1, 6);
  assert.is(kinds(ds), 'hhhhhs');
  assert.is(ds[5]!.reason, 'sustained-low');
  assert.is(r.shards, 2);
  // 0.19 on 2 shards would be 0.38 on 1; with a low high mark it would overload one.
  const tight = new Run(new ShardPolicy({ ...base, highMark: 0.35, lowMark: 0.2 }, CORES), 2);
  const t = tight.steps(0.19, 6);
  assert.is(t[5]!.reason, 'shrink-would-overload');
  assert.is(tight.shards, 2);
});

test('holds at max and min; a count outside the bounds is brought to the nearest one', () => {
  const r = new Run(new ShardPolicy({ ...base, maxShards: 2 }, CORES), 2);
  assert.is(r.steps(0.99, 5).at(-1)!.reason, 'at-max');
  assert.is(r.shards, 2);
  const low = new Run(new ShardPolicy({ ...base, minShards: 2 }, CORES), 2);
  assert.is(low.steps(0.0, 8).at(-1)!.reason, 'at-min');
  assert.is(low.shards, 2);

  const out = new Run(new ShardPolicy({ ...base, minShards: 2, maxShards: 3 }, CORES), 1);
  assert.equal(out.step(0.5), { kind: 'grow', target: 2, reason: 'below-min', detail: '1 shards is below the minimum of 2: 1 -> 2 shards' });
  const over = new Run(new ShardPolicy({ ...base, maxShards: 2 }, CORES), 4);
  assert.equal([over.step(0.99).target, over.step(0.99).reason], [2, 'cooling-down']);
});

test('after a change: holds while unsettled and for the cool-down after settling, streaks restart', () => {
  const r = new Run(new ShardPolicy(base, CORES), 1);
  r.steps(0.9, 3);
  assert.is(r.shards, 2);
  // The resize's transfers run for 4 samples; the load stays high all along.
  r.unsettled = '3 transfers to send';
  const during = r.steps(0.95, 4);
  assert.ok(during.every((d) => d.kind === 'hold' && d.reason === 'unsettled'), JSON.stringify(during));
  r.unsettled = undefined;
  // Settled at the next sample: 30 s of cool-down (3 samples) before anything counts again.
  const cooling = r.steps(0.95, 3);
  assert.equal(cooling.map((d) => d.reason), ['cooling-down', 'cooling-down', 'cooling-down']);
  // Then a fresh streak of three, from the sample at settled + 30 s.
  assert.is(kinds(r.steps(0.95, 3)), 'hhg');
  assert.is(r.shards, 3);
});

test('never changes while the node is unsettled, however long the load lasts', () => {
  const r = new Run(new ShardPolicy(base, CORES), 1);
  r.unsettled = 'the ring cannot change now: node n3 is down';
  assert.ok(r.steps(1, 50).every((d) => d.kind === 'hold'));
  r.unsettled = undefined;
  assert.is(kinds(r.steps(1, 3)), 'hhg', 'a streak starts only once settled');
});

test("an operator's resize counts as a change: cool-down first", () => {
  const r = new Run(new ShardPolicy(base, CORES), 2);
  r.steps(0.9, 2);
  r.shards = 3; // ringkv cluster shards 3
  assert.is(r.step(0.9).reason, 'cooling-down');
  assert.is(r.policy.streaks.high, 0);
});

test('a missing measurement breaks a streak', () => {
  const r = new Run(new ShardPolicy(base, CORES), 1);
  r.steps(0.9, 2);
  assert.is(r.step(undefined).reason, 'no-sample');
  assert.is(kinds(r.steps(0.9, 3)), 'hhg');
});

test('a load that oscillates around the marks never flaps', () => {
  const r = new Run(new ShardPolicy({ ...base, growAfter: 2, shrinkAfter: 2, coolDownMs: 60_000 }, CORES), 2);
  for (let i = 0; i < 200; i++) r.step(i % 4 < 2 ? 0.9 : 0.1);
  const changes = r.decisions.map((d, i) => ({ d, i })).filter(({ d }) => d.kind !== 'hold');
  for (let j = 1; j < changes.length; j++) {
    assert.ok((changes[j]!.i - changes[j - 1]!.i) * SAMPLE_MS >= 60_000, `changes at samples ${changes[j - 1]!.i} and ${changes[j]!.i}`);
  }
});

test('options: max defaults to the cores and may not exceed them; bad marks and windows are refused', () => {
  assert.is(resolveShardPolicyOptions({}, 6).maxShards, 6);
  assert.is(resolveShardPolicyOptions({}, 6).minShards, 1);
  const code = (o: Partial<ShardPolicyOptions>): string | undefined => {
    try {
      resolveShardPolicyOptions(o, 2);
      return undefined;
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  assert.is(code({ maxShards: 3 }), 'ERR_INVALID_ARGUMENT');
  assert.is(code({ minShards: 0 }), 'ERR_INVALID_ARGUMENT');
  assert.is(code({ minShards: 2, maxShards: 1 }), 'ERR_INVALID_ARGUMENT');
  assert.is(code({ lowMark: 0.8, highMark: 0.7 }), 'ERR_INVALID_ARGUMENT');
  assert.is(code({ highMark: 1.5 }), 'ERR_INVALID_ARGUMENT');
  assert.is(code({ growAfter: 0 }), 'ERR_INVALID_ARGUMENT');
  assert.is(code({ shrinkAfter: 1.5 }), 'ERR_INVALID_ARGUMENT');
  assert.is(code({ coolDownMs: -1 }), 'ERR_INVALID_ARGUMENT');
  assert.is(code({ minShards: 2, maxShards: 2 }), undefined);
});

// ----- the scaler, over a stand-in node

class FakeNode implements ScaledNode {
  target = 1;
  loads: ShardLoad[] = [];
  unsettledWhy: string | undefined;
  failResize: Error | undefined;
  readonly resizes: number[] = [];
  shardTarget(): number {
    return this.target;
  }
  async shardLoads(): Promise<readonly ShardLoad[]> {
    return this.loads.map((l) => ({ ...l }));
  }
  unsettled(): string | undefined {
    return this.unsettledWhy;
  }
  async resizeShards(count: number): Promise<unknown> {
    this.resizes.push(count);
    if (this.failResize !== undefined) throw this.failResize;
    this.target = count;
    return { to: count };
  }
  /** Advances every shard's clock by `ms`, busy for `busy` of it. */
  advance(ms: number, busy: number[]): void {
    this.loads = this.loads.map((l, i) => ({ ...l, elapsedMs: l.elapsedMs + ms, busyMs: l.busyMs + ms * busy[i]! }));
  }
}

const load = (id: string, restarts = 0): ShardLoad => ({ id, up: true, restarts, busyMs: 0, elapsedMs: 0 });

function scaler(node: FakeNode, lines: string[], o: Partial<ShardPolicyOptions> = {}): ShardScaler {
  let now = 0;
  const clock = { now: () => (now += SAMPLE_MS) };
  const log = { info: (_f: Record<string, unknown>, m: string) => void lines.push(m), warn: (_f: Record<string, unknown>, m: string) => void lines.push(`WARN ${m}`) };
  return new ShardScaler(node, { ...base, growAfter: 2, coolDownMs: 0, ...o, intervalMs: SAMPLE_MS }, CORES, clock, log);
}

test('scaler: busy fraction from two readings, mean over shards; grows the node', async () => {
  const node = new FakeNode();
  node.target = 2;
  node.loads = [load('s0'), load('s1')];
  const lines: string[] = [];
  const s = scaler(node, lines);
  assert.is((await s.sample())!.reason, 'no-sample', 'one reading is not a measurement');
  node.advance(SAMPLE_MS, [1, 0.7]);
  assert.is((await s.sample())!.reason, 'building');
  assert.ok(Math.abs(s.status().utilisation! - 0.85) < 1e-9, String(s.status().utilisation));
  node.advance(SAMPLE_MS, [0.9, 0.9]);
  const d = await s.sample();
  assert.is(d!.kind, 'grow');
  assert.equal(node.resizes, [3]);
  const st = s.status();
  assert.is(st.target, 3);
  assert.is(st.grown, 1);
  assert.is(st.lastDecision!.reason, 'sustained-high');
  assert.ok(lines.some((l) => l.includes('grow to 3 shards')), lines.join('\n'));
  await s.stop();
});

test('scaler: a restarted or new shard is not measured until read twice; a failed resize is reported', async () => {
  const node = new FakeNode();
  node.loads = [load('s0')];
  const lines: string[] = [];
  const s = scaler(node, lines);
  await s.sample();
  node.loads = [{ ...load('s0', 1), busyMs: 5, elapsedMs: 5 }]; // restarted: counters from zero
  assert.is((await s.sample())!.reason, 'no-sample');
  node.advance(SAMPLE_MS, [0.95]);
  await s.sample();
  node.failResize = Object.assign(new Error('boom'), { code: 'ERR_NOT_READY' });
  node.advance(SAMPLE_MS, [0.95]);
  assert.is((await s.sample())!.kind, 'grow');
  assert.equal(node.resizes, [2]);
  assert.is(s.status().lastError, 'boom');
  assert.is(s.status().grown, 0);
  assert.ok(lines.some((l) => l.startsWith('WARN shard policy: resize failed')), lines.join('\n'));
  await s.stop();
  assert.is(await s.sample(), undefined, 'no sample once stopped');
});

test('scaler: holds are logged when their reason changes, not every sample', async () => {
  const node = new FakeNode();
  node.loads = [load('s0')];
  node.unsettledWhy = '2 transfers to send';
  const lines: string[] = [];
  const s = scaler(node, lines);
  for (let i = 0; i < 5; i++) {
    node.advance(SAMPLE_MS, [0.5]);
    await s.sample();
  }
  assert.is(lines.filter((l) => l.includes('not settled')).length, 1, lines.join('\n'));
  await s.stop();
});

test('unsettledReason: every part of a change in progress holds the policy', () => {
  const ring = Ring.build(['n1/s0', 'n1/s1', 'n2/s0'].map((id) => ({ id, host: id.split('/')[0]!, rack: 'r', dc: 'dc', weight: 1 })), 16);
  const settled: NodeShardState = {
    id: 'n1', status: 'up', ring, running: 2, target: 2, transfersPending: 0, filling: 0,
    cluster: () => ({ notReady: undefined, pendingMoves: 0 }),
  };
  assert.is(unsettledReason(settled), undefined);
  assert.match(unsettledReason({ ...settled, status: 'leaving' })!, /leaving/);
  assert.match(unsettledReason({ ...settled, ring: undefined })!, /no ring/);
  assert.match(unsettledReason({ ...settled, running: 3 })!, /3 shards running, 2 asked for/);
  assert.match(unsettledReason({ ...settled, running: 3, target: 3 })!, /has 2 of this node's 3 shards/);
  assert.match(unsettledReason({ ...settled, transfersPending: 4 })!, /4 transfers/);
  assert.match(unsettledReason({ ...settled, filling: 1 })!, /1 ranges still being received/);
  assert.match(unsettledReason({ ...settled, cluster: () => ({ notReady: 'node n2 is down', pendingMoves: 0 }) })!, /n2 is down/);
  assert.match(unsettledReason({ ...settled, cluster: () => ({ notReady: undefined, pendingMoves: 5 }) })!, /5 partition moves staged/);
});

test.run();
