// Runs on: the main thread. Anti-entropy: the third repair path, after read repair and
// hinted handoff, for what both miss (hints disabled or lost, a replica replaced, a key
// never read). Replicas of a partition compare Merkle trees of its token range and repair
// only the keys of the leaves that differ.
//
// One exchange, for partition p (its primaries that are up, at least two):
//   1. Roots: TREE at depth 0 over each segment of p's range from every replica (one
//      SHA-256 each, 32 bytes back). Equal everywhere: done, nothing else moves.
//   2. A replica refuses a TREE over more than TREE_MAX_ENTRIES objects (complete = 0):
//      the segment is halved and each half compared, and p remembers how finely it was cut
//      so the next exchange starts there. No request hashes more than that many objects.
//   3. Roots differ: TREE again at a depth giving ~LEAF_ENTRIES objects per leaf (at most
//      4096 leaves); leaves that differ between any two replicas, adjacent ones joined,
//      are repaired (range-repair.ts: RANGE pages from every replica, merge per key,
//      REPLICATE the merge where it is missing).
// Trees are rebuilt on demand from the replica's sorted data (as Cassandra's validation
// compaction does) rather than kept up to date on every write: nothing is added to the
// write path, and a restarted or replaced replica needs no tree state.
//
// A round inspects partitions (steps 1-3 up to the reads of the differing ranges) and sends
// the repairs of a whole window of them afterwards: a shard's memtable is sorted for a scan
// and stays sorted only until its next write, so reads and writes alternating per partition
// re-sorted every shard's memtable once per partition (measured: 15 s instead of 7.5 s to
// repair 10k of 110k keys; a window is bounded by WINDOW_BYTES of planned repairs).
//
// Pacing: one partition at a time, a pause between partitions, REPLICATEs and RANGE reads
// limited in flight, and a bytes-per-second budget for objects moved; client requests share
// the shards' rings with at most one TREE (bounded work) or a few small requests at a time.
// A request that fails or times out fails the exchange (counted); the partition is tried
// again in the next round. The schedule runs a round every `intervalMs` after the last.
//
// Tombstone GC (the rule and why it is safe: src/shard/tombstone-gc.ts): after an exchange
// that ended without an error and in which all N primaries took part (`complete`), the
// leader sends each of them a PURGE of the partition's range for tombstones written before
// (exchange start - tombstoneGraceMs), a page at a time. A failed PURGE is counted and
// harms nothing: the tombstones stay until the next exchange. A PURGE reads the whole
// partition on every replica, as its root TREE does, so a partition is purged at most once
// per purgeIntervalMs, and a window's purges are sent after all of its repairs (reads
// after writes: see the memtable note above).
import { ErrorCode, RingkvError } from '../errors.js';
import { MAX_CLOCK_SKEW_MS, MAX_TREE_DEPTH } from '../protocol/index.js';
import type { Ring } from '../ring/index.js';
import type { Transport } from '../coordinator/index.js';
import {
  differingLeaves,
  leafBounds,
  RANGE_MAX_BYTES,
  RANGE_MAX_ENTRIES,
  TREE_MAX_ENTRIES,
  DEFAULT_TOMBSTONE_GRACE_MS,
  PURGE_MAX_ENTRIES,
  purgeBefore,
} from '../shard/index.js';
import { BadReplies, ReplicaCalls, type LeafLevel } from './replica-calls.js';
import { planRepairs, repairError, sendRepairs, type RepairLimits, type RepairTally, type Send } from './range-repair.js';

export interface AntiEntropyOptions {
  /** Replicas per key (the preference list's length). */
  n: number;
  /** Pause between two rounds over every partition, in ms (start() only). 0: no schedule. */
  intervalMs: number;
  /** Per-request timeout, in ms. */
  timeoutMs: number;
  /** Pause between two partitions of a round, in ms. Default 50 (a round of 256 takes >= 13 s). */
  partitionPauseMs?: number;
  /** Bytes of objects fetched and sent per second at most; 0: unlimited. Default 8 MiB/s. */
  bytesPerSecond?: number;
  /** REPLICATE_MANY frames in flight at once (range-repair.ts sends at most 4). Default 16. */
  concurrency?: number;
  /** Most objects one TREE request may hash (capped by the replica's TREE_MAX_ENTRIES too). */
  treeMaxEntries?: number;
  /** Wall clock for the last-exchange times (ms). Default Date.now. */
  now?: () => number;
  /**
   * Whether this store leads the exchanges of partition p (default: every partition). In a
   * cluster each node leads the partitions whose first up primary is its own, so a
   * partition is exchanged once per round, not once per node.
   */
  leads?: (p: number) => boolean;
  /**
   * Tombstone GC: a tombstone-only object written more than this long before a complete
   * exchange of its partition started is purged after it (default DEFAULT_TOMBSTONE_GRACE_MS,
   * a day). Keep it above twice the hint stores' maxAgeMs (see tombstone-gc.ts).
   */
  tombstoneGraceMs?: number;
  /** How far node clocks may disagree (ms): a hand-off's DROP keeps writes that recent. Default MAX_CLOCK_SKEW_MS. */
  clockSkewMs?: number;
  /**
   * Awaited at the start of each round (its failure does not stop the round): the store
   * learns there which of its shards marked themselves for repair while serving (a table
   * quarantined), so the round exchanges their partitions and may clear their marks.
   */
  beforeRound?: () => Promise<void>;
  /** Told each exchange's result once it is settled (repair-marks.ts clears a shard's repair mark from them). */
  onExchange?: (result: ExchangeResult) => void;
  /** Whether exchanges purge tombstones at all. Default true. */
  purgeTombstones?: boolean;
  /**
   * A partition is purged after at most one complete exchange per this many ms (default
   * DEFAULT_PURGE_INTERVAL_MS; 0: after every one). The first purge of each partition comes
   * within one interval of the start, spread over it.
   */
  purgeIntervalMs?: number;
}

/**
 * Ten minutes: a PURGE scans the partition on every replica (a second read beside its root
 * TREE), so with the default one-minute rounds GC adds a tenth to anti-entropy's reads, and a
 * tombstone outlives its grace by at most this (plus a round).
 */
export const DEFAULT_PURGE_INTERVAL_MS = 10 * 60 * 1000;

/** What one exchange of a partition did. */
export interface ExchangeResult {
  partition: number;
  /** The primaries compared (those up when it started). */
  replicas: string[];
  /** equal: nothing differed; repaired: keys moved; skipped: fewer than two primaries up; failed: see error. */
  outcome: 'equal' | 'repaired' | 'skipped' | 'failed';
  /** True when every one of the N primaries took part. */
  complete: boolean;
  /** Token ranges compared (the partition, or the pieces it was cut into). */
  segments: number;
  leavesDiffering: number;
  keysRepaired: number;
  objectsSent: number;
  /** Hashes, fetched objects and sent objects. */
  bytes: number;
  /** Tombstone-only objects the replicas purged after it (summed over replicas). */
  tombstonesPurged: number;
  error?: string;
  /**
   * performance.now() when it began (before any replica was read): repair-marks.ts counts
   * it for a mark only if it began after the mark was learnt, so replies read before a
   * shard quarantined a table never vouch for its repair.
   */
  started: number;
}

export interface AntiEntropyStats {
  rounds: number;
  /** Exchanges that ended without an error (equal or repaired). */
  exchanges: number;
  exchangesFailed: number;
  /** Partitions passed over because fewer than two of their primaries were up. */
  exchangesSkipped: number;
  keysRepaired: number;
  objectsSent: number;
  bytesMoved: number;
  /** Replies that made no sense (wrong type or size, out of range, undecodable objects). */
  badReplies: number;
  /** Objects removed by tombstone GC (summed over replicas). */
  tombstonesPurged: number;
  /** PURGE requests that failed (the tombstones stay until a later exchange). */
  purgeFailures: number;
  /** Per partition: end of its last successful exchange among all N primaries (ms; 0 = never). */
  lastExchangeAt: number[];
}

/** Partitions exchangeAges() lists by name: the stalest few, enough to see a pattern. */
export const EXCHANGE_AGES_LISTED = 8;

/** exchangeAges(): this node's led partitions and how long ago each last exchanged with all N replicas. */
export interface ExchangeAges {
  /** Partitions this node leads (exchanges). */
  partitions: number;
  /** Of those, partitions exchanged at least once since start. */
  exchanged: number;
  /** Age of the oldest exchange among those exchanged, ms (null: none yet). */
  oldestAgeMs: number | null;
  medianAgeMs: number | null;
  /** The stalest partitions, oldest first; ageMs null: never exchanged since start. */
  stalest: { partition: number; ageMs: number | null }[];
}

/** Aim for this many objects per Merkle leaf when roots differ: a differing leaf costs a RANGE of about this many objects per replica. */
const LEAF_ENTRIES = 4;
/** A partition is cut into at most 2^this segments (then a TREE refusal fails the exchange). */
const MAX_SPLIT = 16;
/** RANGE reads in flight at once within a segment. */
const FETCH_CONCURRENCY = 8;
/** Objects per RANGE page asked for (the replica caps it at RANGE_MAX_ENTRIES too). */
const PAGE_ENTRIES = 512;

/** Ends an exchange that is not a failure: the owner stops, or too few replicas are up. */
class Stopped extends Error {}

/** A partition inspected: what it found and the repairs to send. */
interface Plan {
  result: ExchangeResult;
  tally: RepairTally;
  sends: Send[];
  /** Why the exchange ends without its repairs (Stopped: skipped, else failed). */
  error: Error | undefined;
  /** When the inspection started (wall clock, ms): tombstones older than this minus the grace may go. */
  startedAt: number;
}

/** Partitions inspected before their repairs are sent (see the header): a whole default ring. */
const WINDOW_PARTITIONS = 256;
/** ... or until this many bytes of repairs are planned (bounds what a window holds). */
const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Anti-entropy over a ring of replicas reached through a Transport. Main thread only. One
 * exchange runs at a time (runPartition, runOnce and the schedule queue behind each other).
 */
export class AntiEntropy {
  private readonly calls: ReplicaCalls;
  private readonly bad = new BadReplies();
  private readonly now: () => number;
  private readonly pauseMs: number;
  private readonly bytesPerSecond: number;
  private readonly concurrency: number;
  private readonly treeMaxEntries: number;
  private readonly graceMs: number;
  private readonly purgeIntervalMs: number;
  /** Per partition: when its replicas were last told to purge (AE clock, ms), or its first due time minus the interval. */
  private lastPurge: number[] = [];
  private readonly createdAt: number;
  private readonly counters = {
    rounds: 0, exchanges: 0, exchangesFailed: 0, exchangesSkipped: 0, keysRepaired: 0, objectsSent: 0, bytesMoved: 0,
    tombstonesPurged: 0, purgeFailures: 0,
  };
  /** Per partition: ms of its last successful full exchange (0 = never). */
  private lastAt: number[] = [];
  /** Per partition: log2 of the segments it was last cut into. */
  private split: number[] = [];
  /** The exchange in progress (or done): the next one starts after it. */
  private chain: Promise<unknown> = Promise.resolve();
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** Pauses in progress: stop() ends them at once. */
  private readonly sleepers = new Set<() => void>();
  /** When the bytes throttle next allows work (performance.now() ms). */
  private budgetAt = 0;

  constructor(
    private readonly ring: () => Ring,
    private readonly transport: Transport,
    private readonly o: AntiEntropyOptions,
  ) {
    for (const [name, v] of [['n', o.n], ['timeoutMs', o.timeoutMs]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `anti-entropy ${name} must be a positive integer, got ${v}`);
    }
    if (!(o.intervalMs >= 0)) throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `anti-entropy intervalMs must be >= 0, got ${o.intervalMs}`);
    this.graceMs = o.tombstoneGraceMs ?? DEFAULT_TOMBSTONE_GRACE_MS;
    this.purgeIntervalMs = o.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
    if (!(Number.isSafeInteger(this.purgeIntervalMs) && this.purgeIntervalMs >= 0)) {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `purgeIntervalMs must be an integer number of ms >= 0, got ${String(o.purgeIntervalMs)}`);
    }
    if (!(Number.isSafeInteger(this.graceMs) && this.graceMs >= 0)) {
      throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `tombstoneGraceMs must be an integer number of ms >= 0, got ${String(o.tombstoneGraceMs)}`);
    }
    this.calls = new ReplicaCalls(transport, o.timeoutMs, this.bad);
    this.now = o.now ?? Date.now;
    this.createdAt = this.now();
    this.pauseMs = o.partitionPauseMs ?? 50;
    this.bytesPerSecond = o.bytesPerSecond ?? 8 * 1024 * 1024;
    this.concurrency = Math.max(1, o.concurrency ?? 16);
    this.treeMaxEntries = Math.max(1, Math.min(o.treeMaxEntries ?? TREE_MAX_ENTRIES, TREE_MAX_ENTRIES));
  }

  stats(): AntiEntropyStats {
    const q = this.ring().q;
    const last = Array.from({ length: q }, (_, p) => this.lastAt[p] ?? 0);
    return { ...this.counters, badReplies: this.bad.count, lastExchangeAt: last };
  }

  /**
   * Age in ms of the stalest partition's last successful exchange (the metric to alert on);
   * null while some partition has never had one.
   */
  oldestExchangeAgeMs(now = this.now()): number | null {
    let oldest = Infinity;
    for (let p = 0; p < this.ring().q; p++) if (this.o.leads?.(p) !== false) oldest = Math.min(oldest, this.lastAt[p] ?? 0);
    return oldest === 0 ? null : oldest === Infinity ? 0 : Math.max(0, now - oldest);
  }

  /**
   * The ages of the last successful exchange of the partitions this node leads, compact
   * (the dashboard's backlog view): oldest and median age, and the `stalest` partitions,
   * never-exchanged ones first (age null).
   */
  exchangeAges(stalest = EXCHANGE_AGES_LISTED, now = this.now()): ExchangeAges {
    const q = this.ring().q;
    const at: { partition: number; at: number }[] = [];
    for (let p = 0; p < q; p++) if (this.o.leads?.(p) !== false) at.push({ partition: p, at: this.lastAt[p] ?? 0 });
    at.sort((a, b) => a.at - b.at || a.partition - b.partition);
    const ages = at.filter((x) => x.at > 0).map((x) => Math.max(0, now - x.at));
    const age = (x: { at: number }): number | null => (x.at === 0 ? null : Math.max(0, now - x.at));
    return {
      partitions: at.length,
      exchanged: ages.length,
      oldestAgeMs: ages.length === 0 ? null : ages[0]!,
      medianAgeMs: ages.length === 0 ? null : ages[Math.floor((ages.length - 1) / 2)]!,
      stalest: at.slice(0, stalest).map((x) => ({ partition: x.partition, ageMs: age(x) })),
    };
  }

  /** Exchanges partition p now (after any exchange in progress). Never rejects: a failure is in the result. */
  async runPartition(p: number): Promise<ExchangeResult> {
    const [result] = await this.exclusive(async () => {
      const plan = await this.inspect(p);
      await this.apply([plan]);
      return [plan.result];
    });
    return result!;
  }

  /**
   * One round over every partition, paced as the schedule is; resolves with each exchange's
   * result. Partitions are inspected (reads) a window at a time, then the window's repairs
   * are sent (writes): a shard re-sorts its memtable for the first scan after a write, so
   * alternating per partition would cost a sort per partition and replica.
   */
  async runOnce(): Promise<ExchangeResult[]> {
    const results: ExchangeResult[] = [];
    await this.o.beforeRound?.().catch(() => {});
    const q = this.ring().q;
    for (let p = 0; p < q && !this.stopping; ) {
      results.push(...await this.exclusive(async () => {
        const plans: Plan[] = [];
        let planned = 0;
        while (p < q && !this.stopping && plans.length < WINDOW_PARTITIONS && planned < WINDOW_BYTES) {
          if (this.o.leads?.(p) === false) {
            p++;
            continue;
          }
          const plan = await this.inspect(p++);
          plans.push(plan);
          for (const s of plan.sends) planned += s.object.length + s.kv.key.length;
          if (p < q && this.pauseMs > 0) await this.sleep(this.pauseMs);
        }
        await this.apply(plans);
        return plans.map((x) => x.result);
      }));
    }
    this.counters.rounds++;
    return results;
  }

  /** Runs `f` after whatever runs now; the next waits for it. */
  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f);
    this.chain = run.catch(() => {});
    return run;
  }

  /** Starts the schedule: a round every intervalMs after the previous one ends. No-op when intervalMs is 0. */
  start(): void {
    if (this.loop !== undefined || this.o.intervalMs <= 0) return;
    this.stopping = false;
    this.loop = (async () => {
      while (!this.stopping) {
        await this.sleep(this.o.intervalMs, false); // waiting for the next round keeps no process alive
        // A round that cannot run (no ring yet on a joining node) waits for the next.
        if (!this.stopping) await this.runOnce().catch(() => {});
      }
    })();
  }

  /** Stops the schedule and any exchange (at its next step); resolves once nothing runs. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.sleepers]) wake();
    await this.loop;
    await this.chain;
    this.loop = undefined;
  }

  /**
   * Range cleanup (range-cleanup.ts): exchanges partition p between `former`, a replica that
   * held it under an earlier ring, and ALL of p's current primaries, so that each primary
   * holds the merge of what `former` held; then deletes p's range from `former` (DROP, a page
   * at a time). Resolves with the objects deleted. Rejects, having deleted nothing, when a
   * primary is down or `former` is one, or when any read or repair failed.
   */
  async handOff(p: number, former: string): Promise<{ result: ExchangeResult; dropped: number }> {
    return this.exclusive(async () => {
      const ring = this.ring();
      if (ring.listOf(p, ring.listLength(this.o.n)).includes(former)) {
        throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `${former} is a replica of partition ${p}: its range is not handed away`);
      }
      const plan = await this.inspect(p, former);
      if (plan.error === undefined && !plan.result.complete) plan.error = new Stopped('a primary is down');
      if (plan.error === undefined && !plan.result.replicas.includes(former)) plan.error = new Stopped(`${former} is down`);
      plan.sends = plan.sends.filter((s) => s.replica !== former); // it is about to delete the range
      await this.apply([plan]);
      const { result } = plan;
      if (result.outcome !== 'equal' && result.outcome !== 'repaired') {
        throw new RingkvError(ErrorCode.UNAVAILABLE, `partition ${p} not handed off from ${former}: ${result.error ?? plan.error?.message ?? result.outcome}`);
      }
      const { from, to } = ring.partitionRange(p);
      // What `former` held when the exchange read it is now held by the primaries; a write
      // that reached it since (a stand-in's, for primaries a coordinator could not reach)
      // stays for the next hand-off. A PUT arrives within its timeout of its writtenAt.
      const before = plan.startedAt - this.o.timeoutMs - (this.o.clockSkewMs ?? MAX_CLOCK_SKEW_MS);
      let dropped = 0;
      for (let at = from; at < to; ) {
        if (this.stopping) throw new RingkvError(ErrorCode.UNAVAILABLE, 'stopping');
        const page = await this.calls.drop(former, at, to, before, PURGE_MAX_ENTRIES);
        dropped += page.dropped;
        at = page.next;
      }
      return { result, dropped };
    });
  }

  /** Compares partition p's replicas (and `extra`, a former one) and plans their repairs (reads only). */
  private async inspect(p: number, extra?: string): Promise<Plan> {
    const ring = this.ring();
    const list = ring.listOf(p, ring.listLength(this.o.n));
    const replicas = list.filter((id) => !this.transport.isDown(id));
    if (extra !== undefined && !this.transport.isDown(extra)) replicas.push(extra);
    const result: ExchangeResult = {
      partition: p, replicas, outcome: 'equal', complete: list.every((id) => replicas.includes(id)),
      segments: 0, leavesDiffering: 0, keysRepaired: 0, objectsSent: 0, bytes: 0, tombstonesPurged: 0, started: performance.now(),
    };
    const plan: Plan = { result, tally: { keysRepaired: 0, objectsSent: 0, bytes: 0, failures: 0 }, sends: [], error: undefined, startedAt: this.now() };
    if (replicas.length < 2 || this.stopping) {
      plan.error = new Stopped(replicas.length < 2 ? 'fewer than two replicas up' : 'stopping');
      if (!this.stopping) this.counters.exchangesSkipped++;
      return plan;
    }
    const { from, to } = ring.partitionRange(p);
    const level = this.split[p] ?? 0;
    const deepest = { level, entries: 0 };
    try {
      const parts = 1n << BigInt(level);
      const width = (to - from) / parts;
      for (let s = 0n; s < parts; s++) {
        const segTo = s === parts - 1n ? to : from + (s + 1n) * width;
        await this.compareRange(replicas, from + s * width, segTo, level, plan, deepest);
      }
      // Cut less next time when the pieces came out small (keys were deleted and purged).
      this.split[p] = deepest.level > level ? deepest.level : deepest.entries * 4 < this.treeMaxEntries && level > 0 ? level - 1 : level;
    } catch (err) {
      plan.error = err as Error;
      plan.sends = []; // a partial picture: repair nothing of it, try the partition again next round
    }
    return plan;
  }

  /** Sends the plans' repairs and settles their results and the counters, then the purges due. */
  private async apply(plans: readonly Plan[]): Promise<void> {
    const limits = this.limits();
    const purges: Plan[] = [];
    for (const plan of plans) {
      const { result, tally } = plan;
      if (plan.error === undefined) {
        await sendRepairs(this.calls, plan.sends, limits, tally);
        if (this.stopping && tally.objectsSent < plan.sends.length) plan.error = new Stopped('stopping');
        else if (tally.failures > 0) plan.error = repairError(tally);
      }
      if (plan.error === undefined) {
        result.outcome = result.leavesDiffering > 0 ? 'repaired' : 'equal';
        this.counters.exchanges++;
        if (result.complete) {
          this.lastAt[result.partition] = this.now();
          if (this.purgeDue(result.partition)) purges.push(plan);
        }
      } else if (plan.error instanceof Stopped) {
        result.outcome = 'skipped';
      } else {
        result.outcome = 'failed';
        result.error = plan.error.message;
        this.counters.exchangesFailed++;
      }
      plan.sends = [];
      result.keysRepaired = tally.keysRepaired;
      result.objectsSent = tally.objectsSent;
      result.bytes += tally.bytes;
      this.counters.keysRepaired += tally.keysRepaired;
      this.counters.objectsSent += tally.objectsSent;
      this.counters.bytesMoved += result.bytes;
      this.o.onExchange?.(result);
    }
    for (let i = 0; i < purges.length && !this.stopping; i++) {
      if (i > 0 && this.pauseMs > 0) await this.sleep(this.pauseMs); // paced as the inspections are
      await this.purge(purges[i]!.result, purges[i]!.startedAt);
    }
  }

  /** Whether partition p's purge is due (purgeIntervalMs since its last; the first ones spread over one interval from the start). */
  private purgeDue(p: number): boolean {
    if (this.o.purgeTombstones === false) return false;
    if (this.purgeIntervalMs === 0) return true;
    // Partitions' first purges are spread over the first interval (golden-ratio steps), not all in one round.
    const last = this.lastPurge[p] ?? this.createdAt - this.purgeIntervalMs * ((p * 0.6180339887) % 1);
    return this.now() - last >= this.purgeIntervalMs;
  }

  /**
   * Tombstone GC after a complete exchange without error (tombstone-gc.ts): every primary
   * purges the partition's tombstone-only objects written before startedAt - grace.
   */
  private async purge(result: ExchangeResult, startedAt: number): Promise<void> {
    const ring = this.ring();
    const owners = ring.listOf(result.partition, ring.listLength(this.o.n));
    // The owners changed since the exchange (a ring change): it says nothing about the new ones.
    if (owners.length !== result.replicas.length || owners.some((id) => !result.replicas.includes(id))) return;
    this.lastPurge[result.partition] = this.now();
    const { from, to } = ring.partitionRange(result.partition);
    const before = purgeBefore(startedAt, this.graceMs);
    await Promise.all(result.replicas.map(async (replica) => {
      try {
        for (let at = from; at < to && !this.stopping; ) {
          const page = await this.calls.purge(replica, at, to, before, PURGE_MAX_ENTRIES);
          result.tombstonesPurged += page.purged;
          this.counters.tombstonesPurged += page.purged;
          at = page.next;
        }
      } catch {
        this.counters.purgeFailures++;
      }
    }));
  }

  private limits(): RepairLimits {
    return {
      pageEntries: Math.min(PAGE_ENTRIES, RANGE_MAX_ENTRIES),
      pageBytes: RANGE_MAX_BYTES,
      concurrency: this.concurrency,
      pace: (bytes) => this.pace(bytes),
      stopping: () => this.stopping,
    };
  }

  /** Compares (and repairs) [from, to) between `replicas`; halves it when a replica refuses its size. */
  private async compareRange(
    replicas: readonly string[], from: bigint, to: bigint, level: number,
    plan: Plan, deepest: { level: number; entries: number },
  ): Promise<void> {
    if (this.stopping) throw new Stopped('stopping');
    const result = plan.result;
    const roots = await this.trees(replicas, from, to, 0, result);
    if (roots.some((r) => !r.complete)) return this.halve(replicas, from, to, level, plan, deepest);
    result.segments++;
    let most = 0;
    for (const r of roots) most = Math.max(most, r.entries);
    deepest.entries = Math.max(deepest.entries, most);
    if (differingLeaves(roots.map((r) => r.leaves)).length === 0) return;

    const depth = Math.min(MAX_TREE_DEPTH, Math.max(1, Math.ceil(Math.log2(Math.max(1, most / LEAF_ENTRIES)))));
    const levels = await this.trees(replicas, from, to, depth, result);
    if (levels.some((r) => !r.complete)) return this.halve(replicas, from, to, level, plan, deepest); // grew meanwhile
    const dirty = differingLeaves(levels.map((r) => r.leaves));
    result.leavesDiffering += dirty.length;
    const limits = this.limits();
    const runs: { from: bigint; to: bigint }[] = [];
    for (let k = 0; k < dirty.length; ) {
      let end = k + 1;
      while (end < dirty.length && dirty[end] === dirty[end - 1]! + 1) end++; // adjacent leaves: one range
      const a = leafBounds(from, to, depth, dirty[k]!).from;
      const b = leafBounds(from, to, depth, dirty[end - 1]!).to;
      if (b > a) runs.push({ from: a, to: b });
      k = end;
    }
    // Ranges are read FETCH_CONCURRENCY at a time (reads of the same replicas: latency, not work, bounds them).
    let next = 0;
    let failure: unknown;
    const reader = async (): Promise<void> => {
      while (next < runs.length && !this.stopping && failure === undefined) {
        const run = runs[next++]!;
        try {
          await planRepairs(this.calls, this.bad, replicas, run.from, run.to, limits, plan.tally, plan.sends);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FETCH_CONCURRENCY, runs.length) }, reader));
    if (failure !== undefined) throw failure;
    if (this.stopping) throw new Stopped('stopping');
  }

  private async halve(
    replicas: readonly string[], from: bigint, to: bigint, level: number,
    plan: Plan, deepest: { level: number; entries: number },
  ): Promise<void> {
    if (level >= MAX_SPLIT || to - from < 2n) {
      throw new RingkvError(ErrorCode.TOO_LARGE, `token range [${from}, ${to}) holds more than ${this.treeMaxEntries} objects even cut ${MAX_SPLIT} times`);
    }
    deepest.level = Math.max(deepest.level, level + 1);
    const mid = from + (to - from) / 2n;
    await this.compareRange(replicas, from, mid, level + 1, plan, deepest);
    await this.compareRange(replicas, mid, to, level + 1, plan, deepest);
  }

  /** The leaf level at `depth` of [from, to) from every replica, at once. */
  private async trees(replicas: readonly string[], from: bigint, to: bigint, depth: number, result: ExchangeResult): Promise<LeafLevel[]> {
    const levels = await Promise.all(replicas.map((r) => this.calls.tree(r, from, to, depth, this.treeMaxEntries)));
    for (const l of levels) result.bytes += l.leaves.length + 8;
    return levels;
  }

  /** Waits as long as the bytes budget requires for `bytes` more. */
  private async pace(bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0 || bytes <= 0) return;
    const now = performance.now();
    this.budgetAt = Math.max(this.budgetAt, now) + (bytes * 1000) / this.bytesPerSecond;
    const wait = this.budgetAt - now;
    if (wait >= 1) await this.sleep(wait);
  }

  /** A pause that stop() cuts short. `ref`: whether it keeps the process alive (pacing inside a run does). */
  private sleep(ms: number, ref = true): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      if (!ref) timer.unref();
      this.sleepers.add(wake);
    });
  }
}
