// Runs on: any thread; pure (no clock, no I/O). The load-based shard-count policy of a
// cluster node (`ringkv start --auto-shards`): given periodic samples of how busy the node's
// shard workers were, it answers with a shard count to move to, or with why it holds.
//
// The signal is each shard worker's busy fraction over the sampling interval: the share of
// wall time it did not spend waiting (spinning or asleep) for requests or for reply room
// (ShardChannel.waitedMs, read through ShardTransport.shardLoads). ELU would not do: a shard
// blocks in Atomics.wait, which the event loop counts as busy. A sample carries the mean over
// the node's shards, since the ring spreads partitions (and so keys) evenly over them.
//
// Rules, in the order they are checked:
//   1. A node that is not settled (a resize or another membership change in progress: the
//      ring in force lacks the count asked for, shards still retiring, transfers or fills
//      pending, moves staged) holds; its streaks restart.
//   2. A count outside [min, max] (a manual `ringkv cluster shards`, a restart with another
//      --shards) is brought to the nearest bound.
//   3. After every change of the count (its own or an operator's), it holds until the node
//      settled and coolDownMs more passed; streaks restart then. So it never flaps, and the
//      load of the transfers themselves never counts.
//   4. A sample without a measurement (a shard restarting) breaks both streaks.
//   5. growAfter consecutive samples above highMark: one shard more (not above max).
//      shrinkAfter consecutive samples below lowMark: one shard fewer (not below min, and
//      not when the same work on one shard fewer, u·k/(k-1), would reach highMark).
//      Shrinking waits longer than growing: a slow start costs latency, a slow shrink only
//      an idle thread.
// max never exceeds the cores (os.availableParallelism()): a shard is a thread that spins,
// and more spinning threads than cores made every request slower here (docs/notes.md).
import { ErrorCode, RingkvError } from '../../errors.js';

export interface ShardPolicyOptions {
  /** Fewest shards (≥ 1). */
  minShards: number;
  /** Most shards (≤ the cores). */
  maxShards: number;
  /** Busy fraction above which a sample counts toward growing. */
  highMark: number;
  /** Busy fraction below which a sample counts toward shrinking. */
  lowMark: number;
  /** Consecutive samples above highMark before growing by one. */
  growAfter: number;
  /** Consecutive samples below lowMark before shrinking by one. */
  shrinkAfter: number;
  /** Pause after the node settled from a change before the next change. */
  coolDownMs: number;
}

/** Three quarters busy: a shard then queues requests often enough that latency suffers. */
export const DEFAULT_HIGH_MARK = 0.75;
/** A fifth busy: two such shards fit in one with room to spare (0.4 < highMark). */
export const DEFAULT_LOW_MARK = 0.2;
/** With 10 s samples, 30 s of sustained load: a burst or a compaction does not add a shard. */
export const DEFAULT_GROW_AFTER = 3;
/** With 10 s samples, 2 min of quiet before a shard goes: shrinking is never urgent. */
export const DEFAULT_SHRINK_AFTER = 12;
/** A minute after the transfers of a change: the node's caches and its load have settled by then. */
export const DEFAULT_COOL_DOWN_MS = 60_000;

export type DecisionKind = 'grow' | 'shrink' | 'hold';

/** Stable reason codes (metrics labels, log fields); `detail` says the same in words. */
export type DecisionReason =
  | 'sustained-high' | 'sustained-low' | 'below-min' | 'above-max'
  | 'unsettled' | 'cooling-down' | 'no-sample' | 'building' | 'within-marks'
  | 'at-max' | 'at-min' | 'shrink-would-overload';

export interface Decision {
  readonly kind: DecisionKind;
  /** The count to move to (the current count when holding). */
  readonly target: number;
  readonly reason: DecisionReason;
  readonly detail: string;
}

export interface LoadSample {
  /** When the sample was taken (ms on a monotonic clock). */
  readonly at: number;
  /** The node's shard count as asked for when sampled. */
  readonly shards: number;
  /** Mean busy fraction of the node's shards over the interval (0..1); undefined when none could be measured. */
  readonly utilisation: number | undefined;
  /** Why the node is not settled (a change in progress), or undefined when it is. */
  readonly unsettled: string | undefined;
}

export function shardPolicyDefaults(cores: number): ShardPolicyOptions {
  return {
    minShards: 1, maxShards: Math.max(1, cores), highMark: DEFAULT_HIGH_MARK, lowMark: DEFAULT_LOW_MARK,
    growAfter: DEFAULT_GROW_AFTER, shrinkAfter: DEFAULT_SHRINK_AFTER, coolDownMs: DEFAULT_COOL_DOWN_MS,
  };
}

/** Fills defaults and checks every option; ERR_INVALID_ARGUMENT names the first bad one. */
export function resolveShardPolicyOptions(given: Partial<ShardPolicyOptions>, cores: number): ShardPolicyOptions {
  const o = { ...shardPolicyDefaults(cores), ...given };
  const bad = (what: string): never => {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `shard policy: ${what}`);
  };
  if (!Number.isInteger(o.minShards) || o.minShards < 1) bad(`minShards must be an integer of at least 1, got ${o.minShards}`);
  if (!Number.isInteger(o.maxShards) || o.maxShards < o.minShards) bad(`maxShards must be an integer of at least minShards (${o.minShards}), got ${o.maxShards}`);
  if (o.maxShards > cores) bad(`maxShards (${o.maxShards}) exceeds the ${cores} cores of this machine: more shard threads than cores slow every request`);
  if (!(o.lowMark >= 0 && o.lowMark < o.highMark && o.highMark <= 1)) bad(`marks must satisfy 0 <= lowMark < highMark <= 1, got ${o.lowMark} and ${o.highMark}`);
  if (!Number.isInteger(o.growAfter) || o.growAfter < 1) bad(`growAfter must be a positive integer, got ${o.growAfter}`);
  if (!Number.isInteger(o.shrinkAfter) || o.shrinkAfter < 1) bad(`shrinkAfter must be a positive integer, got ${o.shrinkAfter}`);
  if (!Number.isFinite(o.coolDownMs) || o.coolDownMs < 0) bad(`coolDownMs must be a number of at least 0, got ${o.coolDownMs}`);
  return o;
}

/**
 * The policy's state between samples. One owner feeds it samples in time order (the
 * ShardScaler on the main thread); it changes nothing itself.
 */
export class ShardPolicy {
  readonly options: ShardPolicyOptions;
  private highStreak = 0;
  private lowStreak = 0;
  /** The count of the previous sample (undefined before the first). */
  private lastShards: number | undefined;
  /** Whether a change is waiting to settle and cool down. */
  private cooling = false;
  /** When the node was first seen settled after the last change. */
  private settledAt: number | undefined;

  constructor(options: Partial<ShardPolicyOptions>, cores: number) {
    this.options = resolveShardPolicyOptions(options, cores);
  }

  /** Consecutive samples above the high mark and below the low mark, so far. */
  get streaks(): { high: number; low: number } {
    return { high: this.highStreak, low: this.lowStreak };
  }

  /** Takes one sample and decides. A grow or shrink counts as made: the next sample is expected to show it. */
  observe(s: LoadSample): Decision {
    const o = this.options;
    const k = s.shards;
    if (this.lastShards !== undefined && k !== this.lastShards) this.changed();
    this.lastShards = k;
    if (s.unsettled !== undefined) {
      this.restartStreaks();
      this.settledAt = undefined;
      return hold(k, 'unsettled', `not settled: ${s.unsettled}`);
    }
    if (k < o.minShards) return this.change(k, o.minShards, 'grow', 'below-min', `${k} shards is below the minimum of ${o.minShards}`);
    if (k > o.maxShards) return this.change(k, o.maxShards, 'shrink', 'above-max', `${k} shards is above the maximum of ${o.maxShards}`);
    if (this.cooling) {
      this.settledAt ??= s.at;
      const left = this.settledAt + o.coolDownMs - s.at;
      if (left > 0) {
        this.restartStreaks();
        return hold(k, 'cooling-down', `cooling down after the last change: ${Math.ceil(left)} ms left`);
      }
      this.cooling = false;
    }
    const u = s.utilisation;
    if (u === undefined || !Number.isFinite(u)) {
      this.restartStreaks();
      return hold(k, 'no-sample', 'no shard could be measured over the interval');
    }
    const pct = (x: number): string => `${Math.round(x * 100)}%`;
    if (u > o.highMark) {
      this.lowStreak = 0;
      this.highStreak++;
      if (this.highStreak < o.growAfter) return hold(k, 'building', `${pct(u)} busy: ${this.highStreak} of ${o.growAfter} samples above ${pct(o.highMark)}`);
      if (k >= o.maxShards) return hold(k, 'at-max', `${pct(u)} busy for ${this.highStreak} samples, but ${k} shards is the maximum`);
      return this.change(k, k + 1, 'grow', 'sustained-high', `${pct(u)} busy, above ${pct(o.highMark)} for ${this.highStreak} samples`);
    }
    if (u < o.lowMark) {
      this.highStreak = 0;
      this.lowStreak++;
      if (this.lowStreak < o.shrinkAfter) return hold(k, 'building', `${pct(u)} busy: ${this.lowStreak} of ${o.shrinkAfter} samples below ${pct(o.lowMark)}`);
      if (k <= o.minShards) return hold(k, 'at-min', `${pct(u)} busy for ${this.lowStreak} samples, but ${k} shards is the minimum`);
      const after = (u * k) / (k - 1);
      if (after >= o.highMark) return hold(k, 'shrink-would-overload', `${pct(u)} busy on ${k} shards would be ${pct(after)} on ${k - 1}`);
      return this.change(k, k - 1, 'shrink', 'sustained-low', `${pct(u)} busy, below ${pct(o.lowMark)} for ${this.lowStreak} samples`);
    }
    this.restartStreaks();
    return hold(k, 'within-marks', `${pct(u)} busy, between ${pct(o.lowMark)} and ${pct(o.highMark)}`);
  }

  private change(from: number, to: number, kind: DecisionKind, reason: DecisionReason, detail: string): Decision {
    this.lastShards = to;
    this.changed();
    return { kind, target: to, reason, detail: `${detail}: ${from} -> ${to} shards` };
  }

  /** A change of the count (ours or an operator's): hold until settled plus the cool-down. */
  private changed(): void {
    this.cooling = true;
    this.settledAt = undefined;
    this.restartStreaks();
  }

  private restartStreaks(): void {
    this.highStreak = 0;
    this.lowStreak = 0;
  }
}

function hold(shards: number, reason: DecisionReason, detail: string): Decision {
  return { kind: 'hold', target: shards, reason, detail };
}
