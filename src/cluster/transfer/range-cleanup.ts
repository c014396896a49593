// Runs on: the main thread. Range cleanup: space back from the ranges this node handed away.
//
// When the ring changes, each range moves to its new replicas (transfer.ts), and the shards
// that held it before keep their copy. Riak deletes a vnode's data once its handoff is done;
// Cassandra leaves it to `nodetool cleanup`. Here a node cleans up by itself, once the
// cluster is quiet, and it deletes nothing that is not shown to be held elsewhere:
//
//   1. Quiet: every node of the ring that is not down is alive (not suspected), reports
//      the ring in force (its epoch) and has no transfer left to send (the gossiped
//      `transfers` count); this node too. Quiet has lasted `delayMs`: by then no request
//      routed by an older ring is in flight, and the new replicas have been filled. A down
//      node does not hold the cleanup up (a node dead for days would keep stand-ins' copies
//      away from their primaries past the tombstone grace); a range whose primaries include
//      it is not handed off (step 2 needs them all).
//   2. For each partition p that a shard m of this node holds objects of (a TREE probe of one
//      object) but does not replicate in the ring in force: an anti-entropy exchange of p
//      between m and ALL of p's primaries (AntiEntropy.handOff) repairs the primaries until
//      each holds the merge of what m held (a write acknowledged by m that the transfer's
//      sender missed is carried over, not lost); only then is p's range deleted from m (DROP).
//      Any primary down, or any read or repair failed: nothing is deleted; tried again later.
//   3. One pass per quiet spell (and again every RECHECK_MS of it): a pass that left no such
//      range marks the spell clean; a range left over is tried at the next interval.
//
// A write can still reach m's range after the exchange read it: a stand-in's (PutOp: every
// primary of its key was out of a coordinator's reach, a cut this node may not see). DROP
// deletes only objects last written before the exchange started (less a request timeout and
// the clock skew), so such a write stays, and the next pass hands it off. Requests routed by
// an older ring are refused (request-guard.ts).
import type { Transport } from '../../coordinator/index.js';
import type { Ring } from '../../ring/index.js';
import { type AntiEntropy, BadReplies, ReplicaCalls } from '../../repair/index.js';
import type { TransferMembership } from './transfer.js';
import { nodesOfRing } from '../membership/index.js';

/** Quiet lasts this long before a node cleans up: a minute is far above a request timeout
 *  and a gossip round, and leaves a just-finished join's ranges in place for a while. */
export const DEFAULT_CLEANUP_DELAY_MS = 60_000;
/** How often the cleanup looks whether it has work. */
const DEFAULT_INTERVAL_MS = 5000;
/** A clean quiet spell is looked at again this often: stand-ins' writes (taken while some
 *  coordinator could not reach a key's primaries) may have landed since. */
const RECHECK_MS = 10 * 60 * 1000;

export interface RangeCleanupOptions {
  /** This node's id. */
  self: string;
  /** Replicas per key (the preference list's length). */
  n: number;
  /** Per-request timeout of the probes, in ms. */
  timeoutMs: number;
  /** This node's shard members now ('<self>/s<k>'). */
  localMembers: () => readonly string[];
  /** Transfers this node still sends. */
  transfersPending: () => number;
  /** Default DEFAULT_CLEANUP_DELAY_MS. */
  delayMs?: number;
  /** Default DEFAULT_INTERVAL_MS. */
  intervalMs?: number;
}

export interface CleanupStatus {
  /** Ranges handed off and deleted since this process started. */
  rangesDropped: number;
  objectsDropped: number;
  /** Hand-offs that failed (tried again later). */
  failures: number;
  /** The ring epoch of the last pass that left no handed-away range (0: none yet). */
  cleanEpoch: number;
  /** Why the cleanup waits, if it does. */
  waiting?: string;
  lastError?: string;
}

export class RangeCleanup {
  private readonly calls: ReplicaCalls;
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private readonly counters = { rangesDropped: 0, objectsDropped: 0, failures: 0 };
  private cleanEpoch = 0;
  /** The quiet spell of the last clean pass (its `since`), and when that pass ended. */
  private clean: { since: number; at: number } | undefined;
  private lastError: string | undefined;
  private waiting: string | undefined;
  /** The epoch found quiet, and since when (performance.now() ms). */
  private quiet: { epoch: number; since: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<number> | undefined;
  private stopping = false;

  constructor(
    private readonly membership: TransferMembership,
    transport: Transport,
    private readonly ae: AntiEntropy,
    private readonly o: RangeCleanupOptions,
  ) {
    this.calls = new ReplicaCalls(transport, o.timeoutMs, new BadReplies());
    this.delayMs = o.delayMs ?? DEFAULT_CLEANUP_DELAY_MS;
    this.intervalMs = o.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  status(): CleanupStatus {
    return {
      ...this.counters, cleanEpoch: this.cleanEpoch,
      ...(this.waiting === undefined ? {} : { waiting: this.waiting }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }

  /** Looks for work every intervalMs (in the background). */
  start(): void {
    if (this.timer !== undefined) return;
    this.stopping = false;
    this.timer = setInterval(() => {
      this.pass ??= this.runOnce().finally(() => { this.pass = undefined; });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops looking; resolves once a pass in progress has ended (at its next step). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.pass;
  }

  /**
   * One pass: if the cluster has been quiet for delayMs under the ring in force (`now`: skip
   * that wait, never the quiet itself), hands off and deletes every range this node's shards
   * hold but do not replicate. Resolves with the ranges deleted; never rejects.
   */
  async runOnce(now = false): Promise<number> {
    const ring = this.membership.ring;
    if (ring === undefined) return 0;
    this.waiting = this.notQuiet(ring, now);
    if (this.waiting !== undefined) return 0;
    const spell = this.quiet!.since;
    if (!now && this.clean?.since === spell && performance.now() - this.clean.at < RECHECK_MS) return 0;
    const n = ring.listLength(this.o.n);
    let dropped = 0;
    let failed = false;
    for (const member of this.o.localMembers()) {
      if (ring.member(member) === undefined) continue; // a retiring shard: emptied by empty()
      for (let p = 0; p < ring.q && !this.stopping; p++) {
        if (ring.listOf(p, n).includes(member)) continue;
        const outcome = await this.handOffRange(member, ring, p);
        if (outcome !== 'none') dropped++;
        if (outcome === 'left' || outcome === 'failed') failed = true;
        if (this.membership.ring !== ring) return dropped; // a new ring: its own pass
      }
    }
    if (!failed && !this.stopping) {
      this.cleanEpoch = ring.epoch;
      this.clean = { since: spell, at: performance.now() };
    }
    return dropped;
  }

  /**
   * Hands off and deletes everything `member` holds: a shard of this node that left the ring
   * (the node runs fewer shards), whose replica ranges were streamed away but whose copies
   * are still on its disk, with any write it took as a stand-in. Needs the cluster quiet, not
   * the delay. Resolves true once it holds nothing; never rejects.
   */
  async empty(member: string): Promise<boolean> {
    const ring = this.membership.ring;
    if (ring === undefined || ring.member(member) !== undefined || this.unsettled(ring) !== undefined) return false;
    let empty = true;
    for (let p = 0; p < ring.q && !this.stopping; p++) {
      const outcome = await this.handOffRange(member, ring, p);
      if (outcome === 'left' || outcome === 'failed') empty = false;
      if (this.membership.ring !== ring) return false;
    }
    return empty && !this.stopping;
  }

  /** Hands off and deletes partition p's range of `member` if it holds any: what is left of it. */
  private async handOffRange(member: string, ring: Ring, p: number): Promise<'none' | 'emptied' | 'left' | 'failed'> {
    try {
      if (!await this.holds(member, ring, p)) return 'none';
      const { dropped } = await this.ae.handOff(p, member);
      this.counters.rangesDropped++;
      this.counters.objectsDropped += dropped;
      return await this.holds(member, ring, p) ? 'left' : 'emptied'; // left: written since the exchange, next time
    } catch (err) {
      this.counters.failures++;
      this.lastError = `partition ${p} on ${member}: ${(err as Error).message}`;
      return 'failed';
    }
  }

  /** Whether `member` holds any object of partition p (a TREE probe that stops at one). */
  private async holds(member: string, ring: Ring, p: number): Promise<boolean> {
    const { from, to } = ring.partitionRange(p);
    const probe = await this.calls.tree(member, from, to, 0, 1);
    return probe.entries > 0;
  }

  /** Why the cluster is not quiet enough to clean up under `ring`, or undefined. */
  private notQuiet(ring: Ring, now: boolean): string | undefined {
    const why = this.unsettled(ring);
    if (why !== undefined) {
      this.quiet = undefined;
      return why;
    }
    const at = performance.now();
    if (this.quiet?.epoch !== ring.epoch) this.quiet = { epoch: ring.epoch, since: at };
    if (!now && at - this.quiet.since < this.delayMs) return `quiet under ring epoch ${ring.epoch} for ${Math.round((at - this.quiet.since) / 1000)} s of ${this.delayMs / 1000} s`;
    return undefined;
  }

  private unsettled(ring: Ring): string | undefined {
    if (this.o.transfersPending() > 0) return `${this.o.transfersPending()} transfer(s) of this node pending`;
    const m = this.membership;
    for (const node of nodesOfRing(ring, m.records())) {
      if (node === this.o.self) continue;
      const r = m.record(node);
      if (r === undefined) return `node ${node} not heard of yet`;
      if (m.liveness(node) === 'down') continue;
      if (m.liveness(node) !== 'alive') return `node ${node} is ${m.liveness(node)}`;
      if (r.ringEpoch !== ring.epoch) return `node ${node} reports ring epoch ${r.ringEpoch}, not ${ring.epoch}`;
      if (r.transfers > 0) return `node ${node} has ${r.transfers} transfer(s) pending`;
      if (r.status !== 'up') return `node ${node} is ${r.status}`;
    }
    return undefined;
  }
}
