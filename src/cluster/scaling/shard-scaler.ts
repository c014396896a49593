// Runs on: the main thread. Applies the load-based shard-count policy (shard-policy.ts) to a
// running cluster node: every intervalMs it reads each shard worker's busy time (a small
// control call per shard), turns two readings into busy fractions, asks the policy, and calls
// ClusterNode.resizeShards(target) when it answers grow or shrink. Off unless a node is
// started with it (`ringkv start --auto-shards`).
//
// Each change and each change of the reason it holds is logged (info for changes, else
// only when the reason changes, so an idle node does not log every 10 s); status() feeds
// /metrics and /cluster.
import type { ShardLoad } from '../../coordinator/index.js';
import { ErrorCode, RingkvError } from '../../errors.js';
import type { Ring } from '../../ring/index.js';
import type { TimeSource, NodeStatus } from '../membership/index.js';
import type { PeerLogger } from '../peer/index.js';
import { ShardPolicy, resolveShardPolicyOptions, type Decision, type DecisionReason, type ShardPolicyOptions } from './shard-policy.js';

/** Ten seconds between samples: long enough to average out batches and flushes, short enough to react within a minute. */
export const DEFAULT_SAMPLE_INTERVAL_MS = 10_000;

export interface ShardScalerOptions extends ShardPolicyOptions {
  /** Time between samples. */
  intervalMs: number;
}

/** Fills defaults and checks every option (ERR_INVALID_ARGUMENT), before anything starts. */
export function resolveShardScalerOptions(given: Partial<ShardScalerOptions>, cores: number): ShardScalerOptions {
  const { intervalMs = DEFAULT_SAMPLE_INTERVAL_MS, ...policy } = given;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `shard policy: intervalMs must be a positive number, got ${intervalMs}`);
  return { ...resolveShardPolicyOptions(policy, cores), intervalMs };
}

/** What decides whether a node's shards are settled (ClusterNode's parts, read at each sample). */
export interface NodeShardState {
  readonly id: string;
  readonly status: NodeStatus | undefined;
  readonly ring: Ring | undefined;
  /** Shards running now. */
  readonly running: number;
  /** Shards asked for. */
  readonly target: number;
  /** Ranges this node still has to send. */
  readonly transfersPending: number;
  /** Ranges this node's new replicas still wait for. */
  readonly filling: number;
  /** The cluster's view (read last, as it costs a claim): why the ring cannot change now, and the partitions a commit would move (-1: the staged membership cannot form a ring). */
  readonly cluster: () => { readonly notReady: string | undefined; readonly pendingMoves: number };
}

/** Why a node is in the middle of a change (its shards, ring or transfers), or undefined when settled. */
export function unsettledReason(s: NodeShardState): string | undefined {
  if (s.status !== 'up') return `the node is ${s.status ?? 'unknown'}, not up`;
  if (s.ring === undefined) return 'no ring yet';
  if (s.running !== s.target) return `${s.running} shards running, ${s.target} asked for`;
  const prefix = `${s.id}/`;
  const members = s.ring.members.filter((m) => m.id.startsWith(prefix)).length;
  if (members !== s.target) return `the ring in force has ${members} of this node's ${s.target} shards`;
  if (s.transfersPending > 0) return `${s.transfersPending} transfers to send`;
  if (s.filling > 0) return `${s.filling} ranges still being received`;
  const c = s.cluster();
  if (c.notReady !== undefined) return `the ring cannot change now: ${c.notReady}`;
  if (c.pendingMoves !== 0) return c.pendingMoves < 0 ? 'the staged membership cannot form a ring' : `${c.pendingMoves} partition moves staged`;
  return undefined;
}

/** What the scaler needs of a node (ClusterNode in production, a stand-in in tests). */
export interface ScaledNode {
  /** The shard count asked for. */
  shardTarget(): number;
  /** Busy time of each running shard. */
  shardLoads(): Promise<readonly ShardLoad[]>;
  /** Why the node's shards are not settled (see LoadSample.unsettled), or undefined. */
  unsettled(): string | undefined;
  resizeShards(count: number): Promise<unknown>;
}

/** The scaler as /cluster and /metrics show it. */
export interface ShardScalerStatus {
  readonly minShards: number;
  readonly maxShards: number;
  /** The count asked for now. */
  readonly target: number;
  /** Mean busy fraction of the last sample (null: none measured yet). */
  readonly utilisation: number | null;
  readonly streaks: { readonly high: number; readonly low: number };
  /** The last sample's decision and how long ago it was taken. */
  readonly lastDecision: (Decision & { readonly ageMs: number }) | null;
  readonly grown: number;
  readonly shrunk: number;
  /** The last resize that failed, if any. */
  readonly lastError: string | null;
}

/** A shard's last reading, to difference against the next. */
interface Reading {
  restarts: number;
  busyMs: number;
  elapsedMs: number;
}

export class ShardScaler {
  readonly policy: ShardPolicy;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly previous = new Map<string, Reading>();
  private utilisation: number | undefined;
  private last: Decision | undefined;
  /** When `last` was decided (clock ms). */
  private lastAt = 0;
  private grown = 0;
  private shrunk = 0;
  private lastError: string | undefined;

  constructor(
    private readonly node: ScaledNode,
    options: Partial<ShardScalerOptions>,
    cores: number,
    private readonly clock: TimeSource,
    private readonly log: PeerLogger,
  ) {
    const { intervalMs, ...policy } = resolveShardScalerOptions(options, cores);
    this.intervalMs = intervalMs;
    this.policy = new ShardPolicy(policy, cores);
  }

  /** Takes a first reading now and samples every intervalMs (the timer does not keep the process up). */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    const o = this.policy.options;
    this.log.info({ minShards: o.minShards, maxShards: o.maxShards, intervalMs: this.intervalMs, highMark: o.highMark, lowMark: o.lowMark }, 'shard policy on');
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; resolves once a sample (and a resize it started) in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One sample and its decision (undefined while the previous sample still runs or once stopped). */
  sample(): Promise<Decision | undefined> {
    if (this.running !== undefined || this.stopped) return Promise.resolve(undefined);
    const done = this.sampleOnce();
    this.running = done.then(() => {}, () => {}).finally(() => {
      this.running = undefined;
    });
    return done.catch((err: Error) => {
      this.lastError = err.message;
      this.log.warn({ err: err.message }, 'shard policy: sampling failed');
      return undefined;
    });
  }

  status(): ShardScalerStatus {
    const o = this.policy.options;
    return {
      minShards: o.minShards, maxShards: o.maxShards, target: this.node.shardTarget(),
      utilisation: this.utilisation ?? null, streaks: this.policy.streaks,
      lastDecision: this.last === undefined ? null : { ...this.last, ageMs: Math.max(0, Math.round(this.clock.now() - this.lastAt)) },
      grown: this.grown, shrunk: this.shrunk, lastError: this.lastError ?? null,
    };
  }

  private async sampleOnce(): Promise<Decision | undefined> {
    const loads = await this.node.shardLoads();
    if (this.stopped) return undefined;
    const utilisation = this.measure(loads);
    const at = this.clock.now();
    const decision = this.policy.observe({ at, shards: this.node.shardTarget(), utilisation, unsettled: this.node.unsettled() });
    this.utilisation = utilisation;
    const previous = this.last?.reason;
    this.last = decision;
    this.lastAt = at;
    if (decision.kind === 'hold') {
      if (decision.reason !== previous && !QUIET.has(decision.reason)) this.log.info(fields(decision, utilisation), `shard policy holds: ${decision.detail}`);
      return decision;
    }
    this.log.info(fields(decision, utilisation), `shard policy: ${decision.kind} to ${decision.target} shards (${decision.detail})`);
    try {
      await this.node.resizeShards(decision.target);
      if (decision.kind === 'grow') this.grown++;
      else this.shrunk++;
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.log.warn({ ...fields(decision, utilisation), err: this.lastError }, 'shard policy: resize failed');
    }
    return decision;
  }

  /** Mean busy fraction over the shards read twice in a row by the same worker; undefined if none was. */
  private measure(loads: readonly ShardLoad[]): number | undefined {
    let sum = 0;
    let shards = 0;
    const seen = new Set<string>();
    for (const l of loads) {
      seen.add(l.id);
      if (!l.up) {
        this.previous.delete(l.id);
        continue;
      }
      const before = this.previous.get(l.id);
      this.previous.set(l.id, { restarts: l.restarts, busyMs: l.busyMs, elapsedMs: l.elapsedMs });
      if (before === undefined || before.restarts !== l.restarts) continue;
      const elapsed = l.elapsedMs - before.elapsedMs;
      if (elapsed <= 0) continue;
      sum += Math.min(1, Math.max(0, (l.busyMs - before.busyMs) / elapsed));
      shards++;
    }
    for (const id of this.previous.keys()) if (!seen.has(id)) this.previous.delete(id);
    return shards === 0 ? undefined : sum / shards;
  }
}

/** Holds worth no log line of their own (the streak is visible in status()). */
const QUIET: ReadonlySet<DecisionReason> = new Set(['building', 'within-marks']);

function fields(d: Decision, utilisation: number | undefined): Record<string, unknown> {
  return { decision: d.kind, reason: d.reason, target: d.target, utilisation: utilisation === undefined ? null : Math.round(utilisation * 1000) / 1000 };
}
